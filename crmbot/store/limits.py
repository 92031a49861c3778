"""Counting messages per sender in the database, so every worker sees one count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, upsert

W = models.RateWindow


async def hit(session: AsyncSession, key: str, now: datetime) -> int:
    """Count one message of `key` in the current minute; returns the minute's count so far.
    One atomic upsert: two workers counting at once both add, neither overwrites. On PostgreSQL
    the row stays locked until the message's transaction ends, so one sender's messages are
    handled one at a time across workers."""
    minute = int(now.timestamp() // 60)
    statement = (
        upsert.insert(session, W)
        .values(key=key[:200], minute=minute, hits=1)
        .on_conflict_do_update(index_elements=[W.key], set_={"hits": case((W.minute == minute, W.hits + 1), else_=1),
                                                             "minute": minute})
        .returning(W.hits)
    )
    return (await session.execute(statement)).scalar_one()
