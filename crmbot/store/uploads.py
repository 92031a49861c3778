"""Files sent to the chat for import: kept while their member decides on the preview, taken
once (the row is the claim: of two presses racing, one gets the file), gone after a day; and a
trial run of an import that leaves nothing behind but what came before it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import delete, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models

KEPT_FOR = timedelta(days=1)
P = models.PendingUpload


async def keep(session: AsyncSession, team_id: int, member_id: int, filename: str, content: bytes, now: datetime) -> int:
    """Keep a file for its member's decision; files left undecided for a day are dropped here."""
    await session.execute(delete(P).where(P.created_at < now - KEPT_FOR))
    upload = P(team_id=team_id, member_id=member_id, filename=filename[:255], content=content, created_at=now)
    session.add(upload)
    await session.flush()
    return upload.id


async def take(session: AsyncSession, team_id: int, member_id: int, upload_id: int, now: datetime) -> tuple[str, bytes] | None:
    """The member's kept file (name, content), removed as it is taken; None when it is gone
    (taken already, cancelled, stale, or never theirs)."""
    taken = await session.execute(
        delete(P).where(P.id == upload_id, P.team_id == team_id, P.member_id == member_id, P.created_at >= now - KEPT_FOR)
        .returning(P.filename, P.content))
    row = taken.first()
    return (row[0], row[1]) if row is not None else None


@contextlib.asynccontextmanager
async def trial(session: AsyncSession) -> AsyncIterator[None]:
    """Run something whose writes must not stay (an import's preview): rolled back to here at
    the end, whatever happens; what the transaction did before stays."""
    savepoint = await session.begin_nested()
    try:
        yield
    finally:
        await savepoint.rollback()
        # what the trial changed (the team's revision) is expired by the rollback: read again
        # now, since an async session cannot load it later on first touch
        for row in list(session.sync_session.identity_map.values()):
            if inspect(row).expired_attributes:
                await session.refresh(row)
