"""Keeping claims alive while the work they protect runs.

A claim's lease is short (6 s by default), so that after a crash its rows are taken again
within seconds; a send that takes longer (a slow platform) keeps its rows because the holder
renews the lease while it works, in short transactions of their own.

The renewals run in a thread of their own, on a synchronous connection (`Database.sync_engine`),
not on the event loop: a loop held for seconds (a heavy message, a machine starved of CPU)
would otherwise put them off until the lease ran out while a send was in flight, and another
worker would start that send again. On SQLite the thread's write polls for the file's one
writer, which a stream of messages can keep from it, so there the event loop renews too, with
an urgent writer's turn (ahead of waiting messages): each covers what stops the other. A
renewal only ever moves a lease later (`later`), so the two never undo each other."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import case, literal, update
from sqlalchemy.sql import Executable
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.clock import Clock
from crmbot.store.db import Database
from crmbot.store.faults import describe

log = logging.getLogger(__name__)

Renew = Callable[[AsyncSession, datetime], Awaitable[None]]


def later(column, until: datetime):
    """The value that moves a lease to `until` unless it already runs out later (`until`
    bound with the column's own type: stored as the column stores every time, naive UTC)."""
    until = literal(until, column.type)
    return case((column < until, until), else_=column)


class Renewing:
    """A renewal whose work is one statement (`statement(until)`): what `Renewal` runs in its
    thread. Callable as an async `Renew` too, on a session of the event loop."""

    def __init__(self, statement: Callable[[datetime], Executable]) -> None:
        self.statement = statement

    async def __call__(self, session: AsyncSession, until: datetime) -> None:
        await session.execute(self.statement(until))


def extend(model, ids: Iterable[int], worker: str) -> Renewing:
    """Renewal of `worker`'s live claims on these rows of a table with id, claimed_by and
    claim_expires_at (a row marked done or released has no expiry, and stays so). A list is
    read at each renewal, so rows claimed later can be added to it."""
    ids = ids if isinstance(ids, list) else list(ids)

    def statement(until: datetime) -> Executable:
        return (update(model).where(model.id.in_(list(ids)), model.claimed_by == worker, model.claim_expires_at.is_not(None))
                .values(claim_expires_at=later(model.claim_expires_at, until)).execution_options(synchronize_session=False))

    return Renewing(statement)


class Renewal:
    """`async with Renewal(db, lease, clock, renew):` calls `renew(session, now + lease)` every
    third of a lease until the block ends. A renewal that fails (the database away) is logged
    and tried again at the next tick; the lease then protects the rows for what is left of it.

    `held_until` is when the lease last written runs out (by `clock`); `holds(now)` says whether
    more than one renewal period of it is left: work not yet begun should begin only then, or
    another worker may take the row while it runs."""

    def __init__(self, db: Database, lease: timedelta, clock: Clock, renew: Renew, *,
                 held_until: datetime | None = None) -> None:
        self.db = db
        self.lease = lease
        self.clock = clock
        self.renew = renew
        self.held_until = held_until if held_until is not None else clock() + lease
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def holds(self, now: datetime) -> bool:
        return now + self.lease / 3 < self.held_until

    async def __aenter__(self) -> Renewal:
        statement = getattr(self.renew, "statement", None)
        if statement is not None:  # one statement: renewed in a thread, whatever holds the loop
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run_off_loop, args=(self.db.sync_engine(), statement),
                                            name="crmbot-lease-renewal", daemon=True)
            self._thread.start()
        if statement is None or not self.db.is_postgres:
            self._task = asyncio.create_task(self._run(), name="crmbot-lease-renewal")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._thread is not None:
            self._stop.set()
            # a renewal under way ends before the block does: none lands after the rows' records
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _run_off_loop(self, engine, statement: Callable[[datetime], Executable]) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            until = self.clock() + self.lease
            try:
                with engine.begin() as connection:
                    connection.execute(statement(until))
                self.held_until = max(self.held_until, until)
            except Exception as error:
                log.warning("could not renew a delivery lease: %s", describe(error))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            until = self.clock() + self.lease
            try:
                # on SQLite an urgent writer's turn: behind a stream of messages waiting for the
                # file's one writer, a renewal that polled for the lock was put off for seconds
                async with self.db.writer_turn(urgent=True), self.db.sessions() as session, session.begin():
                    await self.renew(session, until)
                self.held_until = max(self.held_until, until)
            except Exception as error:
                log.warning("could not renew a delivery lease: %s", describe(error))
