"""Questions whose answer is the member's next message ("what was said on the call?").

A question is a `Choice` row like a button's, found by its set (`prompt:<member id>`) instead of
a token: at most one is open per member, the newest; it is taken once, by the same conditional
UPDATE that spends a button, and lapses after a while so an old question never swallows a
message typed much later.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models

C = models.Choice


def _set(member_id: int) -> str:
    return f"prompt:{member_id}"


def open_since(member_id) -> object:
    """A column for a query that reads the member (`member_id`: its id column): when the
    member's newest question still open was asked (None when none is), so a message needs no
    statement of its own to learn that nothing was asked (most messages)."""
    return (select(func.max(C.created_at)).where(C.set_id == literal("prompt:") + cast(member_id, String), C.used_at.is_(None))
            .scalar_subquery())


async def ask(session: AsyncSession, member: models.Member, intent: str, slots: dict[str, Any], now: datetime) -> None:
    """Open a question for `member`: their next message runs `intent` with these (JSON) slots.
    An earlier open question of theirs is dropped: only the last one asked is answered."""
    await drop(session, member.id, now)
    session.add(C(token=secrets.token_urlsafe(12), set_id=_set(member.id), team_id=member.team_id, member_id=member.id,
                  intent=intent, slots=slots, label="", created_at=now))
    await session.flush()


async def take(session: AsyncSession, member: models.Member, now: datetime, lasts: timedelta) -> models.Choice | None:
    """The member's open question asked within `lasts`, now answered (spent); None if there is none."""
    found = await session.scalar(
        select(C).where(C.set_id == _set(member.id), C.team_id == member.team_id, C.used_at.is_(None), C.created_at > now - lasts)
        .order_by(C.created_at.desc()).limit(1))
    if found is None:
        return None
    spent = await session.execute(update(C).where(C.token == found.token, C.used_at.is_(None)).values(used_at=now))
    return found if spent.rowcount else None


async def drop(session: AsyncSession, member_id: int, now: datetime) -> None:
    """Forget the member's open question (they cancelled, or asked something else)."""
    await session.execute(
        update(C).where(C.set_id == _set(member_id), C.used_at.is_(None)).values(used_at=now)
        .execution_options(synchronize_session=False))
