"""Customer queries. Fuzzy look-up lives in `search`; this module is exact matches and lists."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models


def _live(team_id: int):
    return (models.Customer.team_id == team_id, models.Customer.deleted_at.is_(None))


async def get(session: AsyncSession, team_id: int, customer_id: int) -> models.Customer | None:
    return await session.scalar(select(models.Customer).where(models.Customer.id == customer_id, *_live(team_id)))


async def count(session: AsyncSession, team_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(models.Customer).where(*_live(team_id))) or 0


async def all_live(session: AsyncSession, team_id: int) -> list[models.Customer]:
    return list(await session.scalars(select(models.Customer).where(*_live(team_id)).order_by(models.Customer.id)))
