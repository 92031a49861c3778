"""Shared fixtures: a real database per test (a SQLite file, and PostgreSQL when available)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone

import pytest
from hypothesis import settings

# CI explores the same examples every run, so a red CI always reproduces; locally each run
# explores new ones, which is how the fuzzers keep finding things.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

from crmbot import sample
from crmbot.adapters.console import ConsoleChat
from crmbot.app import App, build, console_member
from crmbot.config import Settings
from crmbot.i18n import I18n
from crmbot.intents.parse import Parser
from crmbot.store.search import CustomerIndex, TeamIndex
from tests.support.pgserver import (
    PostgresUnavailable,
    ThrowawayPostgres,
    postgres_required,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday


class Clock:
    """The injected clock: tests move time by hand, nothing sleeps."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _engines() -> list[str]:
    wanted = os.environ.get("CRMBOT_TEST_ENGINES", "sqlite,postgresql")
    return [e.strip() for e in wanted.split(",") if e.strip()]


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres | None]:
    if "postgresql" not in _engines():
        yield None
        return
    try:
        server = ThrowawayPostgres().start()
    except PostgresUnavailable:
        if postgres_required():
            raise
        yield None
        return
    yield server
    server.stop()


@pytest.fixture(params=_engines())
def db_url(request, tmp_path, postgres) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.db'}"
        return
    if postgres is None:
        pytest.skip("PostgreSQL server binaries not available")
    name = postgres.create_database()
    yield postgres.url("psycopg", name)
    postgres.drop_database(name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(db_url, clock) -> AsyncIterator[App]:
    built = build(Settings(), db=db_url, clock=clock)
    yield built
    await built.close()


@pytest.fixture
async def demo(app, clock) -> App:
    """The app with the sample team seeded: Alice (manager), Bob (rep), Admin (admin)."""
    async with app.db.sessions() as session, session.begin():
        await sample.seed(session, clock.now)
    return app


@pytest.fixture
async def alice(demo) -> ConsoleChat:
    await console_member(demo, "Alice", NOW, team_name=sample.TEAM)
    return ConsoleChat(demo.bot, "Alice")


@pytest.fixture
async def bob(demo) -> ConsoleChat:
    await console_member(demo, "Bob", NOW, team_name=sample.TEAM)
    return ConsoleChat(demo.bot, "Bob")


# -- the parse tables' fixtures -----------------------------------------------------------


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> TeamIndex:
    """The sample team's fuzzy index, built once per module from a seeded SQLite file."""

    async def seed_and_index() -> TeamIndex:
        app = build(Settings(), db=f"sqlite:///{tmp_path_factory.mktemp('parse') / 'crm.db'}", clock=lambda: NOW)
        try:
            async with app.db.sessions() as session, session.begin():
                team = await sample.seed(session, NOW)
            async with app.db.sessions() as session:
                return await CustomerIndex().for_team(session, team.id)
        finally:
            await app.close()

    return asyncio.run(seed_and_index())


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser(I18n())
