"""The INSERTs every logged call makes, run on SQLite straight through the driver.

SQLAlchemy's Core execution of one INSERT (the greenlet hop, the parameters, each value through
its type, the result object) cost ten times the statement itself: ~60-100 µs against ~5 µs,
three times a logged call. Here the statement is compiled once per table and set of columns,
each value goes through the same bind processor SQLAlchemy would apply (so what is stored is
byte for byte the same), and the driver runs it on the session's own connection, inside the
message's transaction. PostgreSQL keeps SQLAlchemy's path (its drivers are not ours to call).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, exc, insert
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class _Compiled:
    sql: str
    keys: tuple[str, ...]  # the columns in the statement's parameter order
    processors: tuple[Callable[[Any], Any] | None, ...]


_COMPILED: dict[tuple[Table, tuple[str, ...]], _Compiled] = {}


def _compiled(connection: AsyncConnection, table: Table, keys: tuple[str, ...]) -> _Compiled:
    found = _COMPILED.get((table, keys))
    if found is None:
        dialect = connection.dialect
        compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup)
        if set(order) != set(keys):  # defaults or expressions of its own: not a plain INSERT
            raise ValueError(f"INSERT into {table.name} is not one parameter per column")
        processors = tuple(table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in order)
        found = _COMPILED[(table, keys)] = _Compiled(str(compiled), order, processors)
    return found


def _parameters(compiled: _Compiled, values: dict[str, Any]) -> tuple:
    # None too goes through its processor, as in SQLAlchemy: a JSON column stores it as 'null'
    return tuple(value if process is None else process(value)
                 for value, process in zip(map(values.__getitem__, compiled.keys), compiled.processors))


def applies(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "sqlite"


@contextlib.contextmanager
def _as_sqlalchemy_raises(sql: str, parameters: Any) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them (IntegrityError, OperationalError, ... with
    the sqlite3 error as `orig`): what `Bot.handle` retries on and `faults.is_transient` reads."""
    try:
        yield
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(sql, parameters, error, sqlite3.Error) from error


async def insert_one(connection: AsyncConnection, table: Table, values: dict[str, Any]) -> int:
    """INSERT one row of `values` (every column given but the key); its new id."""
    compiled = _compiled(connection, table, tuple(values))
    driver = (await connection.get_raw_connection()).driver_connection
    parameters = _parameters(compiled, values)
    with _as_sqlalchemy_raises(compiled.sql, parameters):
        async with driver.cursor() as cursor:
            await cursor.execute(compiled.sql, parameters)
            return cursor.lastrowid


async def insert_many(connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows that all give the same columns, in one executemany."""
    if not rows:
        return
    compiled = _compiled(connection, table, tuple(rows[0]))
    driver = (await connection.get_raw_connection()).driver_connection
    parameters = [_parameters(compiled, row) for row in rows]
    with _as_sqlalchemy_raises(compiled.sql, parameters):
        async with driver.cursor() as cursor:
            await cursor.executemany(compiled.sql, parameters)
