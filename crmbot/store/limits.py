"""Counting messages per sender in the database, so every worker sees one count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models
from crmbot.store.db import flushed_connection

W = models.RateWindow
T = W.__table__


def _hit(dialect) -> object:
    """The upsert of one hit, built once per engine kind: every message runs it, and building
    it cost more than running it."""
    statement = dialect.insert(T).values(key=bindparam("key"), minute=bindparam("minute"), hits=1)
    minute = statement.excluded.minute
    return statement.on_conflict_do_update(
        index_elements=[T.c.key], set_={"hits": case((T.c.minute == minute, T.c.hits + 1), else_=1), "minute": minute}
    ).returning(T.c.hits)


_HIT = {"sqlite": _hit(sqlite), "postgresql": _hit(postgresql)}


async def hit(session: AsyncSession, key: str, now: datetime) -> int:
    """Count one message of `key` in the current minute; returns the minute's count so far.
    One atomic upsert: two workers counting at once both add, neither overwrites. On PostgreSQL
    the row stays locked until the message's transaction ends, so one sender's messages are
    handled one at a time across workers."""
    statement = _HIT[session.get_bind().dialect.name]
    # on the session's connection, past the ORM: every message runs it
    connection = await flushed_connection(session)
    return (await connection.execute(statement, {"key": key[:200], "minute": int(now.timestamp() // 60)})).scalar_one()
