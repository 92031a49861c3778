"""What the analysis of a team's pipeline reads: deals with their stage history, the last contact
with each customer, old open complaints. Exact queries, scoped to the team; the arithmetic is
in `crmbot.insights`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models as M


async def deals(session: AsyncSession, team_id: int, owner_id: int | None = None) -> list[M.Deal]:
    query = select(M.Deal).where(M.Deal.team_id == team_id, M.Deal.deleted_at.is_(None))
    if owner_id is not None:
        query = query.where(M.Deal.owner_id == owner_id)
    return list(await session.scalars(query.order_by(M.Deal.id)))


async def stage_changes(session: AsyncSession, team_id: int, deal_ids: set[int]) -> dict[int, list[M.DealStageChange]]:
    """Each deal's stage history, oldest first."""
    if not deal_ids:
        return {}
    rows = await session.scalars(
        select(M.DealStageChange).where(M.DealStageChange.team_id == team_id, M.DealStageChange.deal_id.in_(deal_ids))
        .order_by(M.DealStageChange.deal_id, M.DealStageChange.changed_at, M.DealStageChange.id))
    history: dict[int, list[M.DealStageChange]] = {}
    for row in rows:
        history.setdefault(row.deal_id, []).append(row)
    return history


async def last_contact(session: AsyncSession, team_id: int) -> dict[int, datetime]:
    """customer id -> when they were last called, written to or met."""
    rows = await session.execute(
        select(M.Interaction.customer_id, func.max(M.Interaction.happened_at))
        .where(M.Interaction.team_id == team_id).group_by(M.Interaction.customer_id))
    return {customer_id: at for customer_id, at in rows}


async def live_customers(session: AsyncSession, team_id: int, owner_id: int | None = None) -> list[M.Customer]:
    query = select(M.Customer).where(M.Customer.team_id == team_id, M.Customer.deleted_at.is_(None))
    if owner_id is not None:
        query = query.where(M.Customer.owner_id == owner_id)
    return list(await session.scalars(query.order_by(M.Customer.id)))
