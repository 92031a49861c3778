"""Audited writes: every change a member makes goes through here, so undo can reverse it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from crmbot.store import audit, driver_inserts, models, teams
from crmbot.store.audit import Actor
from crmbot.store.db import flushed_connection


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


_PLAIN: dict[type, tuple | None] = {}


def _plain_insert(model: type[models.Base]) -> tuple | None:
    """For a model whose new rows need nothing of the ORM's flush (no relationships, an integer
    key the database gives, defaults that are plain values, not a customer, whose revision moves
    with it): its INSERT, built once, and (column key, default) of every other column. None for
    any other model."""
    if model in _PLAIN:
        return _PLAIN[model]
    mapper, table = model.__mapper__, model.__table__
    keys = list(table.primary_key.columns)
    plain = (model is not models.Customer and not mapper.relationships and len(keys) == 1
             and isinstance(keys[0].type, Integer) and keys[0].autoincrement in (True, "auto")
             and keys[0].default is None and keys[0].server_default is None
             and all(c.server_default is None and (c.default is None or c.default.is_scalar) for c in table.columns)
             and all(mapper.get_property_by_column(c).key == c.key for c in table.columns))
    found = None
    if plain:
        others = tuple((c.key, c.default.arg if c.default is not None else None)
                       for c in table.columns if not c.primary_key)
        found = (insert(table), keys[0].key, others)
    _PLAIN[model] = found
    return found


async def _insert_plain(session: AsyncSession, rows: list[models.Base]) -> None:
    """New rows written as plain INSERTs on the session's connection, then put in the session as
    if loaded from the database (clean, every column set): what a flush leaves, without the
    unit of work's bookkeeping. A column left unset or None gets its default, as in a flush."""
    connection = await flushed_connection(session)
    through_driver = driver_inserts.applies(connection)
    for row in rows:
        statement, key, others = _plain_insert(type(row))
        values, state = {}, row.__dict__
        for name, default in others:
            value = state.get(name)
            if value is None:
                value = default
                setattr(row, name, value)  # set even when None: nothing is left to load
            values[name] = value
        if through_driver:
            new_id = await driver_inserts.insert_one(connection, statement.table, values)
        else:
            new_id = (await connection.execute(statement, values)).inserted_primary_key[0]
        setattr(row, key, new_id)
        make_transient_to_detached(row)
    session.add_all(rows)


async def create_all(session: AsyncSession, actor: Actor, now: datetime, rows: list[models.Base]) -> list[models.Base]:
    """`create` of several rows, audited in the order given, the entries written in one
    statement. Rows of plain models (calls, follow-ups: the hot path of every logged call) are
    written as plain INSERTs in the order given; others in one flush (one round of the ORM's
    bookkeeping, not one per row)."""
    if all(_plain_insert(type(row)) is not None for row in rows):
        await _insert_plain(session, rows)
    else:
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
