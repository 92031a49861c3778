"""PostgreSQL at scale: several workers on one database, the same search results as SQLite,
and `crmbot db copy` from a SQLite file without losing anything."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from crmbot import sample
from crmbot.adapters.console import ConsoleChat
from crmbot.app import App, build, console_member
from crmbot.cli import cli
from crmbot.config import Settings
from crmbot.exporter import export_team
from crmbot.store import models, snapshot, teams
from crmbot.store.audit import Actor
from crmbot.store.erasure import erase_customer
from crmbot.store.db import open_database

from tests.conftest import NOW
from tests.support.contention import both_blocked_then_released

ROUNDS = 8


def _need(postgres):
    # the `postgres` fixture already fails the run when CRMBOT_REQUIRE_POSTGRES=1
    if postgres is None:
        pytest.skip("PostgreSQL server binaries not available")


@pytest.fixture
def pg_url(postgres, request) -> str:
    _need(postgres)
    name = postgres.create_database()
    yield postgres.url(getattr(request, "param", "psycopg"), name)
    postgres.drop_database(name)


def _app(url: str, clock) -> App:
    # the two chat users send more than the default per-minute allowance across all rounds
    return build(Settings(rate_limit_per_minute=10_000), db=url, clock=clock)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg", "postgresql+asyncpg"])
async def test_every_postgresql_url_spelling_opens_the_database(postgres, scheme):
    _need(postgres)
    name = postgres.create_database()
    try:
        db = open_database(postgres.url(None, name).replace("postgresql://", f"{scheme}://", 1))
        try:
            assert db.is_postgres
            async with db.sessions() as session:
                assert await teams.all_teams(session) == []  # migrated to head on open
        finally:
            await db.close()
    finally:
        postgres.drop_database(name)


# -- (a) two bot workers, one deal ----------------------------------------------------------------


@pytest.fixture
async def workers(pg_url, clock) -> AsyncIterator[tuple[App, App]]:
    """Two independent App instances (own engine, pool, index): two bot processes."""
    first, second = _app(pg_url, clock), _app(pg_url, clock)
    async with first.db.sessions() as session, session.begin():
        await sample.seed(session, NOW)
    for name in ("Alice", "Bob"):
        await console_member(first, name, NOW, team_name=sample.TEAM)
    yield first, second
    await first.close()
    await second.close()


@pytest.mark.parametrize("pg_url", ["psycopg", "asyncpg"], indirect=True)
async def test_a_new_worker_reads_the_index_in_the_database_and_sees_every_change_at_once(pg_url, clock):
    first, second = _app(pg_url, clock), _app(pg_url, clock)
    try:
        team_id = await _seed_search(first)
        async with first.db.sessions() as session, session.begin():
            other_team = (await teams.create_team(session, "Other", NOW)).id
            rev = await teams.bump_customer_rev(session, other_team)
            session.add(models.Customer(team_id=other_team, name="Řehoř Ždárský", company=None, emails=["rehor@zdarsky.cz"],
                                        phones=[], created_at=NOW, updated_at=NOW, rev=rev))
        built = await _search_all(first, team_id)
        async with first.db.sessions() as session:  # the index lives in the database's tables
            state = await session.get(models.SearchState, team_id)
            assert state.rev == await teams.customer_rev(session, team_id) and state.live > len(_generated())
            assert await snapshot.read(session, team_id) is None  # no copy of it kept for the workers
        assert await _search_all(second, team_id) == built  # the second worker reads the same index
        # a customer added through one engine is found by the other on its next search
        await _add_named(first, team_id, "Zbigniew Wąchocki")
        async with second.db.sessions() as session:
            found = await second.bot.index.search(session, team_id, "zbigniew wachocki")
        assert found and found[0].display == "Zbigniew Wąchocki"
        # teams stay apart in the kept index and after it
        async with second.db.sessions() as session:
            assert all("Ždárský" not in m.display for m in await second.bot.index.search(session, team_id, "rehor zdarsky"))
            assert await second.bot.index.search(session, team_id, "rehor@zdarsky.cz") == []
            theirs = await second.bot.index.search(session, other_team, "rehor zdarsky")
            assert [m.display for m in theirs] == ["Řehoř Ždárský"]
            assert all("Wąchocki" not in m.display for m in await second.bot.index.search(session, other_team, "zbigniew wachocki"))
    finally:
        await first.close()
        await second.close()


async def test_erasing_a_customer_takes_its_own_words_out_of_the_index_in_the_database(pg_url, clock):
    app = _app(pg_url, clock)
    try:
        team_id = await _seed_search(app)
        await _add_named(app, team_id, "Zbigniew Wąchocki")
        await _add_named(app, team_id, "Jan Wąchocki")
        async with app.db.sessions() as session:
            assert (await app.bot.index.search(session, team_id, "zbigniew wachocki"))[0].display == "Zbigniew Wąchocki"
        async with app.db.sessions() as session, session.begin():
            customer = await session.scalar(select(models.Customer).where(models.Customer.name == "Zbigniew Wąchocki"))
            await erase_customer(session, Actor(team_id=team_id, member_id=None, platform="console", group_id="erase"), customer, NOW)
        async with app.db.sessions() as session:
            held = set(await session.scalars(select(models.SearchToken.token).where(models.SearchToken.team_id == team_id)))
            assert "zbigniew" not in held and {"wachocki", "jan"} <= held  # a word someone else holds stays
            found = await app.bot.index.search(session, team_id, "zbigniew wachocki")
            assert [m.display for m in found] == ["Jan Wąchocki"]
            state = await session.get(models.SearchState, team_id)
            live = await session.scalar(select(func.count()).select_from(models.Customer).where(
                models.Customer.team_id == team_id, models.Customer.deleted_at.is_(None)))
            assert state.live == live
    finally:
        await app.close()


async def test_a_search_after_a_write_in_the_same_transaction_answers_and_the_write_is_found_once_committed(pg_url, clock):
    app = _app(pg_url, clock)
    try:
        team_id = await _seed_search(app)
        async with app.db.sessions() as session, session.begin():
            rev = await teams.bump_customer_rev(session, team_id)
            session.add(models.Customer(team_id=team_id, name="Zbigniew Wąchocki", company=None, emails=[], phones=[],
                                        created_at=NOW, updated_at=NOW, rev=rev))
            await session.flush()
            # the index reads committed customers: this one is not in it yet, the others are
            found = await asyncio.wait_for(app.bot.index.search(session, team_id, "zbigniew wachocki"), 30)
            assert all(m.display != "Zbigniew Wąchocki" for m in found)
            someone = _generated()[0][0]
            assert (await app.bot.index.search(session, team_id, someone))[0].display.startswith(someone)
        async with app.db.sessions() as session:
            assert (await app.bot.index.search(session, team_id, "zbigniew wachocki"))[0].display == "Zbigniew Wąchocki"
    finally:
        await app.close()


async def _add_named(app: App, team_id: int, name: str) -> None:
    async with app.db.sessions() as session, session.begin():
        rev = await teams.bump_customer_rev(session, team_id)
        session.add(models.Customer(team_id=team_id, name=name, company=None, emails=[], phones=[],
                                    created_at=NOW, updated_at=NOW, rev=rev))


async def _history(app: App, title: str) -> tuple[models.Deal, list[models.DealStageChange]]:
    async with app.db.sessions() as session:
        deal = await session.scalar(select(models.Deal).where(models.Deal.title == title))
        history = list(await session.scalars(
            select(models.DealStageChange).where(models.DealStageChange.deal_id == deal.id).order_by(models.DealStageChange.id)
        ))
        return deal, history


@pytest.mark.parametrize("pg_url", ["psycopg", "asyncpg"], indirect=True)
async def test_two_workers_moving_one_deal_lose_no_update(workers, clock):
    one, two = workers
    alice, bob = ConsoleChat(one.bot, "Alice"), ConsoleChat(two.bot, "Bob")
    async with one.db.sessions() as session:
        members = {m.name: m.id for m in await teams.members_of(session, (await teams.team_by_name(session, sample.TEAM)).id)}
    orders = []
    for round_ in range(ROUNDS):
        clock.now = NOW + timedelta(minutes=round_)
        reset = await alice.send("cyberdyne proposal")
        assert "Proposal" in reset[0].text, reset[0].text
        _, before = await _history(one, "Cyberdyne pilot")
        # alternate who starts first, so both interleavings are exercised
        sends = [alice.send("cyberdyne negotiation"), bob.send("cyberdyne won")]
        if round_ % 2:
            sends.reverse()
        if round_ % 4 >= 2:
            # hold the deal's row until both workers wait on it: both really are in flight at once
            lock = select(models.Deal).where(models.Deal.title == "Cyberdyne pilot").with_for_update()
            replies = await both_blocked_then_released(one, lock, sends)
        else:
            replies = await asyncio.gather(*sends)
        for answer in replies:
            assert "→" in answer[0].text, answer[0].text  # both were applied, neither failed

        deal, history = await _history(one, "Cyberdyne pilot")
        new = history[len(before):]
        assert len(new) == 2, [(h.from_stage, h.to_stage) for h in history]
        assert {h.to_stage for h in new} == {"negotiation", "won"}
        assert {h.member_id for h in new} == {members["Alice"], members["Bob"]}
        # no lost update: each move starts where the previous one ended
        for previous, row in zip(history, history[1:]):
            assert row.from_stage == previous.to_stage, [(h.from_stage, h.to_stage) for h in history]
        assert deal.stage == history[-1].to_stage
        assert (deal.closed_at is not None) == (deal.stage == "won")
        orders.append(tuple(h.to_stage for h in new))
    print("orders of the concurrent moves:", orders)


# -- (b) the same fuzzy search results on both engines -----------------------------------------------

FIRST = ["Jan", "Jana", "Petr", "Petra", "Tomáš", "Lucie", "Eva", "Žiga", "Nina", "Luka", "Siân", "Rhys", "Aysel",
         "Elvin", "Günel", "John", "Jon", "Sarah", "Sara", "Anna", "Anne", "Olga", "María", "José", "François", "Zoë"]
LAST = ["Novák", "Nováková", "Novak", "Dvořák", "Svoboda", "Černá", "Kučerová", "Horvat", "Kovačič", "Evans", "Jones",
        "Məmmədova", "Əliyev", "Smith", "Smyth", "Connor", "Conner", "Schmidt", "Schmitt", "Petrova", "García", "Müller"]
COMPANY = ["Acme", "Beta Logistics", "Nordwind", "Zeleni vrt", "Bakı Tekstil", "O'Neil Pubs", "Smith & Co", None]
CJK = ["张伟", "王芳", "李娜", "张丽", "刘洋", "陈静", "杨磊"]

QUERIES = [
    "novak", "jan novk", "nowak", "novakova", "jana novakova", "dvorak", "petr dvořak", "svobda", "cerna", "kucerva",
    "horvath", "kovacic", "zhiga", "rhys evens", "sian jons", "aysel mamedova", "elvin aliev", "gunel", "jon smith",
    "sara connor", "sarah conner", "ana schmidt", "anne schmit", "olga petrva", "maria garsia", "jose", "francois",
    "zoe muller", "acme", "beta logistcs", "nordwnd", "zeleni", "baki tekstil", "oneil", "cyberdine", "张伟", "王方",
    "张", "jan.novak@acme.cz", "+420 777 123 456", "xyzzy", "jan", "novak plumbing", "müler", "dubios",
]


def _generated() -> list[tuple[str, str | None]]:
    """A few hundred customers full of near-duplicates; a fixed seed makes both sides equal."""
    pick = random.Random(20261125)
    people = [(f"{pick.choice(FIRST)} {pick.choice(LAST)}", pick.choice(COMPANY)) for _ in range(400)]
    people += [(name, pick.choice(COMPANY)) for name in CJK]
    return people


async def _seed_search(app: App) -> int:
    async with app.db.sessions() as session, session.begin():
        team = await sample.seed(session, NOW)
        rev = await teams.bump_customer_rev(session, team.id)
        for i, (name, company) in enumerate(_generated()):
            session.add(models.Customer(team_id=team.id, name=name, company=company, emails=[f"c{i}@example.com"],
                                        phones=[], created_at=NOW, updated_at=NOW, rev=rev))
        return team.id


async def _change_some(app: App, team_id: int) -> None:
    """Deletes, renames and additions after the index was built: exercises its catch-up."""
    async with app.db.sessions() as session, session.begin():
        rev = await teams.bump_customer_rev(session, team_id)
        rows = list(await session.scalars(select(models.Customer).where(models.Customer.team_id == team_id).order_by(models.Customer.id)))
        for row in rows[::37]:
            row.deleted_at, row.rev = NOW, rev
        for row in rows[5::41]:
            row.name, row.rev = row.name + "ová", rev
        session.add(models.Customer(team_id=team_id, name="Jan Nowak", company="Nowak Ltd", emails=[], phones=[],
                                    created_at=NOW, updated_at=NOW, rev=rev))


async def _search_all(app: App, team_id: int) -> dict[str, list[tuple]]:
    async with app.db.sessions() as session:
        return {q: [(m.customer_id, m.display, m.score, m.span) for m in await app.bot.index.search(session, team_id, q, 5)]
                for q in QUERIES}


async def test_fuzzy_search_gives_the_same_results_on_sqlite_and_postgresql(pg_url, tmp_path, clock):
    sqlite, postgres = _app(f"sqlite:///{tmp_path / 'crm.db'}", clock), _app(pg_url, clock)
    try:
        team_ids = {await _seed_search(sqlite), await _seed_search(postgres)}
        assert len(team_ids) == 1
        team_id = team_ids.pop()
        first = await _search_all(sqlite, team_id)
        assert first == await _search_all(postgres, team_id)
        assert sum(1 for found in first.values() if found) >= len(QUERIES) - 3  # the queries do find people
        assert len({len(found) for found in first.values()}) > 1  # and not all alike

        await _change_some(sqlite, team_id)
        await _change_some(postgres, team_id)
        again = await _search_all(sqlite, team_id)
        assert again == await _search_all(postgres, team_id)
        assert again != first
    finally:
        await sqlite.close()
        await postgres.close()


# -- (c) crmbot db copy ------------------------------------------------------------------------------

# every table the issue names; tables added later are copied too, and checked by count below
MUST_HAVE_ROWS = ("teams", "members", "identities", "invites", "customers", "interactions", "deals", "deal_stage_changes",
                  "complaints", "followups", "audit_entries", "processed_messages", "choices", "digests_sent")


async def _lived_in(url: str, clock) -> None:
    """A source database with rows in every table, made the way the bot makes them."""
    app = _app(url, clock)
    try:
        async with app.db.sessions() as session, session.begin():
            team = await sample.seed(session, NOW)
            team.settings = {"currency": "EUR", "note": "Überweisung · 报价"}
        await console_member(app, "Alice", NOW, team_name=sample.TEAM)
        alice = ConsoleChat(app.bot, "Alice")
        for line in ("called jana, wants a quote by friday", "cyberdyne won", "called novak about the kiosk rollout",
                     "complaint from lucie: invoice sent twice", "delete customer sara conner"):
            await alice.send(line)
        await app.bot.handle(replace(alice.incoming("svoboda negotiation"), message_id="tg-1001"))
        async with app.db.sessions() as session, session.begin():
            await teams.create_invite(session, team.id, "rep", NOW)
            other = await teams.create_team(session, "Second Team", NOW)
            member = await teams.create_member(session, other.id, "Zoë", NOW, role="admin", locale="de")
            session.add(models.Customer(team_id=other.id, name="Günther Groß", company=None, emails=[], phones=[],
                                        created_at=NOW, updated_at=NOW, rev=0))
            session.add(models.DigestSent(member_id=member.id, kind="daily", local_date="2026-11-25", team_id=other.id, sent_at=NOW))
    finally:
        await app.close()


async def _contents(url: str) -> tuple[dict[str, int], dict[str, dict], dict[str, list[int]]]:
    """Rows per table, each team's export, and the ids of the main tables: read independently of copy.py."""
    app = _app(url, lambda: NOW)
    try:
        async with app.db.sessions() as session:
            counts = {t.name: await session.scalar(select(func.count()).select_from(t)) for t in models.Base.metadata.sorted_tables}
            exports = {team.name: await export_team(session, team.id) for team in await teams.all_teams(session)}
            ids = {m.__tablename__: list(await session.scalars(select(m.id).order_by(m.id)))
                   for m in (models.Customer, models.Deal, models.DealStageChange, models.AuditEntry)}
        return counts, exports, ids
    finally:
        await app.close()


def test_db_copy_moves_everything_from_sqlite_to_postgresql_and_refuses_a_full_target(postgres, tmp_path, clock):
    _need(postgres)
    source = f"sqlite:///{tmp_path / 'a.db'}"
    asyncio.run(_lived_in(source, clock))
    name = postgres.create_database()
    target = postgres.url(None, name)  # a plain postgresql:// URL, as people paste it
    runner = CliRunner()
    try:
        before = asyncio.run(_contents(source))
        assert all(before[0][table] > 0 for table in MUST_HAVE_ROWS), before[0]
        assert set(before[1]) == {sample.TEAM, "Second Team"}

        result = runner.invoke(cli, ["db", "copy", "--from", source, "--to", target])
        assert result.exit_code == 0, result.output
        assert "counts and checksums match" in result.output
        for table, rows in before[0].items():
            assert any(line.split()[:3] == [table, str(rows), str(rows)] for line in result.output.splitlines()), table
        assert result.output.count("source sha256") == 2

        after = asyncio.run(_contents(target))
        assert after == before  # same counts, same exports, same ids

        # the sequences were moved past the copied ids: the bot can write at once
        asyncio.run(_add_customer(target, clock))
        grown = asyncio.run(_contents(target))
        assert grown[2]["customers"][-1] == before[2]["customers"][-1] + 1

        again = runner.invoke(cli, ["db", "copy", "--from", source, "--to", target])
        assert again.exit_code == 1 and "not empty" in again.output
        assert asyncio.run(_contents(target)) == grown

        # and back to a new SQLite file: the copy goes both ways
        back = f"sqlite:///{tmp_path / 'back.db'}"
        returned = runner.invoke(cli, ["db", "copy", "--from", target, "--to", back])
        assert returned.exit_code == 0, returned.output
        assert asyncio.run(_contents(back)) == grown
    finally:
        postgres.drop_database(name)


async def _add_customer(url: str, clock) -> None:
    app = _app(url, clock)
    try:
        await console_member(app, "Alice", NOW, team_name=sample.TEAM)
        replies = await ConsoleChat(app.bot, "Alice").send("new customer Karel Malý, karel@maly.cz")
        assert "Karel" in replies[0].text, replies[0].text
    finally:
        await app.close()


async def test_messages_arriving_together_at_a_new_worker_each_find_their_customer(workers):
    """A worker just started reads the team's tokens with its first search; searches that began
    beside it, on its empty vocabulary, must look again once it is read, not take the index as
    current and find nobody (a note to "jana" answered "no such customer" and never written:
    the records the kill runs lost right after a worker's restart)."""
    first, second = workers
    async with first.db.sessions() as session:
        team_id = (await teams.all_teams(session))[0].id
        assert (await first.bot.index.search(session, team_id, "jana novakova"))[0].display.startswith("Jana Nováková")

    async def search() -> list[str]:
        async with second.db.sessions() as session:
            return [m.display for m in await second.bot.index.search(session, team_id, "jana novakova")]

    found = await asyncio.gather(*(search() for _ in range(8)))
    assert all(names and names[0].startswith("Jana Nováková") for names in found), found
