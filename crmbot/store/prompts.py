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
    member's newest question still open was asked, a free-text one or one with buttons (None
    when none is), so a message needs no statement of its own to learn that nothing was asked
    (most messages)."""
    member = cast(member_id, String)
    return (select(func.max(C.created_at))
            .where(C.set_id.in_([literal("prompt:") + member, literal("asked:") + member]), C.used_at.is_(None))
            .scalar_subquery())


async def ask(session: AsyncSession, member: models.Member, intent: str, slots: dict[str, Any], now: datetime) -> None:
    """Open a question for `member`: their next message runs `intent` with these (JSON) slots.
    An earlier open question of theirs is dropped: only the last one asked is answered."""
    await drop(session, member.id, now)
    session.add(C(token=secrets.token_urlsafe(12), set_id=_set(member.id), team_id=member.team_id, member_id=member.id,
                  intent=intent, slots=slots, label="", created_at=now))
    await session.flush()


async def peek(session: AsyncSession, member: models.Member, now: datetime, lasts: timedelta) -> models.Choice | None:
    """The member's open question asked within `lasts`, left open."""
    return await session.scalar(
        select(C).where(C.set_id == _set(member.id), C.team_id == member.team_id, C.used_at.is_(None), C.created_at > now - lasts)
        .order_by(C.created_at.desc()).limit(1))


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


# -- questions asked with buttons ----------------------------------------------------------------
# A set of buttons that offers "cancel" is a question. It is noted under `asked:<member id>`
# (found by the indexed set id, as a question above is), so the member's next typed message
# closes it: its buttons are spent under `closed:<set>`, and a press on one of them is told the
# question was closed, not that it was already done.

CLOSED = "x:"


def _asked(member_id: int) -> str:
    return f"asked:{member_id}"


def note_question(session: AsyncSession, member: models.Member, set_id: str, now: datetime) -> None:
    """Remember that the button set `set_id` asks `member` a question."""
    session.add(C(token=secrets.token_urlsafe(12), set_id=_asked(member.id), team_id=member.team_id, member_id=member.id,
                  intent="question", slots={"set": set_id}, label="", created_at=now))


async def close_questions(session: AsyncSession, member: models.Member, now: datetime) -> int:
    """Close the member's open questions (they typed something else): their unpressed buttons
    are spent as closed. How many buttons were closed."""
    asked = list(await session.scalars(select(C).where(C.set_id == _asked(member.id), C.team_id == member.team_id,
                                                        C.used_at.is_(None))))
    closed = 0
    for row in asked:
        set_id = str((row.slots or {}).get("set", ""))
        if set_id:
            done = await session.execute(
                update(C).where(C.set_id == set_id, C.team_id == member.team_id, C.used_at.is_(None))
                .values(used_at=now, set_id=CLOSED + set_id).execution_options(synchronize_session=False))
            closed += done.rowcount or 0
    if asked:
        await session.execute(update(C).where(C.set_id == _asked(member.id), C.used_at.is_(None)).values(used_at=now)
                              .execution_options(synchronize_session=False))
    return closed


async def button_spent(session: AsyncSession, member: models.Member, token: str) -> bool:
    """Whether the member's button `token` was pressed or closed (or is not theirs)."""
    row = await session.get(C, token) if token else None
    return row is None or row.member_id != member.id or row.used_at is not None


def was_closed(choice: models.Choice) -> bool:
    """Whether a spent button was closed with its question rather than pressed."""
    return choice.set_id.startswith(CLOSED)
