"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and
every revision can be taken back and applied again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL

from crmbot.store import migrate
from crmbot.store.db import sync_url, to_url
from crmbot.store.models import Base


def _url(db_url: str) -> URL:
    return sync_url(to_url(db_url))


def _schema_diffs(url: URL) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            # the same comparison options as migrations/env.py uses to autogenerate
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: URL) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config(URL.create("sqlite")))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_upgrade_of_an_empty_database_matches_the_models(db_url):
    url = _url(db_url)
    assert _tables(url) == set()
    migrate.upgrade(url)
    assert migrate.current(url) == _revisions()[-1]
    assert _tables(url) == set(Base.metadata.tables)
    assert _schema_diffs(url) == []


def test_every_revision_goes_down_to_base_and_up_again(db_url):
    url = _url(db_url)
    config = migrate.alembic_config(url)
    revisions = _revisions()
    migrate.upgrade(url)
    # one step at a time, so each revision's downgrade and upgrade runs on its own
    for expected in [*reversed(revisions[:-1]), None]:
        command.downgrade(config, "-1")
        assert migrate.current(url) == expected
    assert _tables(url) == set()
    for expected in revisions:
        command.upgrade(config, "+1")
        assert migrate.current(url) == expected
    assert _schema_diffs(url) == []
