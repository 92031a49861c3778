"""Finding the deal a change is about: a team's live deals (open ones first), by customer."""

from __future__ import annotations

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models

M = models


async def live_deals(session: AsyncSession, team_id: int, customer_id: int | None = None, *, limit: int = 2000) -> list[M.Deal]:
    """Deals not deleted, open ones first, the latest changed first."""
    query = select(M.Deal).where(M.Deal.team_id == team_id, M.Deal.deleted_at.is_(None))
    if customer_id is not None:
        query = query.where(M.Deal.customer_id == customer_id)
    still_open = case((M.Deal.stage.in_(M.OPEN_STAGES), 0), else_=1)
    return list(await session.scalars(query.order_by(still_open, M.Deal.updated_at.desc(), M.Deal.id.desc()).limit(limit)))
