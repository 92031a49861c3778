"""Keeping claims alive while the work they protect runs.

A claim's lease is short (6 s by default), so that after a crash its rows are taken again
within seconds; a send that takes longer (a slow platform) keeps its rows because the holder
renews the lease while it works, in short transactions of their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.clock import Clock
from crmbot.store.db import Database
from crmbot.store.faults import describe

log = logging.getLogger(__name__)

Renew = Callable[[AsyncSession, datetime], Awaitable[None]]


def extend(model, ids: Iterable[int], worker: str) -> Renew:
    """Renewal of `worker`'s live claims on these rows of a table with id, claimed_by and
    claim_expires_at (a row marked done or released has no expiry, and stays so). A list is
    read at each renewal, so rows claimed later can be added to it."""
    ids = ids if isinstance(ids, list) else list(ids)

    async def renew(session: AsyncSession, until: datetime) -> None:
        await session.execute(
            update(model).where(model.id.in_(ids), model.claimed_by == worker, model.claim_expires_at.is_not(None))
            .values(claim_expires_at=until).execution_options(synchronize_session=False)
        )

    return renew


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

    def holds(self, now: datetime) -> bool:
        return now + self.lease / 3 < self.held_until

    async def __aenter__(self) -> Renewal:
        self._task = asyncio.create_task(self._run(), name="crmbot-lease-renewal")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            until = self.clock() + self.lease
            try:
                # on SQLite an urgent writer's turn: behind a stream of messages waiting for the
                # file's one writer, a renewal that polled for the lock was put off for seconds
                async with self.db.writer_turn(urgent=True), self.db.sessions() as session, session.begin():
                    await self.renew(session, until)
                self.held_until = until
            except Exception as error:
                log.warning("could not renew a delivery lease: %s", describe(error))
