"""Nothing acknowledged is lost when the database or a platform is in trouble, on both engines.

The faults are real: on SQLite another process holds the write lock, or the file may not grow
(SQLite's own "database or disk is full"); on PostgreSQL the database refuses connections and
the app's are cut. The platform is a recording double that can refuse (it stands for the chat
platform; the adapters' own paths are tested against the stand-ins in test_telegram/test_slack).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from crmbot import sample
from crmbot.app import App, build
from crmbot.bot import Transient
from crmbot.config import Settings
from crmbot.messages import ChatRef, DeliveryFailed, Image, Incoming, Outcome, Outgoing, Reply, UserRef
from crmbot.reminders import ReminderLoop, outbox
from crmbot.store import db, models, teams
from crmbot.store.db import open_database

from tests.conftest import NOW


# -- database faults, for these tests and the adapters' ---------------------------------------------


async def impatient(app: App) -> None:
    """SQLite waits 10 s for a writer's lock before giving up; these tests wait 50 ms."""
    if app.db.is_postgres:
        return

    def shorter(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=50")
        cursor.close()

    event.listen(app.db.engine.sync_engine, "connect", shorter)
    await app.db.engine.dispose()  # pooled connections made before keep the long wait


@contextlib.contextmanager
def sqlite_locked(db_url: str):
    """Another process holds SQLite's write lock (a backup, a long migration)."""
    connection = sqlite3.connect(make_url(db_url).database, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@contextlib.contextmanager
def postgres_away(postgres, db_url: str):
    """The database refuses connections and every open one is cut (a restart, a failover)."""
    name = make_url(db_url).database
    postgres.psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false', "postgres")
    postgres.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'", "postgres")
    try:
        yield
    finally:
        postgres.psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', "postgres")


def database_away(app: App, db_url: str, postgres):
    return postgres_away(postgres, db_url) if app.db.is_postgres else sqlite_locked(db_url)


async def count(app: App, model, *where) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


# -- the core ---------------------------------------------------------------------------------------


def dm(user: str, text: str, message_id: str, *, name: str = "", workspace: str = "T0DELIVERY") -> Incoming:
    return Incoming(chat=ChatRef("slack", user), user=UserRef("slack", user, name or user, "en", workspace=workspace),
                    text=text, message_id=message_id)


async def bound_team(app: App, workspace: str = "T0DELIVERY") -> None:
    """The sample team, with a Slack workspace whose users join on first use, and Bob in it."""
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        await teams.bind_workspace(session, team, workspace)
        bob = await teams.member_by_name(session, team.id, "Bob")
        await teams.bind_identity(session, bob, "slack", "U0BOB", NOW, workspace=workspace, chat_id="U0BOB")


async def test_a_message_while_the_database_is_away_raises_transient_and_is_handled_on_redelivery(
        demo, db_url, postgres, caplog):
    await bound_team(demo)
    await impatient(demo)
    message = dm("U0BOB", "called petr dvorak, wants 11 more drones", "Ev0AWAY")
    with database_away(demo, db_url, postgres), caplog.at_level(logging.WARNING, logger="crmbot.bot"):
        with pytest.raises(Transient):
            await demo.bot.handle(message)
    # one line, not a traceback, and no SQL (it may carry what the member typed)
    [line] = [r for r in caplog.records if r.name == "crmbot.bot"]
    assert "will be delivered again" in line.getMessage() and line.exc_info is None and "11 more" not in line.getMessage()
    assert await count(demo, models.ProcessedMessage, models.ProcessedMessage.message_id == "Ev0AWAY") == 0

    outcome = await demo.bot.handle(message)  # the platform delivers it again
    assert "Petr Dvořák" in outcome.replies[0].text
    assert await demo.bot.handle(message) == Outcome()  # and once more: a redelivery, skipped
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("11 more drones")) == 1


async def test_a_pooled_connection_cut_while_idle_is_replaced_before_a_message_uses_it(demo, db_url, postgres, monkeypatch):
    """No ping on every checkout (a round trip each message), but one that sat idle is pinged:
    the server restarted meanwhile, and the message is handled at once, not failed for a
    redelivery."""
    if not demo.db.is_postgres:
        pytest.skip("PostgreSQL's pooled connections")
    await bound_team(demo)
    monkeypatch.setattr(db, "PING_IDLE_S", 0.0)  # every pooled connection has sat idle long enough
    name = make_url(db_url).database
    postgres.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'", "postgres")
    outcome = await demo.bot.handle(dm("U0BOB", "called petr dvorak, wants 3 more drones", "Ev0IDLE"))
    assert "Petr Dvořák" in outcome.replies[0].text
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("3 more drones")) == 1


async def test_a_full_disk_is_transient_too(demo, db_url):
    if demo.db.is_postgres:
        pytest.skip("SQLite's own limit stands in for a full disk")
    await bound_team(demo)
    full = {"on": True}

    def no_room(dbapi_connection, _record) -> None:
        if full["on"]:  # the file may not grow by a single page
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count={pages}")
            cursor.close()

    event.listen(demo.db.engine.sync_engine, "connect", no_room)
    await demo.db.engine.dispose()
    big = "called petr dvorak: " + "lots to say " * 280
    with pytest.raises(Transient, match="full"):
        for n in range(200):  # until a page is needed
            demo.bot.clock.now += timedelta(minutes=1)  # no slow-down: each message writes its note
            await demo.bot.handle(dm("U0BOB", f"{big} {n}", f"Ev0FULL{n}"))
    full["on"] = False
    await demo.db.engine.dispose()
    assert (await demo.bot.handle(dm("U0BOB", f"{big} {n}", f"Ev0FULL{n}"))).replies  # delivered again: handled


async def test_people_with_one_name_joining_at_once_on_two_workers_both_get_in(demo, db_url):
    """Two new users both called Carol write at once through two workers: the one whose member
    row loses the race on the (team, name) key is handled again, and becomes 'Carol (slack …)'."""
    await bound_team(demo)
    other = build(Settings(), db=db_url, clock=demo.bot.clock)
    try:
        for round_ in range(10):
            first, second = (dm(f"U0C{round_}{n}", "find petr dvorak", f"Ev0JOIN{round_}{n}", name=f"Carol {round_}")
                             for n in "ab")
            answers = await asyncio.gather(demo.bot.handle(first), other.bot.handle(second))
            for outcome in answers:
                assert "Petr Dvořák" in outcome.replies[0].text, outcome
            async with demo.db.sessions() as session:
                names = set(await session.scalars(select(models.Member.name).where(models.Member.name.like(f"Carol {round_}%"))))
            assert len(names) == 2
    finally:
        await other.close()


async def test_the_rate_limit_holds_across_two_workers_on_one_database(demo, db_url):
    await bound_team(demo)
    apps = [build(Settings(rate_limit_per_minute=5), db=db_url, clock=demo.bot.clock) for _ in range(2)]
    try:
        results = await asyncio.gather(*(apps[n % 2].bot.handle(dm("U0BOB", "/help", f"Ev0RATE{n}")) for n in range(8)))
        slowed = [o for o in results if o.replies[0].kind == "slow_down"]
        assert len(slowed) == 3  # 5 in the minute, whichever worker took them
        demo.bot.clock.now = NOW + timedelta(seconds=61)
        assert (await apps[1].bot.handle(dm("U0BOB", "/help", "Ev0RATE9"))).replies[0].kind != "slow_down"
    finally:
        for app in apps:
            await app.close()


# -- kept replies --------------------------------------------------------------------------------


class Platform:
    """A chat platform that records what it accepted and can be told to refuse."""

    name = "slack"

    def __init__(self) -> None:
        self.sent: list[tuple[ChatRef, Reply]] = []
        self.refusals: deque[DeliveryFailed] = deque()

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        if self.refusals:
            raise self.refusals.popleft()
        self.sent.extend((chat, r) for r in replies)


def loop_for(app: App, **options) -> ReminderLoop:
    return ReminderLoop(app.db, app.i18n, app.senders, app.bot.clock, digests_enabled=False, **options)


async def test_a_reply_the_platform_cannot_take_is_kept_and_sent_in_order_when_it_is_back(app):
    platform = Platform()
    app.senders["slack"] = platform
    chat, elsewhere = ChatRef("slack", "C0SALES", "1700000000.000100"), ChatRef("slack", "C0OTHER")
    chart = Reply("**Pipeline**", image=Image(b"\x89PNG", "p.png"), ephemeral=True, kind="summary")
    platform.refusals.append(DeliveryFailed("internal_error"))
    await app.deliver(chat, [Reply("first", kind="logged"), chart])
    await app.deliver(chat, [Reply("second")])  # the platform is back, but this waits behind the first
    await app.deliver(elsewhere, [Reply("unrelated")])  # another chat does not wait
    assert [r.text for _, r in platform.sent] == ["unrelated"]
    assert await count(app, models.PendingReply) == 2

    report = await loop_for(app).run_once(NOW)
    assert len(report.replies.sent) == 2
    assert [(c, r) for c, r in platform.sent[1:]] == [(chat, Reply("first", kind="logged")), (chat, chart), (chat, Reply("second"))]
    assert await count(app, models.PendingReply) == 0


async def test_kept_replies_back_off_and_a_permanent_refusal_drops_the_chats_rows(app, caplog):
    platform = Platform()
    app.senders["slack"] = platform
    chat = ChatRef("slack", "C0GONE")
    platform.refusals.append(DeliveryFailed("internal_error"))
    for n in range(3):  # the first is refused, the others wait behind it
        await app.deliver(chat, [Reply(f"reply {n}")])
    assert platform.sent == [] and not platform.refusals
    loop = loop_for(app)

    platform.refusals.append(DeliveryFailed("ratelimited", retry_after=120))
    report = await loop.run_once(NOW)
    assert len(report.replies.retrying) == 1 and platform.sent == []
    assert (await loop.run_once(NOW + timedelta(seconds=119))).replies.sent == []  # retry_after honoured

    platform.refusals.append(DeliveryFailed("channel_not_found", permanent=True))
    with caplog.at_level(logging.WARNING, logger="crmbot.reminders.outbox"):
        report = await loop.run_once(NOW + timedelta(seconds=120))
    assert len(report.replies.dropped) == 3 and platform.sent == []
    assert "dropped 3 kept slack replies" in caplog.text
    assert await count(app, models.PendingReply) == 0


async def test_an_announcement_for_an_adapter_in_another_process_is_kept_for_it(app):
    """`crmbot chat` announcing a won deal to the team's Telegram group: `crmbot run` sends it."""
    await app.announce([Outgoing(ChatRef("telegram", "-100500"), (Reply("Bob won Cyberdyne pilot"),))])
    [kept] = await rows(app)
    assert (kept.adapter, kept.chat_id) == ("telegram", "-100500")
    assert (await loop_for(app).run_once(NOW)).replies.sent == []  # a loop without Telegram leaves it alone
    telegram = Platform()
    telegram.name = "telegram"
    app.senders["telegram"] = telegram
    assert len((await loop_for(app).run_once(NOW)).replies.sent) == 1
    assert [r.text for _, r in telegram.sent] == ["Bob won Cyberdyne pilot"]


async def rows(app: App) -> list[models.PendingReply]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(models.PendingReply).order_by(models.PendingReply.id)))


async def test_two_workers_send_each_chats_kept_replies_once_and_in_order(app, db_url):
    platform_a, platform_b = Platform(), Platform()
    for n in range(60):
        await outbox.keep(app.db, ChatRef("slack", f"C{n % 6}"), [Reply(f"{n % 6}:{n // 6}")], NOW)
    other = open_database(db_url)
    try:
        loop_a = ReminderLoop(app.db, app.i18n, {"slack": platform_a}, app.bot.clock, digests_enabled=False, worker_id="a")
        loop_b = ReminderLoop(other, app.i18n, {"slack": platform_b}, app.bot.clock, digests_enabled=False, worker_id="b")
        while await count(app, models.PendingReply):
            await asyncio.gather(loop_a.run_once(NOW), loop_b.run_once(NOW))
    finally:
        await other.close()
    by_chat: dict[str, list[int]] = {}
    for _, reply in platform_a.sent + platform_b.sent:
        chat, n = reply.text.split(":")
        by_chat.setdefault(chat, []).append(int(n))
    assert sorted(by_chat) == [str(c) for c in range(6)]
    for chat, numbers in by_chat.items():
        assert numbers == list(range(10)), chat  # each once, in order, whichever worker sent them
    for platform in (platform_a, platform_b):  # a chat's rows went out through one worker at a time
        for chat in by_chat:
            mine = [int(r.text.split(":")[1]) for _, r in platform.sent if r.text.startswith(f"{chat}:")]
            assert mine == sorted(mine)


async def test_doctor_shows_reminders_refused_for_good_and_kept_replies(app, db_url, clock):
    from typer.testing import CliRunner

    from crmbot.cli import cli

    async with app.db.sessions() as session, session.begin():
        team = await teams.create_team(session, "Doctor", NOW)
        alice = await teams.create_member(session, team.id, "Alice", NOW)
        await teams.bind_identity(session, alice, "console", "alice", NOW, chat_id="alice")
        session.add(models.FollowUp(team_id=team.id, member_id=alice.id, due_at=NOW, note="call Acme", state="pending",
                                    created_at=NOW, attempts=0, late=False))
    platform = Platform()
    platform.name = "console"
    platform.refusals.append(DeliveryFailed("bot was blocked by the user", permanent=True))
    await ReminderLoop(app.db, app.i18n, {"console": platform}, clock, digests_enabled=False).run_once(NOW)
    await outbox.keep(app.db, ChatRef("telegram", "42"), [Reply("later")], NOW)

    result = await asyncio.to_thread(CliRunner().invoke, cli, ["doctor", "--db", db_url, "--now", NOW.isoformat()])
    assert "Alice's reminder “call Acme” (due 2026-11-25 10:00 UTC) ended undelivered: " in result.output, result.output
    assert "bot was blocked by the user" in result.output
    assert "1 reply kept" in result.output, result.output
