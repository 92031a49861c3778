"""A logged call's INSERTs through SQLite's driver (crmbot/store/driver_inserts.py) store what
SQLAlchemy's own INSERT stores, byte for byte, and fail as SQLAlchemy's would."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy
from sqlalchemy import insert, select

from crmbot.app import App
from crmbot.store import driver_inserts, models
from crmbot.store.faults import is_transient
from tests.conftest import NOW


@pytest.fixture
def db_url(sqlite_db_url) -> str:
    return sqlite_db_url


async def _both_ways(app: App, table: sqlalchemy.Table, rows: list[dict]) -> tuple[list[tuple], list[tuple]]:
    """Each row written through the driver and through SQLAlchemy, then read back as SQLite
    quotes each stored value (its storage class shows: 1 and '1' differ)."""
    quoted = ", ".join(f"quote({c.name})" for c in table.columns if not c.primary_key)
    async with app.db.sessions() as session, session.begin():
        connection = await session.connection()
        assert driver_inserts.applies(connection)
        ours, theirs = [], []
        for row in rows:
            ours.append(await driver_inserts.insert_one(connection, table, row))
            theirs.append((await connection.execute(insert(table), row)).inserted_primary_key[0])
        many_from = (await connection.exec_driver_sql(f"SELECT max(id) FROM {table.name}")).scalar()
        await driver_inserts.insert_many(connection, table, rows)
        read = f"SELECT {quoted} FROM {table.name} WHERE id = ?"
        stored = [(await connection.exec_driver_sql(read, (i,))).one() for i in ours]
        expected = [(await connection.exec_driver_sql(read, (i,))).one() for i in theirs]
        many = [(await connection.exec_driver_sql(read, (many_from + 1 + n,))).one() for n in range(len(rows))]
        assert many == expected
        return stored, expected


async def test_calls_follow_ups_and_audit_entries_are_stored_as_sqlalchemy_stores_them(demo):
    async with demo.db.sessions() as session:
        customer = await session.scalar(select(models.Customer).order_by(models.Customer.id))
    base = {"team_id": customer.team_id, "customer_id": customer.id, "member_id": customer.owner_id}
    prague = timezone(timedelta(hours=1))
    calls = [{**base, "kind": "call", "summary": "Zavolal Urš Žegročič 📞, 'quote' \"by\" friday", "happened_at": NOW,
              "created_at": NOW.astimezone(prague), "deleted_at": None},
             {**base, "kind": "meeting", "summary": "", "happened_at": NOW + timedelta(microseconds=7),
              "created_at": NOW, "deleted_at": NOW + timedelta(days=1)}]
    stored, expected = await _both_ways(demo, models.Interaction.__table__, calls)
    assert stored == expected

    follow_up = {**base, "due_at": NOW + timedelta(days=2), "note": "ring back", "state": "pending", "created_at": NOW,
                 "deleted_at": None, "claimed_by": None, "claim_expires_at": None, "delivered_at": None, "attempts": 0,
                 "next_attempt_at": None, "last_error": None, "late": False, "every_year": None, "fact_id": None,
                 "deal_id": None}
    stored, expected = await _both_ways(demo, models.FollowUp.__table__, [follow_up, {**follow_up, "late": True, "attempts": 3}])
    assert stored == expected

    entry = {"team_id": customer.team_id, "member_id": customer.owner_id, "platform": "console", "at": NOW,
             "group_id": "g", "action": "create", "entity": "interaction", "entity_id": 1, "customer_id": customer.id,
             "before": None, "after": {"summary": "Žegročič 📞", "at": NOW.isoformat(), "n": 1.5, "late": False}, "undone_at": None}
    stored, expected = await _both_ways(demo, models.AuditEntry.__table__, [entry, {**entry, "before": {"a": [1, None]}}])
    assert stored == expected
    assert stored[0][9] == "'null'"  # no "before": JSON null, as SQLAlchemy writes it, not SQL NULL


async def test_a_refused_insert_raises_what_sqlalchemy_raises(demo):
    row = {"team_id": 1, "customer_id": 10**9, "member_id": 10**9, "kind": "call", "summary": "", "happened_at": NOW,
           "created_at": NOW, "deleted_at": None}  # no such customer or member: the foreign keys refuse it
    async with demo.db.sessions() as session, session.begin():
        connection = await session.connection()
        with pytest.raises(sqlalchemy.exc.IntegrityError) as raised:
            await driver_inserts.insert_one(connection, models.Interaction.__table__, row)
        assert type(raised.value.orig).__module__ == "sqlite3" and not is_transient(raised.value)
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            await driver_inserts.insert_many(connection, models.Interaction.__table__, [row])


async def test_a_locked_file_is_a_transient_failure(demo, tmp_path):
    """Another process holding the writer past our patience: SQLAlchemy's OperationalError, which
    the core answers with `Transient` (the platform delivers the message again)."""
    import sqlite3

    path = demo.db.url.database
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        async with demo.db.sessions() as session:
            connection = await session.connection()
            (await connection.get_raw_connection()).driver_connection.patience = 0.05
            row = {"team_id": 1, "customer_id": None, "member_id": 1, "kind": "call", "summary": "", "happened_at": NOW,
                   "created_at": NOW, "deleted_at": None}
            with pytest.raises(sqlalchemy.exc.OperationalError) as raised:
                await driver_inserts.insert_one(connection, models.Interaction.__table__, row)
            assert is_transient(raised.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
