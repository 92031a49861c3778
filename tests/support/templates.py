"""Test databases without migrating (and seeding) each one.

Migrating an empty database, and seeding the sample team into it, costs far more than copying
one: the test session makes each template once, the first time a test needs it, and each test
gets a copy (a file copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL). `open_database`
then finds the schema at head and does not migrate again.

A template holds one of two contents: "schema" (migrated to head, no rows) or "demo" (that, plus
the sample team seeded at the tests' NOW).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Literal

from crmbot import sample
from crmbot.store import migrate
from crmbot.store.db import open_database, sync_url, to_url
from tests.support.pgserver import ThrowawayPostgres

Content = Literal["schema", "demo"]


class SchemaTemplates:
    def __init__(self, directory: Path, now: datetime) -> None:
        self.directory = directory
        self.now = now
        self._sqlite: dict[Content, Path] = {}
        self._postgres: dict[Content, str] = {}

    def sqlite_copy(self, path: Path, content: Content) -> str:
        """A SQLite file at `path` (which must not exist yet) holding `content`; returns its URL."""
        if path.exists():
            raise FileExistsError(path)
        shutil.copyfile(self._sqlite_template(content), path)
        return f"sqlite:///{path}"

    def postgres_copy(self, server: ThrowawayPostgres, content: Content) -> str:
        """A new PostgreSQL database on `server` (the session's one) holding `content`; returns its name."""
        return server.create_database(template=self._postgres_template(server, content))

    # -- the templates, each made once ----------------------------------------------------------

    def _sqlite_template(self, content: Content) -> Path:
        if content not in self._sqlite:
            path = self.directory / f"{content}.db"
            url = f"sqlite:///{path}"
            if content == "schema":
                migrate.upgrade(sync_url(to_url(url)))
            else:
                shutil.copyfile(self._sqlite_template("schema"), path)
                self._seed(url)
                # back from WAL to a self-contained file: a copy of it alone is the whole database
                with closing(sqlite3.connect(path)) as connection:
                    connection.execute("PRAGMA journal_mode=DELETE")
            self._sqlite[content] = path
        return self._sqlite[content]

    def _postgres_template(self, server: ThrowawayPostgres, content: Content) -> str:
        if content not in self._postgres:
            if content == "schema":
                name = server.create_database(f"template_{content}")
                migrate.upgrade(sync_url(to_url(server.url("psycopg", name))))
            else:
                name = server.create_database(f"template_{content}", template=self._postgres_template(server, "schema"))
                self._seed(server.url("psycopg", name))
            # both leave no connection open: a template must have none while it is copied
            self._postgres[content] = name
        return self._postgres[content]

    def _seed(self, url: str) -> None:
        async def seed() -> None:
            db = open_database(url)
            try:
                async with db.sessions() as session, session.begin():
                    await sample.seed(session, self.now)
            finally:
                await db.close()

        # its own thread, so this works whether or not the caller is inside an event loop
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, seed()).result()
