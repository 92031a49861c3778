"""The reminder loop against a real database (SQLite and PostgreSQL), with the clock injected.

Nothing here sleeps: every pass is `run_once(now)` at a chosen instant. The platform is a
recording `Sender` written below (a double of the chat platform, not of our code).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, event, select, text, update
from sqlalchemy.engine import make_url

from crmbot.adapters.console import ConsoleChat
from crmbot.app import build
from crmbot.config import Settings
from crmbot.messages import ChatRef, DeliveryFailed, Reply
from crmbot.reminders import ReminderLoop, outbox, queue
from crmbot.reminders.lease import Renewal, later
from crmbot.store import models, teams
from crmbot.store.db import open_database

from tests.conftest import NOW
from tests.test_delivery import impatient


class RecordingPlatform:
    """A chat platform that records what it accepted; it can be told to refuse or to hang."""

    def __init__(self, name: str = "console") -> None:
        self.name = name
        self.sent: list[tuple[ChatRef, list[Reply]]] = []
        self.refusals: deque[DeliveryFailed] = deque()
        self.attempts = 0
        self.hang: asyncio.Event | None = None  # set: sends block until it is set (a stuck process)
        self.arrived = asyncio.Event()

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        self.attempts += 1
        self.arrived.set()
        if self.hang is not None:
            await self.hang.wait()
        if self.refusals:
            raise self.refusals.popleft()
        await asyncio.sleep(0)  # let other workers interleave, as a network call would
        self.sent.append((chat, list(replies)))

    def texts(self) -> list[str]:
        return [r.text for _, replies in self.sent for r in replies]

    def reminders(self) -> list[Reply]:
        return [r for _, replies in self.sent for r in replies if r.text.startswith("⏰")]


def loop_for(app, platform, clock, **options) -> ReminderLoop:
    options.setdefault("digests_enabled", False)
    return ReminderLoop(app.db, app.i18n, {platform.name: platform}, clock, **options)


async def member(app, name: str, *, tz: str = "Europe/Prague", role: str = "rep", digest_time: str = "08:30",
                 team_name: str = "Reminders", joined: datetime = NOW - timedelta(days=30)) -> models.Member:
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, team_name) or await teams.create_team(session, team_name, NOW)
        made = await teams.create_member(session, team.id, name, joined, role=role, timezone=tz)
        made.digest_time = digest_time
        await teams.bind_identity(session, made, "console", name.lower(), NOW, chat_id=name.lower())
        return made


async def followups(app, who: models.Member, due: list[datetime], note: str = "fu") -> list[int]:
    async with app.db.sessions() as session, session.begin():
        rows = [
            models.FollowUp(team_id=who.team_id, member_id=who.id, due_at=at, note=f"{note}-{i}", state="pending",
                            created_at=NOW - timedelta(days=1), attempts=0, late=False)
            for i, at in enumerate(due)
        ]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]


async def row(app, followup_id: int) -> models.FollowUp:
    async with app.db.sessions() as session:
        return await session.get(models.FollowUp, followup_id)


def note_of(reply: Reply) -> str:
    return next(line for line in reply.text.splitlines() if line.startswith("📝")).removeprefix("📝 ")


# -- delivery ---------------------------------------------------------------------------------------


async def test_due_reminder_is_delivered_once_and_marked(app, clock):
    alice = await member(app, "Alice")
    [due_now, later] = await followups(app, alice, [NOW, NOW + timedelta(minutes=30)])
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, worker_id="w1")

    report = await loop.run_once(NOW)
    assert report.delivered == [due_now]
    assert [c.chat_id for c, _ in platform.sent] == ["alice"]
    delivered = await row(app, due_now)
    assert delivered.delivered_at == NOW and delivered.claimed_by == "w1" and delivered.attempts == 1
    assert delivered.late is False and delivered.state == "pending"  # open until the member says done

    assert (await loop.run_once(NOW + timedelta(minutes=5))).delivered == []
    assert (await loop.run_once(NOW + timedelta(minutes=30))).delivered == [later]
    assert len(platform.sent) == 2


async def test_reminder_shows_customer_note_when_set_and_buttons(alice, demo, clock, unreminded):
    platform = RecordingPlatform()
    await loop_for(demo, platform, clock).run_once(NOW)
    [reply] = platform.reminders()
    assert "Petr Dvořák" in reply.text and "Confirm camera count with Petr" in reply.text
    assert "Set 22 Nov 2026" in reply.text  # when it was set, in Alice's zone
    assert [b.label for b in reply.buttons] == ["✅ Done", "⏰ 1 h", "Tomorrow 9:00", "Next week", "Open customer"]
    assert all(b.action.startswith("c:") and len(b.action) <= 64 for b in reply.buttons)


async def test_only_members_this_worker_can_reach_are_claimed(app, clock):
    alice = await member(app, "Alice")
    [fid] = await followups(app, alice, [NOW])
    telegram_only = RecordingPlatform("telegram")
    assert (await loop_for(app, telegram_only, clock).run_once(NOW)).claimed == 0
    assert (await row(app, fid)).claimed_by is None  # left for a worker that has the console


async def test_two_loops_on_one_database_deliver_every_row_exactly_once(app, db_url, clock):
    alice = await member(app, "Alice")
    ids = await followups(app, alice, [NOW - timedelta(seconds=i % 50) for i in range(300)])
    other_db = open_database(db_url)  # a second worker: its own engine and connections
    try:
        platform_a, platform_b = RecordingPlatform(), RecordingPlatform()
        loop_a = loop_for(app, platform_a, clock, worker_id="a", batch_size=10)
        loop_b = ReminderLoop(other_db, app.i18n, {"console": platform_b}, clock, worker_id="b", batch_size=10,
                              digests_enabled=False)
        report_a, report_b = await asyncio.gather(loop_a.run_once(NOW), loop_b.run_once(NOW))
    finally:
        await other_db.close()
    notes = Counter(note_of(r) for r in platform_a.reminders() + platform_b.reminders())
    assert len(notes) == 300 and max(notes.values()) == 1, [n for n, c in notes.items() if c > 1]
    assert sorted(report_a.delivered + report_b.delivered) == sorted(ids)
    assert not set(report_a.delivered) & set(report_b.delivered)
    if app.db.is_postgres:  # SKIP LOCKED: both really worked at once instead of queueing
        assert report_a.delivered and report_b.delivered
    assert (await loop_a.run_once(NOW)).claimed == 0 and (await loop_b_again(db_url, app, clock)).claimed == 0


async def claimed_ids(session, **options) -> list[int]:
    """`queue.claim_loaded` (what the loop claims with), as ids."""
    return [r.id for r in await queue.claim_loaded(session, **options)]


@pytest.mark.parametrize("claim", [queue.claim, claimed_ids], ids=["claim", "claim_loaded"])
async def test_two_batch_claims_at_once_never_take_the_same_row(app, db_url, clock, claim):
    """One statement claims many rows: a second worker claiming while the first's claim is not
    yet committed gets other rows (PostgreSQL: at once, skipping the locked ones; SQLite: once
    the one writer is done, re-checking what it picked), and together they take each row once,
    no claim more than its limit."""
    alice = await member(app, "Alice")
    ids = await followups(app, alice, [NOW - timedelta(seconds=i) for i in range(50)])
    other_db = open_database(db_url)  # a second worker: its own engine and connections
    lease = timedelta(seconds=6)
    try:
        async with app.db.sessions() as first, first.begin():
            mine = await claim(first, worker="a", now=NOW, lease=lease, limit=30, platforms=["console"],
                               postgres=app.db.is_postgres)

            async def rival() -> list[int]:
                async with other_db.sessions() as second, second.begin():
                    return await claim(second, worker="b", now=NOW, lease=lease, limit=30, platforms=["console"],
                                       postgres=app.db.is_postgres)

            theirs = asyncio.ensure_future(rival())
            if app.db.is_postgres:  # SKIP LOCKED: no waiting for the first claim's commit
                await asyncio.wait_for(asyncio.shield(theirs), 10)
            else:
                await asyncio.sleep(0)
        theirs = await asyncio.wait_for(theirs, 10)
    finally:
        await other_db.close()
    assert len(mine) == 30 and len(theirs) == 20
    assert not set(mine) & set(theirs) and sorted(mine + theirs) == sorted(ids)
    assert {(await row(app, i)).claimed_by for i in theirs} == {"b"}


async def test_a_loaded_claim_brings_each_rows_member_and_only_a_live_customer_of_its_team(app, clock, caplog):
    """The loop's claim returns the rows oldest first, each with its member's language and zone
    and its customer (none when deleted, or of another team); it takes over a lapsed lease and
    says so."""
    alice = await member(app, "Alice", tz="Asia/Tokyo")
    stranger = await member(app, "Stranger", team_name="Other team")
    async with app.db.sessions() as session, session.begin():
        live = models.Customer(team_id=alice.team_id, name="Jan Novák", company="Acme", created_at=NOW, updated_at=NOW)
        gone = models.Customer(team_id=alice.team_id, name="Old Client", created_at=NOW, updated_at=NOW, deleted_at=NOW)
        foreign = models.Customer(team_id=stranger.team_id, name="Not Ours", created_at=NOW, updated_at=NOW)
        session.add_all([live, gone, foreign])
        await session.flush()
        made = [models.FollowUp(team_id=alice.team_id, member_id=alice.id, customer_id=customer, due_at=NOW - timedelta(minutes=n),
                                note=f"n{n}", state="pending", created_at=NOW - timedelta(days=1), attempts=0, late=False)
                for n, customer in enumerate([live.id, gone.id, foreign.id, None])]
        made[0].claimed_by, made[0].claim_expires_at = "crashed", NOW - timedelta(seconds=2)  # a lapsed lease
        session.add_all(made)
        await session.flush()
        ids = [f.id for f in made]
    caplog.set_level(logging.INFO, logger="crmbot.reminders.queue")
    async with app.db.sessions() as session, session.begin():
        rows = await queue.claim_loaded(session, worker="w", now=NOW, lease=timedelta(seconds=6), limit=10,
                                        platforms=["console"], postgres=app.db.is_postgres)
    assert [r.id for r in rows] == ids[::-1]  # oldest due first
    by_id = {r.id: r for r in rows}
    assert {queue.reader(r) for r in rows} == {queue.Reader(alice.id, alice.team_id, "en", "Asia/Tokyo")}
    assert queue.about(by_id[ids[0]]).display_name == "Jan Novák (Acme)"
    assert [queue.about(by_id[i]) for i in ids[1:]] == [None, None, None]
    assert all(r.claimed_by == "w" and r.claim_expires_at == NOW + timedelta(seconds=6) for r in rows)
    assert {(await row(app, i)).claimed_by for i in ids} == {"w"}
    assert any(f"{ids[0]} taken over: the lease of crashed" in m for m in caplog.messages)


async def test_a_burst_is_recorded_a_batch_at_a_time_and_every_reminder_once(app, clock):
    """Many due at once: handed to the platform without a transaction each, the records
    written together; each reminder sent once and recorded."""
    alice = await member(app, "Alice")
    ids = await followups(app, alice, [NOW - timedelta(seconds=i % 7) for i in range(120)])
    platform = RecordingPlatform()
    marks = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("UPDATE FOLLOWUPS SET DELIVERED_AT"):
            marks.append(statement)

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        report = await loop_for(app, platform, clock, worker_id="w", batch_size=8).run_once(NOW)
    finally:
        event.remove(app.db.engine.sync_engine, "before_cursor_execute", seen)
    assert sorted(report.delivered) == sorted(ids) and not report.lost and not report.released
    assert Counter(note_of(r) for r in platform.reminders()) == {f"fu-{i}": 1 for i in range(120)}
    async with app.db.sessions() as session:
        recorded = set(await session.scalars(select(models.FollowUp.id).where(models.FollowUp.delivered_at == NOW)))
    assert recorded == set(ids)
    # the first claims (8, then 16) go one record at a time; the burst's records share commits
    assert len(marks) <= 8 + 120 // 4, len(marks)


async def loop_b_again(db_url, app, clock):
    db = open_database(db_url)
    try:
        return await ReminderLoop(db, app.i18n, {"console": RecordingPlatform()}, clock, digests_enabled=False).run_once(NOW)
    finally:
        await db.close()


async def test_a_crash_mid_send_leaves_the_short_lease_to_expire_and_the_row_is_sent_again(app, clock):
    alice = await member(app, "Alice")
    [fid] = await followups(app, alice, [NOW])
    stuck = RecordingPlatform()
    stuck.hang = asyncio.Event()
    crashed = asyncio.ensure_future(loop_for(app, stuck, clock, worker_id="dies").run_once(NOW))
    await asyncio.wait_for(stuck.arrived.wait(), 10)
    crashed.cancel()  # the process dies after the claim, before the platform answered
    with pytest.raises(asyncio.CancelledError):
        await crashed
    claimed = await row(app, fid)
    assert claimed.claimed_by == "dies" and claimed.delivered_at is None
    assert claimed.claim_expires_at == NOW + timedelta(seconds=6)  # the default lease: seconds, not minutes

    platform = RecordingPlatform()
    survivor = loop_for(app, platform, clock, worker_id="lives")
    assert (await survivor.run_once(NOW + timedelta(seconds=5))).claimed == 0  # the lease still holds
    assert await survivor.seconds_to_next(NOW + timedelta(seconds=5, milliseconds=500)) == pytest.approx(0.5)
    report = await survivor.run_once(NOW + timedelta(seconds=6))
    assert report.delivered == [fid] and len(platform.sent) == 1
    assert (await row(app, fid)).claimed_by == "lives"


class SlowPlatform(RecordingPlatform):
    """Takes the message at once but answers only after `answer_after` seconds (a slow Bot API)."""

    def __init__(self, answer_after: float) -> None:
        super().__init__()
        self.answer_after = answer_after

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        self.sent.append((chat, list(replies)))
        self.arrived.set()
        await asyncio.sleep(self.answer_after)


async def test_a_slow_send_keeps_its_lease_and_a_crashed_one_is_retaken_within_the_lease(app):
    """Real time here: the lease is renewed by its holder every third of a lease while it sends."""
    from datetime import datetime as wall

    real = lambda: wall.now(timezone.utc)  # noqa: E731
    alice = await member(app, "Alice")
    [fid] = await followups(app, alice, [real() - timedelta(seconds=1)])
    lease = 0.5  # renewed every ~0.17 s: a busy machine's event loop stalls for less than that
    slow = SlowPlatform(answer_after=1.5)  # three leases long
    other = RecordingPlatform()
    holder = asyncio.ensure_future(loop_for(app, slow, real, worker_id="slow", lease_seconds=lease).run_once())
    rival = loop_for(app, other, real, worker_id="rival", lease_seconds=lease)
    await asyncio.wait_for(slow.arrived.wait(), 10)
    while not holder.done():  # the rival keeps trying all along: the row is never free
        assert (await rival.run_once()).claimed == 0
        await asyncio.sleep(0.05)
    assert (await holder).delivered == [fid]
    assert len(slow.sent) == 1 and other.sent == []

    # the same, but the holder dies mid-send: renewals stop, and within one lease the row is taken
    [again] = await followups(app, alice, [real() - timedelta(seconds=1)], note="again")
    stuck = RecordingPlatform()
    stuck.hang = asyncio.Event()
    dying = asyncio.ensure_future(loop_for(app, stuck, real, worker_id="dies", lease_seconds=lease).run_once())
    await asyncio.wait_for(stuck.arrived.wait(), 10)
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying
    died = asyncio.get_running_loop().time()
    while not (await rival.run_once()).delivered:
        await asyncio.sleep(0.02)
    assert asyncio.get_running_loop().time() - died <= lease + 0.4
    assert [note_of(r) for r in other.reminders()] == ["again-0"]


class HoldsTheLoop(RecordingPlatform):
    """Takes the reminder only after holding the event loop (a synchronous stall: a heavy
    message, a starved machine) for `stall` seconds; reads the row's lease as another worker
    would see it at that moment, before the loop runs again."""

    def __init__(self, engine, stall: float) -> None:
        super().__init__()
        self.engine, self.stall = engine, stall
        self.lease_seen: tuple[datetime, datetime] | None = None  # (expiry, when read)

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        time.sleep(self.stall)  # the loop is held: no task of it runs
        with self.engine.connect() as connection:
            expiry = connection.execute(select(models.FollowUp.claim_expires_at)).scalar_one()
        self.lease_seen = (expiry.replace(tzinfo=timezone.utc) if expiry.tzinfo is None else expiry,
                           datetime.now(timezone.utc))
        await super().send(chat, replies)


async def test_a_lease_is_renewed_while_the_event_loop_is_held_for_longer_than_the_lease(sqlite_app):
    """Real time: the renewals run in a thread of their own, so a send during which the loop is
    held for three leases still holds its row (another worker would have started it again)."""
    real = lambda: datetime.now(timezone.utc)  # noqa: E731
    alice = await member(sqlite_app, "Alice")
    [fid] = await followups(sqlite_app, alice, [real() - timedelta(seconds=1)])
    lease = 0.4
    platform = HoldsTheLoop(sqlite_app.db.sync_engine(), stall=3 * lease)
    report = await loop_for(sqlite_app, platform, real, worker_id="held", lease_seconds=lease).run_once()
    assert report.delivered == [fid] and len(platform.sent) == 1
    expiry, seen = platform.lease_seen
    assert expiry > seen  # still ours when the loop came back: renewed while it was held


async def test_a_delivery_record_waits_for_the_write_in_progress_never_for_the_writers_queued_behind_it(tmp_path):
    """SQLite has one writer: a worker catching up on messages after a restart queues them for
    it, and the record that the platform took a reminder (until it commits, a crash sends that
    reminder again) goes before all of them; the writers behind it keep their order, and one
    that gives up waiting leaves the queue."""
    db = open_database(str(tmp_path / "turns.db"))
    order: list[str] = []
    writing = asyncio.Event()
    done_writing = asyncio.Event()

    async def write(name: str, *, urgent: bool = False, hold: asyncio.Event | None = None) -> None:
        async with db.writer_turn(urgent=urgent):
            order.append(name)
            if hold is not None:
                writing.set()
                await hold.wait()

    try:
        first = asyncio.ensure_future(write("message 1", hold=done_writing))
        await writing.wait()
        queued = [asyncio.ensure_future(write(f"message {n}")) for n in (2, 3, 4)]
        await asyncio.sleep(0)  # they queue up for the writer
        queued[1].cancel()  # a message whose handling was cancelled while it waited
        record = asyncio.ensure_future(write("reminder delivered", urgent=True))
        await asyncio.sleep(0)
        done_writing.set()
        await asyncio.gather(first, record, queued[0], queued[2])
        assert order == ["message 1", "reminder delivered", "message 2", "message 4"]
        async with db.writer_turn():  # free again
            order.append("later")
        assert order[-1] == "later"
    finally:
        await db.close()


@pytest.fixture
async def sqlite_app(sqlite_db_url, clock):
    built = build(Settings(), db=sqlite_db_url, clock=clock)
    yield built
    await built.close()


class AMessageComesMeanwhile(RecordingPlatform):
    """While the reminder's request is on its way to the platform, a member's message arrives
    (a restarted worker catching up on its backlog). The platform takes the reminder once the
    message's handling is done, or after `turns` rounds of the event loop (a network round trip
    during which the loop is free), whichever comes first; `waits_for_message`: only once it is
    done (a slow platform)."""

    def __init__(self, chat: ConsoleChat, *, turns: int = 1000, waits_for_message: bool = False) -> None:
        super().__init__()
        self.chat = chat
        self.turns = turns
        self.waits_for_message = waits_for_message
        self.message: asyncio.Future | None = None
        self.handled_before_answer: bool | None = None

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        if self.message is None:
            self.message = asyncio.ensure_future(self.chat.send("/help"))
            if self.waits_for_message:
                await self.message
            for _ in range(self.turns):
                if self.message.done():
                    break
                await asyncio.sleep(0)
            self.handled_before_answer = self.message.done()
        await super().send(chat, replies)


async def test_no_message_is_handled_between_a_reminders_send_and_its_record(sqlite_app, clock):
    """SQLite: a message handled while a reminder's send is in flight held the event loop and the
    file (its parse, its transaction) while the platform's answer waited, unread, to be recorded:
    under load a good part of a second in which a kill sends the reminder twice. The send takes
    the writer's turn first, so the message is handled after the record."""
    alice = await member(sqlite_app, "Alice")
    [fid] = await followups(sqlite_app, alice, [NOW])
    platform = AMessageComesMeanwhile(ConsoleChat(sqlite_app.bot, "alice"))
    report = await loop_for(sqlite_app, platform, clock, overlap_after_seconds=600).run_once(NOW)
    assert report.delivered == [fid] and len(platform.reminders()) == 1
    assert platform.handled_before_answer is False
    assert await asyncio.wait_for(platform.message, 30)  # handled, and answered, after the record
    assert (await row(sqlite_app, fid)).delivered_at is not None


async def test_a_slow_send_lets_the_messages_be_handled_meanwhile(sqlite_app, clock):
    """A platform slow to answer (late by seconds) does not hold the messages back: past
    `overlap_after` the send gives back the writer's turn, and its record takes one of its own."""
    alice = await member(sqlite_app, "Alice")
    [fid] = await followups(sqlite_app, alice, [NOW])
    platform = AMessageComesMeanwhile(ConsoleChat(sqlite_app.bot, "alice"), waits_for_message=True)
    loop = loop_for(sqlite_app, platform, clock, overlap_after_seconds=0.01)
    report = await asyncio.wait_for(loop.run_once(NOW), 30)
    assert report.delivered == [fid] and platform.handled_before_answer is True
    assert await platform.message
    assert (await row(sqlite_app, fid)).delivered_at is not None


class SlowThenQuick(RecordingPlatform):
    """The first send is slow: the second begins beside it, and while the second is in flight
    the platform answers the first."""

    def __init__(self) -> None:
        super().__init__()
        self.first_answered = asyncio.Event()

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        if self.attempts == 0:
            self.attempts += 1
            await self.first_answered.wait()
        else:
            self.attempts += 1
            self.first_answered.set()
            for _ in range(100):  # the first one's record comes to wait for the writer
                await asyncio.sleep(0)
        self.sent.append((chat, list(replies)))


async def test_a_send_holding_the_writers_turn_never_waits_behind_a_record_that_waits_for_it(sqlite_app, clock):
    """A slow send gives the writer's turn back and the next send begins beside it; the first
    one's answer came while the second held the turn, its record waited for that turn, and the
    second's record waited behind it: the pass, and every message, waited for ever (fault run d,
    the 429 phase). Each record is written, in the holder's turn when it lends it."""
    alice = await member(sqlite_app, "Alice")
    ids = await followups(sqlite_app, alice, [NOW, NOW + timedelta(seconds=1)])
    platform = SlowThenQuick()
    loop = loop_for(sqlite_app, platform, clock, overlap_after_seconds=0.01)
    report = await asyncio.wait_for(loop.run_once(NOW + timedelta(seconds=2)), 30)
    assert sorted(report.delivered) == ids and len(platform.sent) == 2
    assert await asyncio.wait_for(ConsoleChat(sqlite_app.bot, "alice").send("/help"), 30)  # the writer is free


async def test_a_lease_renewal_goes_before_the_messages_waiting_for_the_writer(tmp_path):
    """SQLite: a worker catching up on messages queues them for the one writer; the renewal
    of a claim in flight goes before them (it waits for the one being written), or a stream
    of messages could keep it from the file until the lease ran out."""
    db = open_database(str(tmp_path / "renewal.db"))
    order: list[str] = []
    release = asyncio.Event()

    async def message(name: str, hold: asyncio.Event | None = None) -> None:
        async with db.writer_turn():
            order.append(name)
            if hold is not None:
                await hold.wait()

    async def renew(session, until) -> None:
        order.append("renewal")

    try:
        first = asyncio.ensure_future(message("message 1", release))
        await asyncio.sleep(0)
        queued = [asyncio.ensure_future(message(f"message {n}")) for n in (2, 3)]
        async with Renewal(db, timedelta(seconds=0.03), lambda: NOW, renew):
            turns = next(iter(db._turns.values()))
            await asyncio.wait_for(wait_until(lambda: turns.waiting == 3), 10)  # the renewal queued too
            release.set()
            await asyncio.gather(first, *queued)
        assert order[:4] == ["message 1", "renewal", "message 2", "message 3"]
    finally:
        await db.close()


class LocksTheFile(RecordingPlatform):
    """Takes the reminder, and at that moment another process locks the SQLite file (the
    database goes away between the platform's "ok" and our record)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.holder: sqlite3.Connection | None = None

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        await super().send(chat, replies)
        self.holder = sqlite3.connect(self.path, isolation_level=None)
        self.holder.execute("BEGIN EXCLUSIVE")

    def back(self) -> None:
        self.holder.execute("ROLLBACK")
        self.holder.close()


async def test_a_delivery_the_database_could_not_record_is_recorded_when_it_is_back_not_sent_again(
        sqlite_app, sqlite_db_url, clock, caplog):
    """PostgreSQL stopped (fault run e) just as the platform took a reminder: the record failed,
    the lease ran out, and the reminder went out again. The worker that sent it keeps trying to
    record it, and writes it the moment the database is back."""
    await impatient(sqlite_app)
    alice = await member(sqlite_app, "Alice")
    [fid] = await followups(sqlite_app, alice, [NOW])
    platform = LocksTheFile(make_url(sqlite_db_url).database)
    delivering = asyncio.ensure_future(loop_for(sqlite_app, platform, clock).run_once(NOW))
    try:
        await asyncio.wait_for(wait_until(lambda: "could not be recorded" in caplog.text), 10)
    finally:
        platform.back()
    assert (await asyncio.wait_for(delivering, 10)).delivered == [fid]
    assert (await row(sqlite_app, fid)).delivered_at is not None
    rival = RecordingPlatform()
    assert (await loop_for(sqlite_app, rival, clock, worker_id="rival").run_once(NOW + timedelta(minutes=1))).claimed == 0
    assert len(platform.reminders()) == 1 and rival.sent == []


async def test_a_kept_reply_the_database_could_not_delete_is_deleted_when_it_is_back_not_sent_again(
        sqlite_app, sqlite_db_url, clock, caplog):
    """A kept reply the platform took as the database went away: its delete failed, the pass
    ended, the row stayed claimed and went out again once its lease ran out. The worker that
    sent it deletes it the moment the database is back; nobody sends it again."""
    await impatient(sqlite_app)
    await outbox.keep(sqlite_app.db, ChatRef("console", "chat-1"), [Reply("kept answer")], NOW)
    platform = LocksTheFile(make_url(sqlite_db_url).database)
    sending = asyncio.ensure_future(loop_for(sqlite_app, platform, clock).replies.run_once(NOW))
    try:
        await asyncio.wait_for(wait_until(lambda: "could not be deleted" in caplog.text), 10)
    finally:
        platform.back()
    assert len((await asyncio.wait_for(sending, 10)).sent) == 1
    assert await kept(sqlite_app) == {}
    rival = RecordingPlatform()
    assert (await loop_for(sqlite_app, rival, clock, worker_id="rival").replies.run_once(NOW + timedelta(minutes=1))).sent == []
    assert len(platform.sent) == 1 and rival.sent == []


class OneAtATime(RecordingPlatform):
    """Takes each message at once; the send after `hang_from` accepted ones hangs until `hang` is set."""

    def __init__(self, hang_from: int) -> None:
        super().__init__()
        self.hang_from = hang_from
        self.hang = asyncio.Event()
        self.hanging = asyncio.Event()

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        self.attempts += 1
        if len(self.sent) >= self.hang_from:
            self.hanging.set()
            await self.hang.wait()
        self.sent.append((chat, list(replies)))


async def test_each_accepted_reminder_is_recorded_before_a_crash_can_catch_it(app, clock):
    """One send, then its own commit: a worker dying while its next reminder is in flight has
    recorded the ones the platform took, and only the one in flight can go out twice."""
    alice = await member(app, "Alice")
    first, in_flight = await followups(app, alice, [NOW, NOW + timedelta(seconds=1)])
    platform = OneAtATime(hang_from=1)
    dying = asyncio.ensure_future(loop_for(app, platform, clock, worker_id="dies", concurrency=1).run_once(NOW + timedelta(seconds=1)))
    await asyncio.wait_for(platform.hanging.wait(), 10)
    assert (await row(app, first)).delivered_at is not None  # recorded while the next send is in flight
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying

    survivor = RecordingPlatform()
    report = await loop_for(app, survivor, clock, worker_id="lives").run_once(NOW + timedelta(seconds=20))
    assert report.delivered == [in_flight] and [note_of(r) for r in survivor.reminders()] == ["fu-1"]


async def test_no_send_begins_on_a_lease_that_could_not_be_renewed(app, clock):
    """The injected clock runs ahead of the renewals (as when they fail): the claimed rows whose
    sends have not begun are left to the worker that takes them after the lease, never sent by
    both."""
    alice = await member(app, "Alice")
    first, second = await followups(app, alice, [NOW, NOW])
    platform = OneAtATime(hang_from=0)
    holder = asyncio.ensure_future(loop_for(app, platform, clock, worker_id="slow", concurrency=1).run_once())
    await asyncio.wait_for(platform.hanging.wait(), 10)
    clock.now = NOW + timedelta(seconds=7)  # past the 6 s lease, no renewal written yet
    rival = RecordingPlatform()
    taken = await loop_for(app, rival, clock, worker_id="rival").run_once()
    assert sorted(taken.delivered) == [first, second]
    platform.hang.set()
    report = await asyncio.wait_for(holder, 10)
    assert report.released == [second]  # not begun: the lease was no longer surely ours
    assert report.lost == [first]  # in flight as the lease lapsed: the one that can go out twice
    assert Counter(note_of(r) for r in [*platform.reminders(), *rival.reminders()]) == {"fu-0": 2, "fu-1": 1}


async def test_overdue_rows_at_start_up_go_out_at_once_marked_late(app, clock):
    alice = await member(app, "Alice")
    [overdue, on_time] = await followups(app, alice, [NOW - timedelta(hours=2), NOW - timedelta(seconds=5)])
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, poll_seconds=3600)
    stop = asyncio.Event()
    running = asyncio.ensure_future(loop.run(stop))
    try:
        await asyncio.wait_for(wait_until(lambda: len(platform.sent) == 2), 10)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert (await row(app, overdue)).late is True and (await row(app, on_time)).late is False
    late_text = next(r.text for r in platform.reminders() if "fu-0" in r.text)
    assert "delivered late" in late_text
    assert "late" not in next(r.text for r in platform.reminders() if "fu-1" in r.text)


async def wait_until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_sleep_is_until_the_next_due_row_not_a_fixed_tick(app, clock):
    alice = await member(app, "Alice")
    await followups(app, alice, [NOW + timedelta(seconds=2.5), NOW + timedelta(hours=1)])
    loop = loop_for(app, RecordingPlatform(), clock, poll_seconds=30)
    assert await loop.seconds_to_next(NOW) == pytest.approx(2.5)
    assert await loop.seconds_to_next(NOW + timedelta(seconds=3)) == 30  # capped by the poll interval
    assert await loop_for(app, RecordingPlatform(), clock, poll_seconds=0.5).seconds_to_next(NOW) == 0.5


# -- failures ---------------------------------------------------------------------------------------


async def test_an_outage_is_retried_with_jittered_capped_backoff_for_days_then_arrives_marked_late(app, clock):
    alice = await member(app, "Alice")
    [fid] = await followups(app, alice, [NOW])
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, backoff_seconds=30, max_backoff_seconds=600, rng=random.Random(7))

    now, waits = NOW, []
    for attempt in range(1, 9):  # the platform answers 500 for an hour and a half
        platform.refusals.append(DeliveryFailed("Internal Server Error"))
        assert (await loop.run_once(now)).retrying == [fid]
        failed = await row(app, fid)
        assert failed.attempts == attempt and failed.claimed_by is None and failed.last_error == "Internal Server Error"
        wait = (failed.next_attempt_at - now).total_seconds()
        ceiling = min(600, 30 * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling, (attempt, wait)  # exponential, capped, jittered
        assert (await loop.run_once(now + timedelta(seconds=wait - 1))).claimed == 0  # backing off
        waits.append(wait)
        now = failed.next_attempt_at
    assert len(set(waits)) == len(waits)  # jitter: no two waits alike

    report = await loop.run_once(now)  # the platform is back
    assert report.delivered == [fid]
    delivered = await row(app, fid)
    assert delivered.late is True and delivered.state == "pending" and delivered.last_error is None
    assert "delivered late" in platform.reminders()[0].text


async def test_once_the_platform_takes_a_reminder_those_backing_off_from_its_outage_go_at_once(app, clock):
    alice = await member(app, "Alice")
    outage, limited, fresh = await followups(app, alice, [NOW, NOW, NOW + timedelta(minutes=10)])
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, backoff_seconds=3600, max_backoff_seconds=3600, rng=random.Random(3))
    platform.refusals.extend([DeliveryFailed("Internal Server Error"),
                              DeliveryFailed("Telegram rate limit: flood", retry_after=7200)])
    assert sorted((await loop.run_once(NOW)).retrying) == [outage, limited]
    assert (await row(app, outage)).next_attempt_at >= NOW + timedelta(minutes=30)  # backing off for long

    back = NOW + timedelta(minutes=10)  # the platform is back: a reminder falling due gets through
    report = await loop.run_once(back)
    assert report.delivered == [fresh] and report.platform_back == {"console"}
    assert (await row(app, outage)).next_attempt_at == back  # no longer minutes away
    assert (await row(app, limited)).next_attempt_at == NOW + timedelta(seconds=7200)  # the rate limit's wait is kept
    assert (await loop.run_once(back)).delivered == [outage]


async def kept(app) -> dict[str, models.PendingReply]:
    """The kept replies by their text."""
    async with app.db.sessions() as session:
        return {r.replies[0]["text"]: r for r in await session.scalars(select(models.PendingReply))}


async def test_once_the_platform_takes_anything_the_replies_kept_through_its_outage_go_at_once(app, clock):
    alice = await member(app, "Alice")
    for n, text in enumerate(["outage", "limited", "early"]):  # one chat each: none waits behind another
        await outbox.keep(app.db, ChatRef("console", f"chat-{n}"), [Reply(text)], NOW)
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, backoff_seconds=3600, max_backoff_seconds=3600, rng=random.Random(3))
    platform.refusals.extend([DeliveryFailed("Internal Server Error"),
                              DeliveryFailed("Telegram rate limit: flood", retry_after=7200),
                              DeliveryFailed("Internal Server Error")])
    assert len((await loop.run_once(NOW)).replies.retrying) == 3
    rows = await kept(app)
    assert rows["outage"].next_attempt_at >= NOW + timedelta(minutes=30)  # backing off for long

    # the platform is back: a reminder falling due gets through, and the kept replies follow
    [fid] = await followups(app, alice, [NOW + timedelta(minutes=10)])
    back = NOW + timedelta(minutes=10)
    assert (await loop.run_once(back)).delivered == [fid]
    rows = await kept(app)
    assert rows["outage"].next_attempt_at == back and rows["early"].next_attempt_at == back
    assert rows["limited"].next_attempt_at == NOW + timedelta(seconds=7200)  # the rate limit's wait is kept
    assert [t for t in platform.texts() if not t.startswith("⏰")] == []  # they go in the next pass
    assert len((await loop.run_once(back)).replies.sent) == 2
    assert sorted(t for t in platform.texts() if not t.startswith("⏰")) == ["early", "outage"]


async def backing_off(app, followup_id: int, until: datetime) -> None:
    """As another worker records a failed send: the row waits out a backoff until `until`."""
    async with app.db.sessions() as session, session.begin():
        await session.execute(update(models.FollowUp).where(models.FollowUp.id == followup_id)
                              .values(next_attempt_at=until, last_error="Internal Server Error", attempts=1))


async def test_the_backoffs_are_looked_for_again_seconds_after_a_look_that_found_none_at_once_after_a_failure(app, clock):
    alice = await member(app, "Alice")
    first, second, elsewhere, third, fourth = await followups(
        app, alice, [NOW, NOW + timedelta(seconds=1), NOW + timedelta(hours=5), NOW + timedelta(seconds=6), NOW + timedelta(seconds=7)])
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, backoff_seconds=3600, max_backoff_seconds=3600)
    assert (await loop.run_once(NOW)).delivered == [first]  # nothing backs off: looked for, none found
    await backing_off(app, elsewhere, NOW + timedelta(hours=1))  # another worker's failed send
    soon = NOW + timedelta(seconds=1)
    assert (await loop.run_once(soon)).delivered == [second]
    assert (await row(app, elsewhere)).next_attempt_at == NOW + timedelta(hours=1)  # not looked for again so soon
    later_on = NOW + timedelta(seconds=6)
    assert (await loop.run_once(later_on)).delivered == [third]
    assert (await row(app, elsewhere)).next_attempt_at == later_on  # seconds later it is
    await backing_off(app, elsewhere, NOW + timedelta(hours=1))
    platform.refusals.append(DeliveryFailed("Internal Server Error"))
    assert (await loop.run_once(NOW + timedelta(seconds=7))).retrying == [fourth]  # a send of ours failed
    after = NOW + timedelta(seconds=8)
    [fifth] = await followups(app, alice, [after])
    assert (await loop.run_once(after)).delivered == [fifth]
    assert (await row(app, elsewhere)).next_attempt_at == after  # looked for at once


async def test_the_reminders_backing_off_come_forward_before_the_kept_replies(app, clock):
    """Both at once, hundreds of kept replies took most of the platform's rate and the reminders
    were late: the kept replies come forward once no reminder is backing off any more."""
    alice = await member(app, "Alice")
    [waiting] = await followups(app, alice, [NOW])
    await outbox.keep(app.db, ChatRef("console", "chat"), [Reply("kept")], NOW)
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, backoff_seconds=3600, max_backoff_seconds=3600)
    platform.refusals.extend([DeliveryFailed("Internal Server Error")] * 2)
    report = await loop.run_once(NOW)
    assert report.retrying == [waiting] and len(report.replies.retrying) == 1

    back = NOW + timedelta(minutes=1)
    [fresh] = await followups(app, alice, [back])
    assert (await loop.run_once(back)).delivered == [fresh]  # the platform is back
    assert (await row(app, waiting)).next_attempt_at == back  # the reminder first
    assert (await kept(app))["kept"].next_attempt_at > back + timedelta(minutes=20)
    assert (await loop.run_once(back)).delivered == [waiting]
    assert (await kept(app))["kept"].next_attempt_at == back  # then the kept reply
    assert len((await loop.run_once(back)).replies.sent) == 1


async def test_a_kept_reply_the_platform_takes_brings_the_others_forward(app, clock):
    await outbox.keep(app.db, ChatRef("console", "early"), [Reply("early")], NOW)
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, backoff_seconds=60, max_backoff_seconds=3600, rng=random.Random(5))
    now = NOW
    for _ in range(5):  # a long outage: it backs off further and further
        platform.refusals.append(DeliveryFailed("Internal Server Error"))
        assert len((await loop.run_once(now)).replies.retrying) == 1
        now = (await kept(app))["early"].next_attempt_at
    now -= timedelta(minutes=5)  # the platform is back; the early reply waits for 5 more minutes
    await outbox.keep(app.db, ChatRef("console", "late"), [Reply("late")], now)  # kept in the outage's last seconds
    rows = await kept(app)
    report = await loop.run_once(now)  # the late one goes, and brings the early one forward
    assert report.replies.sent == [rows["late"].id] and report.replies.hurried == 1
    assert (await loop.run_once(now)).replies.sent == [rows["early"].id]
    assert platform.texts() == ["late", "early"]


async def test_a_rate_limit_after_a_long_outage_waits_what_the_platform_asks_not_the_backoff(app, clock):
    await outbox.keep(app.db, ChatRef("console", "chat"), [Reply("kept")], NOW)
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, backoff_seconds=5, max_backoff_seconds=300)
    now = NOW
    for _ in range(8):
        platform.refusals.append(DeliveryFailed("Internal Server Error"))
        await loop.run_once(now)
        now = (await kept(app))["kept"].next_attempt_at
    platform.refusals.append(DeliveryFailed("Telegram rate limit: flood", retry_after=5))
    await loop.run_once(now)
    assert (await kept(app))["kept"].next_attempt_at == now + timedelta(seconds=5)  # not up to 5 minutes
    assert len((await loop.run_once(now + timedelta(seconds=5))).replies.sent) == 1


async def test_kept_replies_a_slow_platform_is_taking_never_hold_back_a_reminder(app, clock):
    """Fault run d: with the Bot API answering 8 s late, a pass sending 50 kept replies took 40 s,
    and the reminders falling due meanwhile waited for it (37 s late). They go beside it now."""
    alice = await member(app, "Alice")
    [fid] = await followups(app, alice, [NOW + timedelta(seconds=10)])
    slow = RecordingPlatform("slack")
    slow.hang = asyncio.Event()  # the kept reply's send does not end until released
    await outbox.keep(app.db, ChatRef("slack", "C0SALES"), [Reply("kept")], NOW)
    platform = RecordingPlatform()
    loop = ReminderLoop(app.db, app.i18n, {"console": platform, "slack": slow}, clock, digests_enabled=False,
                        poll_seconds=3600)
    stop = asyncio.Event()
    running = asyncio.ensure_future(loop.run(stop))
    try:
        await asyncio.wait_for(slow.arrived.wait(), 10)  # the kept reply is being sent
        clock.now = NOW + timedelta(seconds=10)  # the reminder falls due
        loop.wake()
        await asyncio.wait_for(wait_until(lambda: platform.reminders()), 10)
        assert slow.sent == []  # the kept reply is still in flight
    finally:
        stop.set()
        slow.hang.set()
        await asyncio.wait_for(running, 10)
    assert (await row(app, fid)).delivered_at == NOW + timedelta(seconds=10)
    assert [r.text for _, replies in slow.sent for r in replies] == ["kept"]


class Tallying(RecordingPlatform):
    """Reminders hang until `release` is set; kept replies are taken at once (yielding as a
    network call would), and the most kept replies in flight at once is noted."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.kept_in_flight = self.most_kept_in_flight = 0

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        if replies[0].text.startswith("⏰"):
            self.arrived.set()
            await self.release.wait()
        else:
            self.kept_in_flight += 1
            self.most_kept_in_flight = max(self.most_kept_in_flight, self.kept_in_flight)
            for _ in range(3):
                await asyncio.sleep(0)
            self.kept_in_flight -= 1
        self.sent.append((chat, list(replies)))


async def test_kept_replies_go_one_at_a_time_while_reminders_go_out_through_their_platform(app, clock):
    """After an outage hundreds of kept replies came due with the reminders, and took most of
    Telegram's 30 messages a second: the reminders were late. They give way now, and still move."""
    alice = await member(app, "Alice")
    [fid] = await followups(app, alice, [NOW])
    for n in range(4):
        await outbox.keep(app.db, ChatRef("console", f"chat-{n}"), [Reply(f"kept {n}")], NOW)
    platform = Tallying()
    loop = loop_for(app, platform, clock)
    reminding = asyncio.ensure_future(loop.run_once(NOW, replies=False))
    try:
        await asyncio.wait_for(platform.arrived.wait(), 10)  # a reminder is going out
        assert len((await loop.replies.run_once(NOW)).sent) == 4
        assert platform.most_kept_in_flight == 1
    finally:
        platform.release.set()
    assert (await asyncio.wait_for(reminding, 10)).delivered == [fid]

    platform.most_kept_in_flight = 0  # no reminder going out: side by side again
    for n in range(4):
        await outbox.keep(app.db, ChatRef("console", f"chat-{n}"), [Reply(f"again {n}")], NOW)
    assert len((await loop.replies.run_once(NOW)).sent) == 4
    assert platform.most_kept_in_flight > 1


class SlowForKept(RecordingPlatform):
    """Reminders hang until `release`; kept replies are taken only when `kept_release` is set
    (a platform answering every send 8 s late); `kept_started` counts kept sends begun."""

    def __init__(self) -> None:
        super().__init__()
        self.release, self.kept_release = asyncio.Event(), asyncio.Event()
        self.kept_started = 0

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        if replies[0].text.startswith("⏰"):
            self.arrived.set()
            await self.release.wait()
        else:
            self.kept_started += 1
            await self.kept_release.wait()
        self.sent.append((chat, list(replies)))


async def test_a_slow_platform_takes_a_whole_batch_of_kept_replies_at_once(sqlite_app, clock):
    """After an outage, every chat's kept reply of a batch is in flight at once: a platform
    answering each in 8 s is not asked for them a few at a time."""
    for n in range(20):
        await outbox.keep(sqlite_app.db, ChatRef("console", f"chat-{n}"), [Reply(f"kept {n}")], NOW)
    platform = SlowForKept()
    loop = loop_for(sqlite_app, platform, clock)
    sending = asyncio.ensure_future(loop.replies.run_once(NOW))
    try:
        await asyncio.wait_for(wait_until(lambda: platform.kept_started == 20), 10)
    finally:
        platform.kept_release.set()
    assert len((await asyncio.wait_for(sending, 10)).sent) == 20


async def test_a_slow_platform_takes_kept_replies_side_by_side_even_while_reminders_go_out(sqlite_app, clock):
    """One at a time while reminders go out, but a kept reply in flight longer than
    `overlap_after` lets the next begin: waiting for each of a slow platform's answers in turn
    held kept replies back for a minute after an outage (fault run d, 8 s answers)."""
    alice = await member(sqlite_app, "Alice")
    [fid] = await followups(sqlite_app, alice, [NOW])
    for n in range(3):
        await outbox.keep(sqlite_app.db, ChatRef("console", f"chat-{n}"), [Reply(f"kept {n}")], NOW)
    platform = SlowForKept()
    loop = loop_for(sqlite_app, platform, clock, overlap_after_seconds=0.01)
    reminding = asyncio.ensure_future(loop.run_once(NOW, replies=False))
    try:
        await asyncio.wait_for(platform.arrived.wait(), 10)  # a reminder is going out
        sending = asyncio.ensure_future(loop.replies.run_once(NOW))
        await asyncio.wait_for(wait_until(lambda: platform.kept_started == 3), 10)  # none waits for another's answer
        platform.kept_release.set()
        assert len((await asyncio.wait_for(sending, 10)).sent) == 3
    finally:
        platform.release.set()
        platform.kept_release.set()
    assert (await asyncio.wait_for(reminding, 10)).delivered == [fid]


async def test_an_outage_never_ends_a_reminder_within_a_day_only_after_the_retry_window(app, clock):
    alice = await member(app, "Alice")
    [fid] = await followups(app, alice, [NOW])
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, retry_hours=72, rng=random.Random(3))
    for hours in (0, 1, 12, 24, 25, 71):
        platform.refusals.append(DeliveryFailed("Bad Gateway"))
        assert (await loop.run_once(NOW + timedelta(hours=hours))).retrying == [fid], hours
    platform.refusals.append(DeliveryFailed("Bad Gateway"))
    assert (await loop.run_once(NOW + timedelta(hours=72))).failed == [fid]
    gave_up = await row(app, fid)
    assert gave_up.state == "failed" and gave_up.attempts == 7 and gave_up.delivered_at is None
    assert (await loop.run_once(NOW + timedelta(days=4))).claimed == 0

    # the member hears about it in the next morning digest (Monday 08:30 Prague)
    digests = loop_for(app, platform, clock, digests_enabled=True)
    await digests.run_once(datetime(2026, 11, 30, 7, 31, tzinfo=timezone.utc))
    [digest] = [t for t in platform.texts() if "Good morning" in t]
    assert "couldn't deliver" in digest and "fu-0" in digest


async def test_platform_retry_after_and_permanent_refusals(app, clock, caplog):
    alice = await member(app, "Alice")
    boss = await member(app, "Mary", role="manager")
    [slow, blocked, flaky] = await followups(app, alice, [NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)])
    platform = RecordingPlatform()
    told: list = []

    async def announce(outgoing) -> None:
        told.extend(outgoing)

    loop = loop_for(app, platform, clock, backoff_seconds=30, announce=announce)

    platform.refusals.append(DeliveryFailed("Too Many Requests", retry_after=300))
    await loop.run_once(NOW)
    assert (await row(app, slow)).next_attempt_at == NOW + timedelta(seconds=300)

    platform.refusals.append(DeliveryFailed("bot was blocked by the user", permanent=True))
    with caplog.at_level(logging.WARNING, logger="crmbot.reminders.loop"):
        assert (await loop.run_once(NOW + timedelta(minutes=1))).failed == [blocked]
    assert (await row(app, blocked)).state == "failed"
    [warning] = [r for r in caplog.records if r.name == "crmbot.reminders.loop" and r.levelno == logging.WARNING]
    assert f"reminder {blocked} ended undelivered" in warning.getMessage() and "refused for good" in warning.getMessage()
    # a manager of the team hears of it, in their own chat; the member does not (the bot can't reach them)
    [notice] = told
    assert notice.chat == ChatRef("console", "mary") and boss.role == "manager"
    [text] = [r.text for r in notice.replies]
    assert "A reminder for Alice could not be delivered" in text and "bot was blocked by the user" in text
    assert "fu-1" in text

    platform.refusals.append(DeliveryFailed("timeout"))
    assert (await loop.run_once(NOW + timedelta(minutes=2))).retrying == [flaky]
    report = await loop.run_once(NOW + timedelta(minutes=5, seconds=1))
    assert sorted(report.delivered) == sorted([slow, flaky])
    assert (await row(app, flaky)).attempts == 2 and (await row(app, flaky)).last_error is None
    assert len(told) == 1  # retried rows are nobody's concern


# -- the buttons, pressed through Bot.handle ----------------------------------------------------


async def test_snooze_open_and_done_buttons(alice, demo, clock, unreminded):
    platform = RecordingPlatform()
    loop = loop_for(demo, platform, clock)
    await loop.run_once(NOW)
    [reminder] = platform.reminders()
    done, hour, _tomorrow, _week, open_customer = reminder.buttons
    async with demo.db.sessions() as session:
        fid = (await session.scalars(select(models.FollowUp).where(models.FollowUp.note.contains("camera")))).one().id

    snoozed = await alice.press(hour)
    assert "Snoozed until" in snoozed[0].text
    moved = await row(demo, fid)
    assert moved.due_at == NOW + timedelta(hours=1) and moved.delivered_at is None and moved.state == "pending"

    card = await alice.press(open_customer)  # its own set: still usable after the snooze
    assert "Petr Dvořák" in card[0].text and "+420 731 222 333" in card[0].text
    assert "Already done" in (await alice.press(done))[0].text  # its set was spent by the snooze

    assert (await loop.run_once(NOW + timedelta(minutes=59))).delivered == []
    clock.now = NOW + timedelta(hours=1)
    assert (await loop.run_once(clock.now)).delivered == [fid]
    again = platform.reminders()[-1]
    assert "delivered late" not in again.text
    closed = await alice.press(again.buttons[0])
    assert "Done" in closed[0].text
    finished = await row(demo, fid)
    assert finished.state == "done"
    async with demo.db.sessions() as session:
        notes = list(await session.scalars(select(models.Interaction).where(models.Interaction.summary.contains("camera count"))))
    assert len(notes) == 1 and notes[0].kind == "note"


async def test_snooze_until_tomorrow_morning_in_the_members_zone(alice, demo, clock, unreminded):
    platform = RecordingPlatform()
    loop = loop_for(demo, platform, clock)
    await loop.run_once(NOW)
    tomorrow = platform.reminders()[0].buttons[2]
    await alice.press(tomorrow)
    async with demo.db.sessions() as session:
        moved = (await session.scalars(select(models.FollowUp).where(models.FollowUp.note.contains("camera")))).one()
    assert moved.due_at == datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)  # 09:00 in Prague
    assert (await loop.run_once(datetime(2026, 11, 26, 7, 59, tzinfo=timezone.utc))).delivered == []
    assert (await loop.run_once(datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc))).delivered == [moved.id]


async def test_buttons_belong_to_their_member(alice, bob, demo, clock, unreminded):
    platform = RecordingPlatform()
    await loop_for(demo, platform, clock).run_once(NOW)
    [reminder] = platform.reminders()  # Alice's
    refused = await bob.press(reminder.buttons[0])
    assert "belongs to someone else" in refused[0].text
    async with demo.db.sessions() as session:
        assert (await session.scalars(select(models.FollowUp).where(models.FollowUp.note.contains("camera")))).one().state == "pending"


# -- digests across DST -------------------------------------------------------------------------------

# Thursday noon before a DST Sunday through the Tuesday after it, one pass every half hour (the
# clocks change on a Sunday, when no morning digest is due, so no digest time falls in a gap).
DST_CASES = [
    ("Europe/Prague", datetime(2026, 3, 26, 12, tzinfo=timezone.utc)),  # spring forward 29 Mar
    ("Europe/Prague", datetime(2026, 10, 22, 12, tzinfo=timezone.utc)),  # fall back 25 Oct
    ("America/New_York", datetime(2026, 3, 5, 12, tzinfo=timezone.utc)),  # spring forward 8 Mar
    ("America/New_York", datetime(2026, 10, 29, 12, tzinfo=timezone.utc)),  # fall back 1 Nov
]
TICK = timedelta(minutes=30)


# the schedule is worked out in Python: one case on PostgreSQL shows its claims alike there
@pytest.mark.sqlite_only
@pytest.mark.parametrize(("zone", "start"), [pytest.param(*case, marks=[pytest.mark.both_engines] if n == 0 else [])
                                             for n, case in enumerate(DST_CASES)], ids=[f"{z}-{s:%b}" for z, s in DST_CASES])
async def test_digests_across_dst_never_twice_never_skipped(app, clock, zone, start):
    people = {
        "early": await member(app, "Early", tz=zone, digest_time="02:30", role="manager", joined=start - timedelta(days=30)),
        "usual": await member(app, "Usual", tz=zone, digest_time="08:30", joined=start - timedelta(days=30)),
        "night": await member(app, "Night", tz=zone, digest_time="23:30", joined=start - timedelta(days=30)),
    }
    await followups(app, people["usual"], [start + timedelta(days=1, hours=15)], note="call Acme")
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, digests_enabled=True)
    sent: list[tuple[str, str, datetime]] = []
    tz = ZoneInfo(zone)
    end = start + timedelta(days=5)
    now = start
    while now < end:
        before = len(platform.sent)
        await loop.run_once(now)
        for chat, replies in platform.sent[before:]:
            for reply in replies:
                kind = {"weekly_summary": "weekly", "digest": "morning"}.get(reply.kind, "reminder")
                sent.append((chat.chat_id, kind, now))
        now += TICK

    by_day = Counter((who, kind, at.astimezone(tz).date()) for who, kind, at in sent)
    assert max(by_day.values()) == 1, [k for k, n in by_day.items() if n > 1]
    first_day, last_day = (start + timedelta(days=1)).astimezone(tz).date(), (end - timedelta(days=1)).astimezone(tz).date()
    day = first_day
    while day <= last_day:
        for person in people.values():
            assert by_day[(person.name.lower(), "morning", day)] == (1 if day.weekday() < 5 else 0), (person.name, day)
        weekly = by_day[("early", "weekly", day)]
        assert weekly == (1 if day.weekday() == 0 else 0), day
        day += timedelta(days=1)
    for who, kind, at in sent:
        local = at.astimezone(tz)
        if local.date() < first_day:
            continue  # the first evening is a catch-up: the loop "started" after that day's digest time
        if kind == "morning":
            wanted = {"early": (2, 30), "usual": (8, 30), "night": (23, 30)}[who]
            wall = local.hour * 60 + local.minute
            # sent at the first pass at or after the member's local time
            assert wanted[0] * 60 + wanted[1] <= wall < wanted[0] * 60 + wanted[1] + TICK.seconds // 60, (who, local)
        elif kind == "weekly":
            assert local.weekday() == 0 and (local.hour, local.minute) >= (9, 0) and local.hour == 9, local


async def test_a_digest_waits_for_the_first_day_after_joining_and_greets_by_the_local_hour(app, clock):
    await member(app, "Night", digest_time="23:30")  # Prague, joined 30 days ago
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, digests_enabled=True)
    await loop.run_once(datetime(2026, 11, 25, 22, 31, tzinfo=timezone.utc))  # Wednesday 23:31 in Prague
    [evening] = [r for _, replies in platform.sent for r in replies if r.kind == "digest"]
    assert "Hello, Night!" in evening.text and "Good morning" not in evening.text

    async with app.db.sessions() as session, session.begin():  # joins at 10:00, after a 08:30 digest time
        team = await teams.team_by_name(session, "Reminders")
        newcomer = await teams.create_member(session, team.id, "Newcomer", NOW, timezone="Europe/Prague")
        await teams.bind_identity(session, newcomer, "console", "newcomer", NOW, chat_id="newcomer")
    await loop.run_once(NOW + timedelta(minutes=5))
    assert not [chat for chat, _ in platform.sent if chat.chat_id == "newcomer"]
    await loop.run_once(datetime(2026, 11, 26, 7, 31, tzinfo=timezone.utc))  # Thursday 08:31 in Prague
    [morning] = [r for chat, replies in platform.sent if chat.chat_id == "newcomer" for r in replies]
    assert morning.kind == "digest" and "Good morning, Newcomer!" in morning.text


async def test_the_weekly_summary_comes_with_its_chart_and_names_who_is_at_risk(app, clock):
    boss = await member(app, "Mary", role="manager")
    async with app.db.sessions() as session, session.begin():
        quiet = models.Customer(team_id=boss.team_id, name="Quiet Ltd", status="customer", emails=[], phones=[],
                                created_at=NOW - timedelta(days=90), updated_at=NOW, rev=0)
        session.add(quiet)
        await session.flush()
        session.add(models.Deal(team_id=boss.team_id, customer_id=quiet.id, owner_id=boss.id, title="Stuck kiosk",
                                stage="proposal", amount_minor=100_00, currency="EUR",
                                created_at=NOW - timedelta(days=60), updated_at=NOW - timedelta(days=60)))
        session.add(models.Complaint(team_id=boss.team_id, customer_id=quiet.id, member_id=boss.id, text="late", status="open",
                                     severity="normal", created_at=NOW - timedelta(days=10)))
    platform = RecordingPlatform()
    loop = loop_for(app, platform, clock, digests_enabled=True)
    await loop.run_once(datetime(2026, 11, 30, 8, 1, tzinfo=timezone.utc))  # Monday 09:01 in Prague
    [weekly] = [r for _, replies in platform.sent for r in replies if r.kind == "weekly_summary"]
    assert "Gone quiet: Quiet Ltd" in weekly.text and "Deals with no move: Stuck kiosk (Quiet Ltd)" in weekly.text
    assert "Complaints open too long: Quiet Ltd (15 Nov 2026)" in weekly.text
    assert weekly.chart is None and weekly.image.data.startswith(b"\x89PNG")
    assert weekly.image.alt.startswith("Pipeline: Lead 0; Qualified 0; Proposal 1 · €100; Negotiation 0")  # the open deals
    assert "Won · Lost: Won 0; Lost 0" in weekly.image.alt
    # the top ones come after it, each with the buttons "who's at risk" offers
    [risky] = [r for _, replies in platform.sent for r in replies if r.kind == "at_risk_customer"]
    assert "Quiet Ltd" in risky.text and "complaint open since 15 Nov 2026: late" in risky.text and "Stuck kiosk" in risky.text
    assert [b.label for b in risky.buttons] == ["📞 Log a call", "⏰ Follow up tomorrow 9:00"]
    clock.now = datetime(2026, 11, 30, 8, 5, tzinfo=timezone.utc)
    [made] = await ConsoleChat(app.bot, "mary").press(risky.buttons[1])
    assert made.kind == "reminder_set"
    async with app.db.sessions() as session:
        followup = await session.scalar(select(models.FollowUp).where(models.FollowUp.customer_id == quiet.id))
    assert (followup.member_id, followup.due_at) == (boss.id, datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc))  # 9:00 in Prague


def test_a_renewal_moves_a_lease_later_never_earlier(tmp_path):
    """Two renewals of one lease (the thread's and the loop's on SQLite) may land in either
    order: the later expiry stands. `until` is stored as every time is, naive UTC."""
    table = models.FollowUp.__table__
    engine = create_engine(f"sqlite:///{tmp_path / 'lease.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE followups (id INTEGER PRIMARY KEY, claim_expires_at DATETIME)"))
        connection.execute(text("INSERT INTO followups VALUES (1, '2026-11-25 10:30:00.000000'), (2, '2026-11-25 11:30:00.000000')"))
        until = datetime(2026, 11, 25, 12, 0, tzinfo=timezone(timedelta(hours=1)))  # 11:00 UTC
        connection.execute(update(table).values(claim_expires_at=later(table.c.claim_expires_at, until)))
        rows = connection.execute(text("SELECT id, claim_expires_at FROM followups ORDER BY id")).all()
    engine.dispose()
    assert rows == [(1, "2026-11-25 11:00:00.000000"), (2, "2026-11-25 11:30:00.000000")]
