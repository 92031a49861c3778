"""Alembic, driven from code: no alembic.ini to find, the scripts ship inside the package."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(url: URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    # keep the password: Alembic's config would otherwise receive "***"
    config.attributes["url"] = url
    return config


@cache
def head() -> str | None:
    """The newest revision the shipped scripts know (they cannot change while we run)."""
    return ScriptDirectory(str(SCRIPTS)).get_current_head()


def upgrade(url: URL, revision: str = "head") -> None:
    # Every command opens the database through here: reading one row is much cheaper than
    # letting Alembic load its environment and scripts only to find nothing to do.
    if revision == "head" and current(url) == head():
        return
    command.upgrade(alembic_config(url), revision)


def current(url: URL) -> str | None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
