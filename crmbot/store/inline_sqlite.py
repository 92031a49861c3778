"""SQLite for the async engine without a thread hop per call.

aiosqlite runs every call of every statement (make a cursor, execute, fetch, close) in a thread
of its own and hands the result back through the event loop: four round trips per statement,
each a thread switch and a loop wake-up. A message of a dozen statements paid more for those
hops than for everything else it did. SQLite is a library in this process and its statements
take microseconds, so here they run where they are called, on the event loop, with three
guards so the loop is never held for long:

* **Locks:** SQLite's own busy handler would sleep on the event loop while another writer
  (another process, or another transaction of this one) holds the file, and a transaction of
  this process could then never finish to let go. So SQLite is told not to wait
  (`busy_timeout=0`), and a statement refused for a lock is tried again after an asyncio
  sleep, backing off as SQLite's handler does, until the patience runs out (what
  `PRAGMA busy_timeout` or the connection's `timeout` asked for); then the same
  "database is locked" error as before.
* **Many rows:** a result is read here up to `INLINE_ROWS` rows; the rest is read in a worker
  thread. Streamed results (`session.stream`, the index build) are fetched in a worker thread.
* **Slow reads:** a SELECT still running after `INLINE_SECONDS` is stopped (SQLite's progress
  handler) and run again in a worker thread. Only reads are moved: a write stopped half-way
  could roll back its transaction.

Used through `open_database` for every SQLite URL: it is still SQLAlchemy's aiosqlite dialect,
with this module's connection in place of aiosqlite's (`async_creator`).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

INLINE_ROWS = 500
INLINE_SECONDS = 0.02
PROGRESS_STEPS = 20_000  # SQLite VM steps between looks at the clock (a few hundred µs)
RETRIED = {5, 261}  # SQLITE_BUSY, SQLITE_BUSY_RECOVERY; BUSY_SNAPSHOT (517) can't pass by waiting
_BUSY_PRAGMA = re.compile(r"^\s*PRAGMA\s+busy_timeout\s*=\s*(\d+)\s*;?\s*$", re.IGNORECASE)
_READ = re.compile(r"^\s*SELECT\b", re.IGNORECASE)


class _Interrupted(Exception):
    """A read ran past its time on the event loop: run it again in a thread."""


class Cursor:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor = connection._conn.cursor()

    # -- what SQLAlchemy's adapter reads -----------------------------------------------------------

    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- statements ------------------------------------------------------------------------------

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        pragma = _BUSY_PRAGMA.match(sql)
        if pragma:  # the patience is ours to keep: SQLite itself must not wait on the loop
            self._connection.patience = int(pragma.group(1)) / 1000.0
            sql, parameters = "PRAGMA busy_timeout=0", ()
        if _READ.match(sql):
            try:
                await self._connection._retrying(self._read_inline, sql, parameters)
            except _Interrupted:
                await self._connection._retrying(self._cursor.execute, sql, parameters, thread=True)
        else:
            await self._connection._retrying(self._cursor.execute, sql, parameters)
        return self

    def _read_inline(self, sql: str, parameters: Any) -> None:
        conn = self._connection._conn
        deadline = time.perf_counter() + INLINE_SECONDS
        conn.set_progress_handler(lambda: time.perf_counter() > deadline, PROGRESS_STEPS)
        try:
            self._cursor.execute(sql, parameters)
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) == 9 or str(error) == "interrupted":  # SQLITE_INTERRUPT
                raise _Interrupted() from error
            raise
        finally:
            conn.set_progress_handler(None, 0)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        parameters = list(parameters)  # a generator could not be run again after a lock
        await self._connection._retrying(self._cursor.executemany, sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        rows = self._cursor.fetchmany(INLINE_ROWS)
        if len(rows) == INLINE_ROWS:
            rows += await asyncio.to_thread(self._cursor.fetchall)
        return rows

    async def fetchone(self) -> Any:
        return await asyncio.to_thread(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return await asyncio.to_thread(self._cursor.fetchmany, size or self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()

    def __aiter__(self):
        return self._rows()

    async def _rows(self):
        while batch := await self.fetchmany(64):
            for row in batch:
                yield row


class _CursorOpening:
    """What `connection.cursor()` returns: awaitable and an async context manager, as aiosqlite's."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor: Cursor | None = None

    def __await__(self):
        return self._open().__await__()

    async def _open(self) -> Cursor:
        self._cursor = Cursor(self._connection)
        return self._cursor

    async def __aenter__(self) -> Cursor:
        return await self._open()

    async def __aexit__(self, *exc_info: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class _Immediately:
    """Stands in for aiosqlite's queue to its thread: SQLAlchemy sets the isolation level
    through it. Runs the function at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(error)


class Connection:
    """The part of aiosqlite's Connection that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, conn: sqlite3.Connection, patience: float) -> None:
        self._connection: sqlite3.Connection | None = conn
        self._conn = conn
        self._tx = _Immediately()
        self.patience = patience

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _CursorOpening:
        return _CursorOpening(self)

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        cursor = Cursor(self)
        return await cursor.execute(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Any = ()) -> list[Any]:
        """Every row of a query, read in a worker thread: what a caller wanting many rows asks
        for (as of aiosqlite, where it is one call to its thread)."""
        def read() -> list[Any]:
            cursor = self._conn.cursor()
            try:
                return cursor.execute(sql, parameters or ()).fetchall()
            finally:
                cursor.close()

        return await self._retrying(read, thread=True)

    async def commit(self) -> None:
        await self._retrying(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def _retrying(self, call: Callable[..., Any], *args: Any, thread: bool = False) -> Any:
        """`call(*args)` on the loop (or in a worker thread); again after a short sleep while a
        lock refuses it."""
        waited, delay = None, 0.001
        loop = asyncio.get_running_loop()
        while True:
            try:
                return await asyncio.to_thread(call, *args) if thread else call(*args)
            except sqlite3.OperationalError as error:
                if getattr(error, "sqlite_errorcode", None) not in RETRIED:
                    raise
                now = loop.time()
                waited = now if waited is None else waited
                left = waited + self.patience - now
                if left <= 0:
                    raise
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 0.1)



def creator(database: str, **options: Any) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy: a connection to `database` with sqlite3's `options`
    (as SQLAlchemy's own dialect would make them), its lock patience taken from `timeout`."""
    patience = float(options.pop("timeout", 5.0))

    async def connect() -> Connection:
        conn = sqlite3.connect(database, timeout=0, **{**options, "check_same_thread": False})
        return Connection(conn, patience)

    return connect
