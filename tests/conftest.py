"""Shared fixtures: a real database per test (a SQLite file, and PostgreSQL when available),
copied from a template migrated once per session."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone

import pytest
from hypothesis import settings
from sqlalchemy import update

# The suite explores the same examples every run, so a red run always reproduces. New examples
# come from a separate run with a fresh seed (`.ci/run` does one, printing the seed):
#   CRMBOT_HYPOTHESIS_PROFILE=explore pytest -m hypothesis --hypothesis-seed=N
settings.register_profile("suite", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("CRMBOT_HYPOTHESIS_PROFILE", "suite"))

from crmbot import sample
from crmbot.adapters.console import ConsoleChat
from crmbot.app import App, build, console_member
from crmbot.config import Settings
from crmbot.i18n import I18n
from crmbot.intents.parse import Parser
from crmbot.store import models, teams
from crmbot.store.search import CustomerIndex, TeamIndex
from tests.support.pgserver import (
    PostgresUnavailable,
    ThrowawayPostgres,
    postgres_required,
)
from tests.support.templates import Content, SchemaTemplates

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday


class Clock:
    """The injected clock: tests move time by hand, nothing sleeps."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the engine does not matter to this test; run on SQLite "
                            "only (the store calls it makes are run on both engines by a `both_engines` test)")
    config.addinivalue_line("markers", "both_engines: run on every engine, in a module marked `sqlite_only`")


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked `sqlite_only` (a module's chat-level tests: words, buttons, replies) leave
    out their PostgreSQL run: each PostgreSQL test costs a database copied and dropped, and
    what such a module asks of the store is run on both engines by its `both_engines` tests."""
    dropped = [item for item in items
               if getattr(item, "callspec", None) is not None and item.callspec.params.get("db_url") == "postgresql"
               and item.get_closest_marker("sqlite_only") and not item.get_closest_marker("both_engines")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(map(id, dropped))
        items[:] = [item for item in items if id(item) not in gone]


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


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> SchemaTemplates:
    return SchemaTemplates(tmp_path_factory.mktemp("templates"), NOW)


def _content(request) -> Content | None:
    """What a test's database starts with: the sample team for a test that uses `demo`, the
    schema at head for one that builds an `app`, nothing for the rest (so the migrations stay
    tested from an empty database)."""
    if "demo" in request.fixturenames:
        return "demo"
    return "schema" if "app" in request.fixturenames else None


@pytest.fixture
def sqlite_db_url(request, tmp_path, templates) -> str:
    """`db_url` on SQLite only, for modules about a platform rather than the store (which is
    covered on both engines elsewhere): they override `db_url` with this."""
    # migrated already: a platform test has no business migrating an empty file
    return templates.sqlite_copy(tmp_path / "crm.db", _content(request) or "schema")


@pytest.fixture
def demo_file(tmp_path, templates) -> str:
    """A SQLite file holding the sample team seeded at NOW, for the commands' tests: what
    `crmbot demo --now NOW` makes, copied from the session's template instead of migrated again."""
    path = tmp_path / "demo.db"
    templates.sqlite_copy(path, "demo")
    return str(path)


@pytest.fixture
def schema_file(tmp_path, templates) -> str:
    """An empty SQLite file migrated to head, as any command leaves a new file."""
    path = tmp_path / "crm.db"
    templates.sqlite_copy(path, "schema")
    return str(path)


@pytest.fixture(params=_engines())
def db_url(request, tmp_path, postgres, templates) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new PostgreSQL database, copied from the
    session's template of what the test needs (see `_content`)."""
    content = _content(request)
    if request.param == "sqlite":
        path = tmp_path / "crm.db"
        yield templates.sqlite_copy(path, content) if content else f"sqlite:///{path}"
        return
    if postgres is None:
        pytest.skip("PostgreSQL server binaries not available")
    name = templates.postgres_copy(postgres, content) if content else postgres.create_database()
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
async def demo(app) -> App:
    """The app with the sample team seeded at NOW: Alice (manager), Bob (rep), Admin (admin).
    `db_url` copies it from a template; a module that brings its own `db_url` gets it seeded here."""
    async with app.db.sessions() as session, session.begin():
        if await teams.team_by_name(session, sample.TEAM) is None:
            await sample.seed(session, NOW)
    return app


@pytest.fixture
async def unreminded(demo) -> App:
    """The sample team, its overdue follow-up ("Confirm camera count with Petr") not reminded
    yet, as after an outage: the sample itself marks it reminded when it fell due, so the demo
    does not open with an apology."""
    async with demo.db.sessions() as session, session.begin():
        await session.execute(update(models.FollowUp).where(models.FollowUp.note.contains("camera count"))
                              .values(delivered_at=None, attempts=0))
    return demo


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
def index(tmp_path_factory, templates) -> TeamIndex:
    """The sample team's fuzzy index, built once per module from a seeded SQLite file."""

    async def seed_and_index() -> TeamIndex:
        db = templates.sqlite_copy(tmp_path_factory.mktemp("parse") / "crm.db", "demo")
        app = build(Settings(), db=db, clock=lambda: NOW)
        try:
            async with app.db.sessions() as session:
                team = await teams.team_by_name(session, sample.TEAM)
                return await CustomerIndex().for_team(session, team.id)
        finally:
            await app.close()

    return asyncio.run(seed_and_index())


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser(I18n())
