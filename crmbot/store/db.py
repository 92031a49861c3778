"""Engines and sessions: one place that knows SQLite from PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from crmbot.store import inline_sqlite, migrate


def to_url(db: str) -> URL:
    """Accept a SQLAlchemy URL or a plain file path."""
    if "://" not in db:
        path = Path(db).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return make_url(f"sqlite:///{path}")
    url = make_url(db)
    if url.drivername == "postgres":  # the scheme many hosting providers hand out
        return url.set(drivername="postgresql")
    return url


def async_url(url: URL) -> URL:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        driver = url.get_driver_name()
        return url.set(drivername="postgresql+asyncpg" if driver == "asyncpg" else "postgresql+psycopg")
    raise ValueError(f"unsupported database: {backend}")


def sync_url(url: URL) -> URL:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database: {backend}")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the reminder loop read while a message is being written; the busy timeout
    # makes a second process wait for the writer instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# A pooled PostgreSQL connection that sat idle this long is pinged before it is handed out (one
# round trip, `SELECT 1`): the server may have restarted or a proxy cut it meanwhile. One that
# was used just now is not: pinging on every checkout (SQLAlchemy's `pool_pre_ping`) cost a
# round trip on every message and look-up, a quarter of a look-up's time. A connection cut while
# busy fails its statement as a disconnect; SQLAlchemy then drops every pooled connection, the
# message is `Transient` and its redelivery gets a new one.
PING_IDLE_S = 2.0


def _idle_from(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_when_idle(dbapi_connection, record, _proxy) -> None:
    since = record.info.pop("idle_since", None)
    if since is None or time.monotonic() - since < PING_IDLE_S:
        return  # just made, or just used
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as error:
        # the pool drops this connection and checks out another (a new one if need be)
        raise DisconnectionError("a pooled connection did not answer its ping") from error


SYNC_BUSY_MS = 1000  # a renewal waits this long for SQLite's writer, then tries at its next tick


SYNC_CONNECT_S = 3
SYNC_STATEMENT_MS = 3000


def _sqlite_renewal_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SYNC_BUSY_MS}")
    cursor.close()


class Turns:
    """One writer at a time, in arrival order, but an urgent writer goes before every writer
    still waiting (never before the one writing). Belongs to one event loop."""

    def __init__(self) -> None:
        self.busy = False
        self._urgent: deque[asyncio.Future] = deque()
        self._normal: deque[asyncio.Future] = deque()

    @property
    def waiting(self) -> int:
        return sum(not f.done() for f in (*self._urgent, *self._normal))

    async def acquire(self, urgent: bool = False) -> None:
        if not self.busy and not self.waiting:
            self.busy = True
            return
        queue = self._urgent if urgent else self._normal
        turn = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            await turn  # handed over by `release`: `busy` stayed True for us
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the turn, then cancelled before taking it: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(turn)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self.busy = False


class HeldTurn:
    """A writer turn taken with `Database.hold_writer`, given back with `release` (the first
    call gives it back; later ones do nothing), so it can be let go before the block it was
    taken for ends."""

    def __init__(self, turns: Turns | None) -> None:
        self._turns = turns

    @property
    def held(self) -> bool:
        return self._turns is not None

    def release(self) -> None:
        turns, self._turns = self._turns, None
        if turns is not None:
            turns.release()


async def flushed_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, for a statement run past the ORM on a hot path; pending changes
    are flushed first, as the ORM would before its own query."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return await session.connection()


@dataclass
class Database:
    url: URL
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _turns: dict[asyncio.AbstractEventLoop, Turns] = field(default_factory=dict, repr=False)
    _sync: Engine | None = field(default=None, repr=False)
    _sync_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    def sync_engine(self) -> Engine:
        """A small synchronous engine on the same database, for work that must go on while the
        event loop is held (lease renewals, in a thread of their own: `reminders.lease`). On
        SQLite a statement that finds the file locked waits up to `SYNC_BUSY_MS` in that thread."""
        with self._sync_lock:
            if self._sync is None:
                if self.is_postgres:
                    # bounded: a renewal stuck on a lost connection or a row lock must not hold up
                    # the end of the block it renews for (which waits for the thread)
                    self._sync = create_engine(sync_url(self.url), pool_size=1, max_overflow=2, pool_pre_ping=True,
                                               connect_args={"connect_timeout": SYNC_CONNECT_S,
                                                             "options": f"-c statement_timeout={SYNC_STATEMENT_MS}"})
                else:
                    self._sync = create_engine(sync_url(self.url), connect_args={"check_same_thread": False})
                    event.listen(self._sync, "connect", _sqlite_renewal_pragmas)
            return self._sync

    @contextlib.asynccontextmanager
    async def writer_turn(self, *, urgent: bool = False, held: HeldTurn | None = None) -> AsyncIterator[None]:
        """On SQLite, this process's writers take turns in arrival order. SQLite has one writer,
        and one that finds the file locked polls for it in sleeps of up to 100 ms, so a stream
        of messages can keep a short write waiting for seconds; in turn it waits for the
        transactions ahead of it. An `urgent` write (the record that a platform took a reminder
        or a kept reply: until it commits, a crash sends that again) goes before every writer
        still waiting, so it waits for the one transaction being written at most, never for a
        backlog of messages. PostgreSQL needs no turns. `held`: a turn the caller already
        holds (`hold_writer`), used as it is while it lasts."""
        if held is not None and held.held:
            yield
            return
        turn = await self.hold_writer(urgent=urgent)
        try:
            yield
        finally:
            turn.release()

    async def hold_writer(self, *, urgent: bool = False) -> HeldTurn:
        """The writer's turn (see `writer_turn`), held until `release` is called on what this
        returns. Nothing to hold on PostgreSQL."""
        if self.is_postgres:
            return HeldTurn(None)
        loop = asyncio.get_running_loop()
        turns = self._turns.get(loop)
        if turns is None:
            self._turns.clear()  # turns belong to their event loop: tests and commands start new ones
            turns = self._turns[loop] = Turns()
        await turns.acquire(urgent)
        return HeldTurn(turns)

    async def close(self) -> None:
        await self.engine.dispose()
        with self._sync_lock:
            sync, self._sync = self._sync, None
        if sync is not None:
            sync.dispose()


def open_database(db: str, *, upgrade: bool = True) -> Database:
    """Open (and by default migrate to head) the database named by a URL or path."""
    url = to_url(db)
    if upgrade:
        migrate.upgrade(sync_url(url))
    aurl = async_url(url)
    if aurl.get_backend_name() == "sqlite":
        # SQLAlchemy's aiosqlite dialect, its connections ours: statements run on the loop
        # instead of a thread hop per call (see inline_sqlite)
        probe = create_async_engine(aurl)
        args, options = probe.dialect.create_connect_args(aurl)
        engine = create_async_engine(aurl, async_creator=inline_sqlite.creator(*args, **options))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(aurl, pool_size=10, max_overflow=10)
        event.listen(engine.sync_engine, "checkin", _idle_from)
        event.listen(engine.sync_engine, "checkout", _ping_when_idle)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return Database(url=url, engine=engine, sessions=sessions)
