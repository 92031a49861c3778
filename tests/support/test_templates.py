"""A template copy holds exactly what migrating and seeding a fresh database makes."""

from __future__ import annotations

import pytest

from crmbot import sample
from crmbot.exporter import export_team
from crmbot.store import migrate, teams
from crmbot.store.db import open_database, sync_url, to_url
from tests.conftest import NOW, _engines


@pytest.fixture(params=_engines())
def make_url(request, templates, postgres, tmp_path):
    """Makes databases on one engine: `make_url(content)` copies a template, `make_url(None)`
    gives an empty one."""
    made: list[str] = []

    def make(content):
        if request.param == "sqlite":
            path = tmp_path / f"db{len(made)}.db"
            made.append(str(path))
            return templates.sqlite_copy(path, content) if content else f"sqlite:///{path}"
        name = templates.postgres_copy(postgres, content) if content else postgres.create_database()
        made.append(name)
        return postgres.url("psycopg", name)

    if request.param == "postgresql" and postgres is None:
        pytest.skip("PostgreSQL server binaries not available")
    yield make
    if request.param == "postgresql":
        for name in made:
            postgres.drop_database(name)


async def _export(url: str, *, seed: bool = False) -> tuple[str | None, dict]:
    db = open_database(url)
    try:
        async with db.sessions() as session, session.begin():
            team = await sample.seed(session, NOW) if seed else await teams.team_by_name(session, sample.TEAM)
            exported = await export_team(session, team.id)
        return migrate.current(sync_url(to_url(url))), exported
    finally:
        await db.close()


async def test_a_demo_copy_is_a_migrated_and_seeded_database(make_url):
    # the demo template is made from the schema template, so this vouches for both
    assert await _export(make_url("demo")) == await _export(make_url(None), seed=True)


async def test_copies_are_independent(make_url):
    first, second = make_url("demo"), make_url("demo")
    db = open_database(first)
    try:
        async with db.sessions() as session, session.begin():
            await teams.create_team(session, "Only in the first", NOW)
    finally:
        await db.close()
    db = open_database(second)
    try:
        async with db.sessions() as session:
            assert [t.name for t in await teams.all_teams(session)] == [sample.TEAM]
    finally:
        await db.close()
