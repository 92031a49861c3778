"""What the analysis of a team's pipeline reads: deals with their stage history, the last contact
with each customer, old open complaints. Exact queries, scoped to the team; the arithmetic is
in `crmbot.insights`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models as M, records


class DealFacts(NamedTuple):
    """What the analysis reads of a deal: plain values, so 50,000 of them load fast."""

    id: int
    customer_id: int
    owner_id: int
    title: str
    stage: str
    amount_minor: int | None
    currency: str | None
    expected_close: datetime | None
    lost_reason: str | None
    competitor: str | None
    created_at: datetime
    closed_at: datetime | None

    @property
    def amount(self) -> Decimal | None:
        return None if self.amount_minor is None else Decimal(self.amount_minor) / 100


class StageChange(NamedTuple):
    to_stage: str
    changed_at: datetime


async def deals(session: AsyncSession, team_id: int, owner_id: int | None = None) -> list[DealFacts]:
    query = select(*(getattr(M.Deal, name) for name in DealFacts._fields)).where(
        M.Deal.team_id == team_id, M.Deal.deleted_at.is_(None))
    if owner_id is not None:
        query = query.where(M.Deal.owner_id == owner_id)
    return [DealFacts(*row) for row in await session.execute(query.order_by(M.Deal.id))]


async def stage_changes(session: AsyncSession, team_id: int, deal_ids: set[int]) -> dict[int, list[StageChange]]:
    """Each deal's stage history, oldest first."""
    if not deal_ids:
        return {}
    rows = await session.execute(
        select(M.DealStageChange.deal_id, M.DealStageChange.to_stage, M.DealStageChange.changed_at)
        .where(M.DealStageChange.team_id == team_id)
        .order_by(M.DealStageChange.deal_id, M.DealStageChange.changed_at, M.DealStageChange.id))
    history: dict[int, list[StageChange]] = {}
    for deal_id, to_stage, changed_at in rows:
        if deal_id in deal_ids:
            history.setdefault(deal_id, []).append(StageChange(to_stage, changed_at))
    return history


async def customer_statuses(session: AsyncSession, team_id: int, owner_id: int | None = None) -> dict[str, int]:
    query = select(M.Customer.status, func.count()).where(M.Customer.team_id == team_id, M.Customer.deleted_at.is_(None))
    if owner_id is not None:
        query = query.where(M.Customer.owner_id == owner_id)
    return dict((await session.execute(query.group_by(M.Customer.status))).all())


async def last_contact(session: AsyncSession, team_id: int) -> dict[int, datetime]:
    """customer id -> when they were last called, written to or met."""
    rows = await session.execute(
        select(M.Interaction.customer_id, func.max(M.Interaction.happened_at))
        .where(M.Interaction.team_id == team_id).group_by(M.Interaction.customer_id))
    return {customer_id: at for customer_id, at in rows}


async def quiet_customers(session: AsyncSession, team_id: int, before: datetime, owner_id: int | None,
                          limit: int) -> tuple[list[tuple[M.Customer, datetime | None]], int]:
    """Customers who matter (status customer, or an open deal) with no contact since `before`,
    longest quiet first, at most `limit` of them, and how many there are in all."""
    last = (select(M.Interaction.customer_id, func.max(M.Interaction.happened_at).label("at"))
            .where(M.Interaction.team_id == team_id).group_by(M.Interaction.customer_id).subquery())
    dealing = select(M.Deal.customer_id).where(M.Deal.team_id == team_id, M.Deal.deleted_at.is_(None),
                                                M.Deal.stage.in_(M.OPEN_STAGES))
    quiet_since = func.coalesce(last.c.at, M.Customer.created_at)
    where = [M.Customer.team_id == team_id, M.Customer.deleted_at.is_(None), quiet_since < before,
             (M.Customer.status == "customer") | M.Customer.id.in_(dealing)]
    if owner_id is not None:
        where.append(M.Customer.owner_id == owner_id)
    joined = select(M.Customer, last.c.at).outerjoin(last, last.c.customer_id == M.Customer.id).where(*where)
    rows = (await session.execute(joined.order_by(quiet_since, M.Customer.id).limit(limit))).all()
    total = await session.scalar(select(func.count()).select_from(joined.subquery()))
    return [(customer, at) for customer, at in rows], total or 0


async def stalled_deals(session: AsyncSession, team_id: int, before: datetime, owner_id: int | None,
                        limit: int) -> tuple[list[tuple[M.Deal, datetime]], int]:
    """Open deals whose stage has not changed since `before`, longest stalled first, at most
    `limit`, and how many there are in all."""
    moved = (select(M.DealStageChange.deal_id, func.max(M.DealStageChange.changed_at).label("at"))
             .where(M.DealStageChange.team_id == team_id).group_by(M.DealStageChange.deal_id).subquery())
    since = func.coalesce(moved.c.at, M.Deal.created_at)
    where = [M.Deal.team_id == team_id, M.Deal.deleted_at.is_(None), M.Deal.stage.in_(M.OPEN_STAGES), since < before]
    if owner_id is not None:
        where.append(M.Deal.owner_id == owner_id)
    joined = select(M.Deal, since.label("since")).outerjoin(moved, moved.c.deal_id == M.Deal.id).where(*where)
    rows = (await session.execute(joined.order_by(since, M.Deal.id).limit(limit))).all()
    total = await session.scalar(select(func.count()).select_from(joined.subquery()))
    return [(deal, at) for deal, at in rows], total or 0


async def old_complaints(session: AsyncSession, team_id: int, before: datetime, owner_id: int | None,
                         limit: int) -> tuple[list[M.Complaint], int]:
    """Open complaints made before `before`, oldest first, at most `limit`, and how many there
    are in all. A rep's (`owner_id`) are those they handle: assigned to them, or assigned to
    nobody and about a customer of theirs."""
    where = [M.Complaint.team_id == team_id, M.Complaint.deleted_at.is_(None), M.Complaint.status == "open",
             M.Complaint.created_at < before]
    query = select(M.Complaint)
    if owner_id is not None:
        where.append(records.handled_by(team_id, owner_id))
    rows = list(await session.scalars(query.where(*where).order_by(M.Complaint.created_at, M.Complaint.id).limit(limit)))
    total = await session.scalar(select(func.count()).select_from(M.Complaint).where(*where))
    return rows, total or 0
