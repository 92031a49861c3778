"""A customer's personal profile (birthdays, anniversaries, family, hobbies, memberships) and the
follow-ups that come back every year on one of its days."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot import yearly
from crmbot.store import models

M = models


async def facts_of(session: AsyncSession, team_id: int, customer_id: int) -> list[M.CustomerFact]:
    """The customer's live profile, in the order it was told."""
    return list(await session.scalars(
        select(M.CustomerFact)
        .where(M.CustomerFact.team_id == team_id, M.CustomerFact.customer_id == customer_id, M.CustomerFact.deleted_at.is_(None))
        .order_by(M.CustomerFact.id)
    ))


async def get(session: AsyncSession, team_id: int, fact_id: int) -> M.CustomerFact | None:
    return await session.scalar(select(M.CustomerFact).where(
        M.CustomerFact.team_id == team_id, M.CustomerFact.id == fact_id, M.CustomerFact.deleted_at.is_(None)))


async def yearly_followups(session: AsyncSession, team_id: int, fact_id: int) -> list[M.FollowUp]:
    """The undelivered yearly reminders of one birthday or anniversary, every member's."""
    F = M.FollowUp
    return list(await session.scalars(
        select(F).where(F.team_id == team_id, F.fact_id == fact_id, F.every_year.is_not(None), F.state == "pending",
                        F.deleted_at.is_(None), F.delivered_at.is_(None)).order_by(F.id)
    ))


async def schedule_next_years(session: AsyncSession, ids: list[int] | set[int], now: datetime) -> list[M.FollowUp]:
    """For each of these follow-ups that comes back every year and has just been delivered (or
    given up on), the next year's, in its member's time zone; once only, however often the same
    one is delivered again after a snooze. A reminder of a day the profile no longer holds (the
    birthday was taken back) is not written again."""
    F = M.FollowUp
    if not ids:
        return []
    rows = list(await session.scalars(select(F).where(F.id.in_(list(ids)), F.every_year.is_not(None), F.deleted_at.is_(None))))
    made = []
    for row in rows:
        if row.fact_id is not None:
            fact = await get(session, row.team_id, row.fact_id)
            if fact is None or fact.month is None or fact.day is None:
                continue
        already = await session.scalar(select(F.id).where(
            F.team_id == row.team_id, F.member_id == row.member_id, F.every_year == row.every_year,
            F.customer_id.is_(None) if row.customer_id is None else F.customer_id == row.customer_id,
            F.state == "pending", F.deleted_at.is_(None), F.delivered_at.is_(None), F.due_at > row.due_at, F.id != row.id,
        ).limit(1))
        if already is not None:
            continue
        member = await session.get(M.Member, row.member_id)
        if member is None or not member.active:
            continue
        month, day = yearly.parse_anchor(row.every_year)
        following = F(
            team_id=row.team_id, customer_id=row.customer_id, member_id=row.member_id,
            due_at=yearly.following(month, day, row.due_at, now, member.timezone), note=row.note, state="pending",
            created_at=now, attempts=0, late=False, every_year=row.every_year, fact_id=row.fact_id,
        )
        session.add(following)
        made.append(following)
    await session.flush()
    return made
