"""Customer queries. Fuzzy look-up lives in `search`; this module is exact matches and lists."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models
from crmbot.text import phone_key


def _live(team_id: int):
    return (models.Customer.team_id == team_id, models.Customer.deleted_at.is_(None))


async def get(session: AsyncSession, team_id: int, customer_id: int) -> models.Customer | None:
    return await session.scalar(select(models.Customer).where(models.Customer.id == customer_id, *_live(team_id)))


async def changed_since(session: AsyncSession, team_id: int, rev: int) -> list[models.Customer]:
    """Every customer row (deleted ones too) changed after `rev`: what the index must re-read."""
    return list(
        await session.scalars(
            select(models.Customer).where(models.Customer.team_id == team_id, models.Customer.rev > rev)
        )
    )


async def by_name(session: AsyncSession, team_id: int, name: str) -> models.Customer | None:
    return await session.scalar(
        select(models.Customer).where(func.lower(models.Customer.name) == name.lower(), *_live(team_id)).limit(1)
    )


async def count(session: AsyncSession, team_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(models.Customer).where(*_live(team_id))) or 0


async def all_live(session: AsyncSession, team_id: int) -> list[models.Customer]:
    return list(await session.scalars(select(models.Customer).where(*_live(team_id)).order_by(models.Customer.id)))


def has_email(customer: models.Customer, email: str) -> bool:
    return email.lower() in (e.lower() for e in customer.emails or [])


def has_phone(customer: models.Customer, phone: str) -> bool:
    key = phone_key(phone)
    return bool(key) and any(phone_key(p) == key for p in customer.phones or [])
