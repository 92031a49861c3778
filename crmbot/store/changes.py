"""Audited writes: every change a member makes goes through here, so undo can reverse it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import audit, models, teams
from crmbot.store.audit import Actor


def _customer_of(row: models.Base) -> int | None:
    if isinstance(row, models.Customer):
        return row.id
    return getattr(row, "customer_id", None)


async def _after_customer_change(session: AsyncSession, row: models.Base) -> None:
    if isinstance(row, models.Customer):
        row.rev = await teams.bump_customer_rev(session, row.team_id)


async def create(session: AsyncSession, actor: Actor, now: datetime, row: models.Base) -> models.Base:
    session.add(row)
    await session.flush()
    await _after_customer_change(session, row)
    audit.record(session, actor, now, "create", row, None, customer_id=_customer_of(row))
    return row


async def create_all(session: AsyncSession, actor: Actor, now: datetime, rows: list[models.Base]) -> list[models.Base]:
    """`create` of several rows in one flush (one round of the ORM's bookkeeping, not one per
    row), audited in the order given, the entries written in one statement."""
    session.add_all(rows)
    await session.flush()
    for row in rows:
        await _after_customer_change(session, row)
    await audit.record_created(session, actor, now, rows, [_customer_of(row) for row in rows])
    return rows


async def update(session: AsyncSession, actor: Actor, now: datetime, row: models.Base, *, action: str = "update",
                 touch: bool = True, **changes: Any) -> models.Base:
    """Change a row's columns; `action` names the change in the audit trail ("merge"), and
    `touch=False` leaves `updated_at` as it was (a row moved, not worked on)."""
    before = audit.snapshot(row)
    for key, value in changes.items():
        setattr(row, key, value)
    if touch and hasattr(row, "updated_at"):
        row.updated_at = now
    await session.flush()
    await _after_customer_change(session, row)
    audit.record(session, actor, now, action, row, before, customer_id=_customer_of(row))
    return row


async def delete(session: AsyncSession, actor: Actor, now: datetime, row: models.Base) -> None:
    """Delete a row outright (one without `deleted_at`); undo brings it back with its id."""
    audit.record(session, actor, now, "delete", row, audit.snapshot(row), customer_id=_customer_of(row))
    await session.delete(row)
    await session.flush()
