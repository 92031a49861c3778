"""Customer queries. Fuzzy look-up lives in `search`; this module is exact matches and lists."""

from __future__ import annotations

import json

from sqlalchemy import String, bindparam, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models


def _live(team_id: int):
    return (models.Customer.team_id == team_id, models.Customer.deleted_at.is_(None))


_GET = select(models.Customer).where(models.Customer.id == bindparam("customer_id"),
                                     models.Customer.team_id == bindparam("team_id"), models.Customer.deleted_at.is_(None))


async def get(session: AsyncSession, team_id: int, customer_id: int) -> models.Customer | None:
    # built once: most messages read their customer, and building the query cost more than running it
    return await session.scalar(_GET, {"customer_id": customer_id, "team_id": team_id})


async def count(session: AsyncSession, team_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(models.Customer).where(*_live(team_id))) or 0


async def all_live(session: AsyncSession, team_id: int) -> list[models.Customer]:
    return list(await session.scalars(select(models.Customer).where(*_live(team_id)).order_by(models.Customer.id)))


async def with_emails(session: AsyncSession, team_id: int, addresses: set[str]) -> dict[str, list[models.Customer]]:
    """The team's live customers holding each address (compared in lower case)."""
    if not addresses:
        return {}
    # the JSON list as text narrows the rows in SQL on both engines; the exact test is below
    text = func.lower(cast(models.Customer.emails, String))
    # each address as the JSON column holds it ("info@pekařství.cz" is stored as "pek\u0159…")
    needles = {json.dumps(address)[1:-1].lower() for address in addresses}
    rows = await session.scalars(select(models.Customer).where(
        *_live(team_id), or_(*(text.contains(needle, autoescape=True) for needle in needles))))
    found: dict[str, list[models.Customer]] = {}
    for row in rows:
        held = {str(e).lower() for e in row.emails or ()}
        for address in addresses & held:
            found.setdefault(address, []).append(row)
    return found
