"""`ReminderLoop`: claim due follow-ups, render them, deliver through a `Sender`, mark them.

    loop = ReminderLoop(db, i18n, {"telegram": telegram_sender}, clock)
    await loop.run_once(now)      # one pass: what tests call
    await loop.run(stop)          # passes until `stop` is set, sleeping until the next due row

Delivery is at-least-once by construction and exactly-once in practice: a row is claimed with
a short lease (committed), sent, and marked delivered in a transaction of its own the moment
the platform accepted it — no other row's send or commit in between. While a send is in
flight its worker renews the lease, so a slow platform never gets the same reminder from a
second worker, and no send begins on a lease the worker could not renew; a crash stops the
renewals, and the row is taken again once the lease runs out (6 s by default). Only a crash
between the platform's "ok" and our commit can duplicate a reminder.

A send that fails for a platform's trouble (an outage, a rate limit, a timeout) is tried again
with a capped, jittered exponential backoff for `retry_hours` (three days by default) after the
reminder fell due, and arrives marked late. Only a permanent refusal (the bot blocked, the chat
gone) ends a reminder before that: it is logged at WARNING, told to the team's managers, and
shown by `crmbot doctor`.

The replies kept while their platform was down (`outbox`) go out in passes of their own,
beside the reminders' (`run_once` does both, one after the other): a slow platform taking a
batch of kept replies never holds back a reminder falling due meanwhile, and while a pass sends
reminders through a platform its kept replies go one at a time (the reminders get the
platform's rate). When a platform takes a reminder or a kept reply, what waits out a backoff
for it goes at once (`recovery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crmbot.bot import drawn
from crmbot.clock import Clock, system_clock
from crmbot.i18n import I18n
from crmbot.intents import reach
from crmbot.messages import ChatRef, DeliveryFailed, Outgoing, Reply, Sender
from crmbot.reminders import digests, outbox, queue, recovery, render
from crmbot.backoff import Backoff
from crmbot.reminders.lease import Renewal, extend
from crmbot.store import models, profile
from crmbot.store.db import Database, HeldTurn
from crmbot.store.faults import describe, is_transient

log = logging.getLogger(__name__)
RECORD_RETRY = 0.25  # seconds between attempts to record a delivery while the database is away
# After a platform took a reminder and nothing waited out a backoff on it, it is looked for again
# only this much later (at once after a send of ours failed): a pass of one or two reminders, when they fall
# due apart, paid an UPDATE over the waiting follow-ups for each; other workers' backoffs are so
# brought forward within seconds, not minutes
HURRY_EVERY = timedelta(seconds=5)

@dataclass
class PassReport:
    """What one pass did; the loop logs it, tests read it."""

    claimed: int = 0
    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # ended: refused for good, or retried for too long
    lost: list[int] = field(default_factory=list)  # accepted by the platform, but the row was no longer ours
    released: list[int] = field(default_factory=list)  # not sent: the lease could not be renewed, left to lapse
    platform_back: set[str] = field(default_factory=set)  # platforms that took a reminder in this pass
    digests: list[tuple[int, str, str]] = field(default_factory=list)
    replies: outbox.RepliesReport = field(default_factory=outbox.RepliesReport)  # kept replies sent again


@dataclass
class _Job:
    followup_id: int
    attempts: int
    due_at: datetime
    chat: ChatRef | None
    replies: list[Reply]


class _Marks:
    """A pass's "delivered" records, written as group commits on one connection of the pass's
    own (taken with the first record, given back when the pass ends). A reminder the platform
    took is recorded at once when no record is being written; those taken while one is being
    written are recorded together in the next (one UPDATE, one commit). Sparse reminders are so
    recorded one by one, each the moment its platform took it; a burst costs a transaction per
    batch, not per reminder."""

    MAX_BATCH = 500  # ids in one UPDATE: well under any engine's limit on bound parameters
    LINGER = 0.01  # in a burst, a record waits this long for others to share its commit

    def __init__(self, loop: ReminderLoop, report: PassReport) -> None:
        self.loop = loop
        self.report = report
        self._waiting: list[tuple[int, datetime, asyncio.Future, HeldTurn | None]] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._connection: AsyncConnection | None = None
        self._plain: AsyncConnection | None = None  # PostgreSQL, autocommit: the records of one statement
        self._lingering = False
        self._lent = asyncio.Event()  # a record came from a send holding the writer's turn
        self._warned = False  # a record that could not be written was logged
        self.enough = max(1, loop.concurrency // 2)  # records that go without lingering

    def record(self, followup_id: int, now: datetime, *, burst: bool = False, turn: HeldTurn | None = None) -> asyncio.Future:
        """The platform took this reminder: a future that is True once that is recorded, False
        when the row was no longer ours (snoozed, or its lease lapsed and another took it).
        `burst`: many more are being sent, so the record may wait `LINGER` for others to share
        its commit (at most `enough` of them: the pass's sends wait on their records). `turn`:
        the SQLite writer's turn the send holds, which the record is written in while it lasts."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((followup_id, now, done, turn))
        if turn is not None and turn.held:
            self._lent.set()
        self._lingering = self._lingering or burst
        self._wake.set()
        if len(self._waiting) >= self.enough:
            self._full.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all(), name="crmbot-reminder-marks")
        return done

    async def _write_all(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._lingering and len(self._waiting) < self.enough:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.LINGER)
            self._full.clear()
            self._lingering = False
            while self._waiting:
                batch, self._waiting = self._waiting[:self.MAX_BATCH], self._waiting[self.MAX_BATCH:]
                try:
                    ours = await self._write(batch)
                except Exception as error:
                    if is_transient(error):
                        # the platform took these: recorded the moment the database is back
                        # (PostgreSQL restarting, SQLite locked), or their leases lapse and they
                        # go out a second time; the pass's sends wait for it meanwhile
                        self._waiting = batch + self._waiting
                        # the messages go on meanwhile: the retries take urgent turns of their own
                        for *_, turn in (*batch, *self._waiting):
                            if turn is not None:
                                turn.release()
                        await self._lost_connection(error, [followup_id for followup_id, *_ in batch])
                        await asyncio.sleep(RECORD_RETRY)
                        continue
                    # each sender's task fails with it, as a record of its own did
                    for _, _, done, _ in batch:
                        if not done.done():
                            done.set_exception(error)
                    continue
                for followup_id, _, done, _ in batch:
                    if not done.done():
                        done.set_result(followup_id in ours)

    async def _lost_connection(self, error: Exception, ids: list[int]) -> None:
        if not self._warned:
            log.warning("reminders %s were delivered but could not be recorded (%s); trying again every %.2f s",
                        ids, describe(error), RECORD_RETRY)
            self._warned = True
        await self._close()

    async def _close(self) -> None:
        for connection in (self._connection, self._plain):
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
        self._connection = self._plain = None

    async def _write(self, batch: list[tuple[int, datetime, asyncio.Future, HeldTurn | None]]) -> set[int]:
        loop = self.loop
        by_time: dict[datetime, list[int]] = {}
        for followup_id, now, _, _ in batch:
            by_time.setdefault(now, []).append(followup_id)
        turn, own = await self._turn(batch)
        try:
            return await self._write_in_turn(batch, by_time, turn)
        finally:
            if own:
                turn.release()

    def _lender(self, batch: list) -> HeldTurn | None:
        return next((turn for *_, turn in (*batch, *self._waiting) if turn is not None and turn.held), None)

    async def _turn(self, batch: list) -> tuple[HeldTurn, bool]:
        """The SQLite writer's turn to write `batch` in, and whether it is ours to give back. A
        send that holds the turn and waits for its record lends it (this batch's, or one queued
        behind it: waiting for a turn it holds, the records would wait for ever); else an urgent
        turn of our own, unless such a send comes to wait meanwhile."""
        db = self.loop.db
        while True:
            lent = self._lender(batch)
            if lent is not None:
                return lent, False
            self._lent.clear()
            acquiring = asyncio.ensure_future(db.hold_writer(urgent=True))
            lending = asyncio.ensure_future(self._lent.wait())
            try:
                await asyncio.wait({acquiring, lending}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lending.cancel()
                if not acquiring.done():
                    acquiring.cancel()
            try:
                return await acquiring, True  # taken (maybe just as a lender came: it waits its turn)
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise
                # not taken: a lender came first; the loop takes its turn

    async def _write_in_turn(self, batch: list, by_time: dict[datetime, list[int]], turn: HeldTurn) -> set[int]:
        loop = self.loop
        ours: dict[int, str | None] = {}
        async with loop.db.writer_turn(urgent=True, held=turn):
            if loop.db.is_postgres:
                # PostgreSQL: the records of reminders that don't come back every year are one
                # UPDATE, its own transaction (autocommit: one round trip, not BEGIN, UPDATE,
                # COMMIT); only what it did not take (a yearly reminder, a row no longer ours)
                # goes through the transaction below
                if self._plain is None or self._plain.invalidated:
                    if self._plain is not None:
                        await self._plain.close()
                    self._plain = await (await loop.db.engine.connect()).execution_options(isolation_level="AUTOCOMMIT")
                for now, ids in list(by_time.items()):
                    found = await queue.mark_delivered(self._plain, worker=loop.worker, ids=ids, now=now,
                                                       late_after=loop.late_after, yearly=False)
                    await self._plain.commit()  # nothing to send: the statement committed itself
                    ours.update(found)
                    rest = [i for i in ids if i not in found]
                    if rest:
                        by_time[now] = rest
                    else:
                        del by_time[now]
                if not by_time:
                    return set(ours)
            if self._connection is None or self._connection.invalidated:
                if self._connection is not None:
                    await self._connection.close()
                self._connection = await loop.db.engine.connect()
            async with self._connection.begin():
                for now, ids in by_time.items():
                    found = await queue.mark_delivered(self._connection, worker=loop.worker, ids=ids, now=now,
                                                       late_after=loop.late_after)
                    # a birthday reminder comes back: next year's is written with this one's delivery
                    if any(found.values()):
                        async with AsyncSession(bind=self._connection, expire_on_commit=False) as session:  # in this transaction
                            await profile.schedule_next_years(session, [i for i, yearly in found.items() if yearly], now)
                    ours.update(found)
        return set(ours)

    async def __call__(self, *exc_info: object) -> bool:  # the pass ends
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        for _, _, done, _ in self._waiting:  # not recorded: the lease lapses and the row goes again
            done.cancel()
        self._waiting = []
        await self._close()
        return False


class ReminderLoop:
    def __init__(
        self,
        db: Database,
        i18n: I18n,
        senders: dict[str, Sender],
        clock: Clock = system_clock,
        *,
        poll_seconds: float = 1.0,
        lease_seconds: float = 6.0,
        batch_size: int = 4,  # rows claimed at once: about as many as go out in the next second
        max_batch_size: int = 256,  # ... up to this many in a burst (each full claim doubles the next)
        burst_from: int = 16,  # a claim this big is a burst: sends no longer wait for each record
        concurrency: int = 32,
        overlap_after_seconds: float = 0.2,
        backoff_seconds: float = 5.0,
        max_backoff_seconds: float = 300.0,
        retry_hours: float = 72.0,
        late_after_seconds: float = 60.0,
        send_timeout_seconds: float = 40.0,
        digests_enabled: bool = True,
        worker_id: str | None = None,
        announce: Callable[[Iterable[Outgoing]], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.i18n = i18n
        self.senders = senders  # shared with the server, which may attach adapters after building us
        self.clock = clock
        self.poll = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size)
        self.burst_from = burst_from
        self.concurrency = concurrency
        self.overlap_after = overlap_after_seconds  # a send this slow lets the next begin beside it
        self.backoff = Backoff(backoff_seconds, max_backoff_seconds, rng or random.Random())
        self.retry_for = timedelta(hours=retry_hours)
        self.late_after = timedelta(seconds=late_after_seconds)
        # a send begins on a lease written at most this long ago, without writing it again
        self.fresh_for = min(timedelta(seconds=1), self.lease / 15)
        # no cap by the lease: the lease is renewed while a send is in flight
        self.send_timeout = send_timeout_seconds
        self.digests_enabled = digests_enabled
        self.worker = (worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}")[:64]
        self.announce = announce  # how a manager hears of a reminder that ended undelivered
        # reminder passes sending through each platform now: kept replies to it give way
        # (`PendingReplies.busy`)
        self._sending: Counter[str] = Counter()
        self.replies = outbox.PendingReplies(db, senders, clock, worker=self.worker, lease=self.lease,
                                      send_timeout=self.send_timeout, backoff=self.backoff, give_up_after=self.retry_for,
                                      on_back=self._replies_back, busy=lambda platform: self._sending[platform] > 0,
                                      overlap_after=self.overlap_after)
        self._wake = asyncio.Event()
        self._replies_wake = asyncio.Event()  # kept replies became due (their platform is back)
        self._hurried: dict[str, datetime] = {}  # when each platform's backoffs were last brought forward

    @classmethod
    def from_settings(cls, settings, db: Database, i18n: I18n, senders: dict[str, Sender], clock: Clock = system_clock,
                      **options) -> ReminderLoop:
        options = {"poll_seconds": settings.reminder_poll_seconds, "lease_seconds": settings.reminder_lease_seconds,
                   "send_timeout_seconds": settings.send_timeout_seconds, **options}
        return cls(db, i18n, senders, clock, **options)

    # -- the loop --------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look again now (e.g. a reminder was just set for a minute from now)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, first_pass: asyncio.Event | None = None) -> None:
        """Pass after pass until `stop`; overdue rows found at start-up go out in the first,
        after which `first_pass` is set (the server begins long polling then). Kept replies go
        out beside, in a loop of their own (`_run_replies`)."""
        log.info("reminder loop %s started (%s)", self.worker, ", ".join(self.senders) or "no senders")
        kept = asyncio.create_task(self._run_replies(stop), name="crmbot-kept-replies")
        try:
            while not stop.is_set():
                self._wake.clear()  # a wake-up during the pass (a hurry) means: look again at once
                try:
                    report = await self.run_once(replies=False)
                    if report.claimed or report.digests:
                        log.info("reminders: %d delivered, %d retrying, %d failed, %d digests",
                                 len(report.delivered), len(report.retrying), len(report.failed), len(report.digests))
                except Exception:  # the database went away, say: keep the loop alive and try again
                    log.exception("reminder pass failed")
                if first_pass is not None:
                    first_pass.set()
                await self._sleep(stop, self._wake, await self.seconds_to_next(self.clock()))
        finally:
            if not stop.is_set():  # cancelled: the kept replies' loop goes too
                kept.cancel()
            await asyncio.gather(kept, return_exceptions=True)
        log.info("reminder loop %s stopped", self.worker)

    async def _run_replies(self, stop: asyncio.Event) -> None:
        """Pass after pass over the kept replies until `stop`: at once again when a pass sent or
        brought forward some (more may be due), else after the poll interval or a wake-up."""
        while not stop.is_set():
            self._replies_wake.clear()
            progress = False
            try:
                now = self.clock()
                async with self.db.sessions() as session:
                    due = await outbox.due(session, now, list(self.senders))
                if due:
                    report = await self.replies.run_once(now)
                    progress = bool(report.sent or report.hurried)
                    if report.sent or report.dropped:
                        log.info("kept replies: %d sent, %d retrying, %d dropped", len(report.sent),
                                 len(report.retrying), len(report.dropped))
            except Exception:
                log.exception("kept replies pass failed")
            await self._sleep(stop, self._replies_wake, 0.0 if progress else self.poll)

    @staticmethod
    async def _sleep(stop: asyncio.Event, wake: asyncio.Event, delay: float) -> None:
        """Up to `delay` seconds, less when `stop` or `wake` is set."""
        if delay <= 0:
            await asyncio.sleep(0)  # let the other loop and the server run
            return
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def seconds_to_next(self, now: datetime) -> float:
        """Sleep until the next row falls due, but never longer than the poll interval (rows
        written by other processes can't wake us)."""
        try:
            async with self.db.sessions() as session:
                moment = await queue.next_wakeup(session, now, self.senders)
        except Exception:
            log.exception("could not read the next due time")
            return self.poll
        if moment is None:
            return self.poll
        return max(0.0, min(self.poll, (moment - now).total_seconds()))

    async def run_once(self, now: datetime | None = None, *, replies: bool = True) -> PassReport:
        """One pass: every due row, the kept replies (unless `replies` is False: `run` sends
        them in a loop of their own), and every due digest. With `now` given the whole pass
        happens at that instant (tests); without it each claim reads the clock."""
        report = PassReport()
        replies_due = await self._reminders(now, report, ask_replies=replies)
        if replies_due:
            report.replies = await self.replies.run_once(now or self.clock())
        if self.digests_enabled:
            await self._digests(now or self.clock(), report)
        return report

    # -- follow-ups ------------------------------------------------------------------------------

    async def _reminders(self, now: datetime | None, report: PassReport, *, ask_replies: bool = True) -> bool:
        """Claim a few due rows at a time, just before sending them (a crash strands no more
        than those for a lease), and send them one at a time, each recorded before the next
        begins: a crash then finds at most one reminder between the platform's "ok" and our
        record of it. Only sends slower than `overlap_after` (a slow platform) let the next
        begin beside them, up to `concurrency`.

        A burst (many due at once: each full claim doubles the next, up to `max_batch_size`,
        and a claim of `burst_from` rows or more) is handed to the senders `concurrency` at a
        time (they pace it to the platform's limits) without waiting for each record, and the
        records are written as group commits (`_Marks`), a transaction per batch. A crash in a
        burst can so find up to `concurrency` reminders between the platform's "ok" and our
        record (sent twice when their lease lapses), never one lost. In a burst the next batch
        is claimed and rendered while this one is handed over on PostgreSQL (one batch ahead,
        its leases renewed like the rest). Returns whether kept replies are due (when `ask_replies`)."""
        replies_due = None if ask_replies else False
        claimed: list[int] = []  # what the renewal keeps ours; grows with each claim
        held: dict[int, datetime] = {}  # until when each claimed row's lease was last written by this pass
        started: list[asyncio.Task] = []
        in_flight: set[asyncio.Task] = set()  # sends not yet done (their records included)
        slots = asyncio.Semaphore(self.concurrency)
        chats: dict[int, ChatRef | None] = {}  # each member's chat, looked up once a pass

        async def fetch(limit: int) -> tuple[datetime, list[_Job], bool] | None:
            """Claim up to `limit` due rows and render them: (when, jobs, whether the claim was full)."""
            nonlocal replies_due
            at = now or self.clock()
            async with self.db.writer_turn(), self.db.sessions() as session, session.begin():
                rows = await queue.claim_loaded(session, worker=self.worker, now=at, lease=self.lease,
                                                limit=limit, platforms=self.senders, postgres=self.db.is_postgres)
                if replies_due is None:  # asked in a session the pass opens anyway
                    replies_due = await outbox.due(session, at, list(self.senders))
            if not rows:
                return None
            ids = [row.id for row in rows]
            report.claimed += len(ids)
            claimed.extend(ids)
            held.update(dict.fromkeys(ids, at + self.lease))
            return at, await self._prepare(rows, at, chats), len(ids) >= limit

        ahead: asyncio.Task | None = None  # a burst's next batch, claimed and rendered while this one is sent
        async with contextlib.AsyncExitStack() as stack:
            renewing = False
            sending = stack.enter_context(self._sending_through())
            marks = _Marks(self, report)
            stack.push_async_exit(marks)
            try:
                limit = self.batch_size
                batch = await fetch(limit)
                while batch is not None:
                    at, jobs, full = batch
                    if not renewing:
                        await stack.enter_async_context(Renewal(
                            self.db, self.lease, self.clock, extend(models.FollowUp, claimed, self.worker)))
                        renewing = True
                    burst = len(jobs) >= self.burst_from
                    if full:
                        limit = min(self.max_batch_size, 2 * limit)
                        # PostgreSQL: the next batch's claim and rendering overlap this one's
                        # sends and records (SQLite: its one writer would take turns between them)
                        if burst and self.db.is_postgres:
                            ahead = asyncio.create_task(fetch(limit), name="crmbot-reminder-claim")
                    for n, job in enumerate(jobs):
                        if job.chat is not None:
                            sending(job.chat.adapter)
                        if in_flight and not burst:  # the last send done and recorded, or slow
                            await asyncio.wait(in_flight, timeout=self.overlap_after)
                        await slots.acquire()
                        # begin only on a row still ours, with a whole lease ahead: renewals keep
                        # it so while the send is in flight
                        if not await self._still_ours(job.followup_id, held, lambda n=n: [j.followup_id for j in jobs[n + 1:]]):
                            slots.release()
                            report.released.append(job.followup_id)
                            continue
                        # the writer's turn only with no other send of the pass unrecorded: the
                        # records are written one after another, and one waiting for a turn
                        # this send held would hold up this send's own record
                        alone = not burst and all(t.done() for t in in_flight)
                        task = asyncio.create_task(self._send(job, at, report, marks, burst=burst, hold=alone))
                        task.add_done_callback(lambda done: (slots.release(), in_flight.discard(done)))
                        started.append(task)
                        in_flight.add(task)
                    if not full:
                        break
                    if ahead is not None:
                        next_batch, ahead = ahead, None
                        batch = await next_batch
                    else:
                        batch = await fetch(limit)
                if in_flight:
                    await asyncio.wait(in_flight)
            finally:
                if ahead is not None:  # the pass failed: a batch claimed ahead is left to its lease
                    ahead.cancel()
                    with contextlib.suppress(BaseException):
                        await ahead
                for task in list(in_flight):
                    task.cancel()
        for task in started:  # a database error recording a result fails the pass, as before
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
        return bool(replies_due)

    async def _prepare(self, rows: list, now: datetime, chats: dict[int, ChatRef | None]) -> list[_Job]:
        """Render the claimed rows (`queue.claim_loaded`'s, with their member and customer) and
        store their buttons, in one transaction. `chats`: the members' chats this pass already
        knows; those it does not are looked up in the same transaction and added."""
        jobs = []
        async with self.db.sessions() as session, session.begin():
            unknown = {row.member_id for row in rows} - chats.keys()
            if unknown:
                found = await reach.chats_for(session, unknown, set(self.senders))
                chats.update({member: found.get(member) for member in unknown})
            choices = render.ChoiceMaker(now, [])
            readers: dict[int, queue.Reader] = {}
            late_before = now - self.late_after
            for row in rows:
                chat = chats[row.member_id]
                if chat is None:
                    replies = []
                else:
                    member = readers.get(row.member_id)
                    if member is None:
                        member = readers[row.member_id] = queue.reader(row)
                    replies = [render.reminder(self.i18n, choices, member, row, queue.about(row), late=row.due_at < late_before)]
                jobs.append(_Job(row.id, row.attempts, row.due_at, chat, replies))
            await queue.store_choices(session, choices.rows, postgres=self.db.is_postgres)
        return jobs

    async def _send(self, job: _Job, now: datetime, report: PassReport, marks: _Marks, *, burst: bool = False,
                    hold: bool = False) -> None:
        sender = self.senders.get(job.chat.adapter) if job.chat else None
        if sender is None:
            await self._failed(job, now, report, DeliveryFailed("the member has no chat this worker can reach"))
            return
        # On SQLite a send (`hold`: not in a burst, no other in flight) takes the writer's turn first, ahead of the messages
        # waiting for it, and keeps it until its record has committed (`_quick`): no message is
        # handled while the platform's answer is on its way, so the answer is read the moment it
        # comes and recorded at once, not after a message's parsing and transaction have held
        # the event loop and the file (under load, for a good part of a second: a kill then
        # finds the reminder taken and unrecorded, and it goes out twice)
        turn = await self.db.hold_writer(urgent=True) if hold else HeldTurn(None)
        try:
            began = self.clock()
            try:
                with self._quick(turn):
                    async with asyncio.timeout(self.send_timeout):
                        await sender.send(job.chat, job.replies)
            except DeliveryFailed as error:
                turn.release()  # nothing to hurry for: telling the managers may write a kept reply
                await self._failed(job, now, report, error)
                return
            except Exception as error:  # network trouble, a timeout, a bug in an adapter: retry later
                turn.release()
                log.warning("sending reminder %s through %s failed: %r", job.followup_id, job.chat.adapter, error)
                await self._failed(job, now, report, DeliveryFailed(f"{type(error).__name__}: {error}"))
                return
            took = self.clock()
            await self._mark(job.followup_id, report, marks.record(job.followup_id, now, burst=burst, turn=turn))
        finally:
            turn.release()
        # one line a reminder: when a kill can send it twice (the platform's "ok" to our record),
        # and how late it went (due, claimed, sent), for whoever measures that
        if log.isEnabledFor(logging.INFO):
            log.info("reminder %s delivered through %s: due %s, claimed %.1f s after, sent in %.2f s, recorded %.2f s after",
                     job.followup_id, job.chat.adapter, f"{job.due_at:%H:%M:%S}", (now - job.due_at).total_seconds(),
                     (took - began).total_seconds(), (self.clock() - took).total_seconds())
        if job.chat.adapter not in report.platform_back:
            await self._hurry(job.chat.adapter, now, report)

    @contextlib.contextmanager
    def _quick(self, turn: HeldTurn) -> Iterator[None]:
        """A send holding the writer's turn gives it back once it has taken `overlap_after`
        (a slow platform): the messages are handled meanwhile, and the record takes an urgent
        turn of its own when the answer comes."""
        if not turn.held:
            yield
            return
        timer = asyncio.get_running_loop().call_later(self.overlap_after, turn.release)
        try:
            yield
        finally:
            timer.cancel()

    @contextlib.contextmanager
    def _sending_through(self) -> Iterator[Callable[[str], None]]:
        """For one pass: `sending(platform)` says it sends reminders through `platform`, which
        counts until the pass ends (and kept replies to that platform give way meanwhile)."""
        platforms: set[str] = set()

        def sending(platform: str) -> None:
            if platform not in platforms:
                platforms.add(platform)
                self._sending[platform] += 1

        try:
            yield sending
        finally:
            for platform in platforms:
                self._sending[platform] -= 1

    async def _hurry(self, platform: str, now: datetime, report: PassReport) -> None:
        """The platform took a reminder, so it is back: the reminders and kept replies waiting
        out a backoff from its outage go now, not minutes later (a rate limit's wait is kept)."""
        report.platform_back.add(platform)
        last = self._hurried.get(platform)
        if last is not None and timedelta(0) <= now - last < HURRY_EVERY:
            return
        hurried = await recovery.platform_back(self.db, platform, now)
        if hurried.reminders:  # the kept replies come forward at the next "ok", not 5 s later
            self._hurried.pop(platform, None)
        else:
            self._hurried[platform] = now
        if hurried.reminders:
            self.wake()
        if hurried.replies:
            self._replies_wake.set()

    async def _replies_back(self, platform: str, now: datetime) -> int:
        """The platform took a kept reply: the same, seen from the kept replies' pass."""
        hurried = await recovery.platform_back(self.db, platform, now)
        if hurried.reminders:
            self.wake()
        return hurried.replies

    async def _still_ours(self, followup_id: int, held: dict[int, datetime], rest: Callable[[], list[int]]) -> bool:
        """Whether this row's send may begin: it is still ours with (nearly) a whole lease
        ahead. A lease written less than `fresh_for` ago (the claim's, or a renewal's) is taken
        as it stands; else it is renewed, in the same statement as the leases of the rows the
        pass sends next (`rest()`, made only then), so a fast platform's sends cost no statement
        each. False when the row is no longer ours (the lease ran out and another worker took
        it) or the database can't say."""
        if held.get(followup_id, self.clock()) - self.clock() > self.lease - self.fresh_for:
            return True
        until = self.clock() + self.lease
        try:
            async with self.db.writer_turn(), self.db.sessions() as session, session.begin():
                ours = await queue.renew_many(session, worker=self.worker, ids=[followup_id, *rest()], until=until)
            for renewed in ours:
                held[renewed] = until
            if followup_id in ours:
                return True
            log.warning("reminder %s is no longer this worker's: another worker took it after its lease", followup_id)
        except Exception as error:
            log.warning("reminder %s left to its lease: it could not be renewed (%s)", followup_id, describe(error))
        held.pop(followup_id, None)
        return False

    async def _mark(self, followup_id: int, report: PassReport, recorded: asyncio.Future) -> None:
        """The platform took it: recorded at once (`_Marks`), before the next send begins unless
        in a burst. Between the platform's "ok" and that commit a crash sends the reminder twice,
        so nothing else waits in between: the record goes before the SQLite writers queued
        behind the one writing."""
        if await recorded:
            report.delivered.append(followup_id)
            return
        report.lost.append(followup_id)
        log.warning("reminder %s was delivered but was no longer ours to mark (snoozed, or lease expired)", followup_id)

    async def _failed(self, job: _Job, now: datetime, report: PassReport, error: DeliveryFailed) -> None:
        if job.chat is not None:
            self._hurried.pop(job.chat.adapter, None)  # its next "ok" looks for what now backs off
        attempt = job.attempts + 1
        give_up = error.permanent or now - job.due_at >= self.retry_for
        retry_at = None if give_up else now + timedelta(seconds=self.backoff.delay(attempt, error.retry_after))
        async with self.db.sessions() as session, session.begin():
            ours = await queue.record_failure(session, worker=self.worker, followup_id=job.followup_id, attempts=attempt,
                                              now=now, error=str(error) or type(error).__name__, retry_at=retry_at)
            if ours and give_up:  # this year's could not be delivered; next year's may be
                await profile.schedule_next_years(session, [job.followup_id], now)
        if not give_up:
            report.retrying.append(job.followup_id)
            log.info("reminder %s: attempt %d failed (%s); retrying at %s", job.followup_id, attempt, error, f"{retry_at:%H:%M:%S}")
            return
        report.failed.append(job.followup_id)
        why = "refused for good" if error.permanent else f"undeliverable for {self.retry_for}"
        log.warning("reminder %s ended undelivered after %d attempts, %s: %s", job.followup_id, attempt, why, error)
        if ours and self.announce is not None:
            await self._tell_managers(job.followup_id, error)

    async def _tell_managers(self, followup_id: int, error: DeliveryFailed) -> None:
        """The team's managers (but the member whose reminder it was) hear that it ended."""
        try:
            async with self.db.sessions() as session:
                row = await session.get(models.FollowUp, followup_id)
                member = await session.get(models.Member, row.member_id)
                customer = await session.get(models.Customer, row.customer_id) if row.customer_id else None
                managers = {m.id: m for m in await session.scalars(select(models.Member).where(
                    models.Member.team_id == row.team_id, models.Member.active, models.Member.id != member.id,
                    models.Member.role.in_(("manager", "admin"))))}
                chats = await reach.chats_for(session, set(managers), set(self.senders))
            if customer is not None and customer.deleted_at is not None:
                customer = None
            told = [Outgoing(chat, (Reply(self.i18n.render(
                        managers[m].locale, "reminder_undeliverable", managers[m].timezone, member=member, followup=row,
                        customer=customer, reason=str(error)), kind="reminder_undeliverable"),))
                    for m, chat in chats.items()]
            await self.announce(told)
        except Exception:  # telling is a courtesy: the row, the log and `crmbot doctor` keep the fact
            log.exception("could not tell the managers about reminder %s", followup_id)

    # -- digests ---------------------------------------------------------------------------------

    async def _digests(self, now: datetime, report: PassReport) -> None:
        async with self.db.sessions() as session:
            members = list(await session.scalars(
                select(models.Member).where(models.Member.active, models.Member.id.in_(queue.reachable_members(self.senders)))
            ))
            wanted = [d for m in members for d in digests.due(m, now)]
            done = await digests.delivered_keys(session, wanted)
        by_id = {m.id: m for m in members}
        for digest in wanted:
            if digest.key in done:
                continue
            if not await digests.claim(self.db.sessions, digest, worker=self.worker, now=now, lease=self.lease):
                continue
            await self._send_digest(by_id[digest.member_id], digest, now, report)

    async def _send_digest(self, member: models.Member, digest: digests.DueDigest, now: datetime, report: PassReport) -> None:
        risky: list[Reply] = []
        async with self.db.sessions() as session, session.begin():  # the at-risk buttons' choices are stored
            chat = (await reach.chats_for(session, {member.id}, set(self.senders))).get(member.id)
            if digest.kind == digests.MORNING:
                template, values = "digest", await digests.morning_values(session, member, now)
            else:
                template, values = "weekly_summary", await digests.weekly_values(session, member, now)
            text = self.i18n.render(member.locale, template, member.timezone, **values)
            reply = Reply(text, kind=template)
            if digest.kind == digests.WEEKLY:
                reply = replace(reply, chart=digests.weekly_chart(self.i18n, member, values))
                if chat is not None:
                    risky = digests.weekly_risk_replies(self.i18n, session, member, values, now)
        reply = await drawn(reply)  # off the event loop, outside the transaction
        retry_at = None
        try:
            if chat is None:
                raise DeliveryFailed("no chat", permanent=True)
            async with Renewal(self.db, self.lease, self.clock, digests.extend(digest, self.worker)):
                await asyncio.wait_for(self.senders[chat.adapter].send(chat, [reply, *risky]), self.send_timeout)
        except Exception as error:
            # keep the claim until then; a later pass (ours or another worker's) tries again today
            wait = 900.0 if isinstance(error, DeliveryFailed) and error.permanent else self.backoff.delay(
                1, getattr(error, "retry_after", None))
            retry_at = now + timedelta(seconds=wait)
            log.warning("%s digest for member %s failed: %r", digest.kind, member.id, error)
        await digests.finish(self.db.sessions, digest, worker=self.worker, now=now, retry_at=retry_at)
        if retry_at is None:
            report.digests.append(digest.key)
