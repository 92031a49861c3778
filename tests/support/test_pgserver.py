"""Smoke tests for the throwaway Postgres helper (skipped without Postgres unless required)."""

import os
import socket

import pytest

from . import pgserver
from .pgserver import PostgresUnavailable, ThrowawayPostgres, start_or_skip

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def pg(postgres):
    """The session's server (see tests/conftest.py): starting one is what takes the time."""
    if postgres is None:
        pytest.skip("PostgreSQL not in CRMBOT_TEST_ENGINES, or not installed")
    return postgres


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_url_shapes():
    pg = ThrowawayPostgres()
    pg.port = 5999
    assert pg.url() == "postgresql+psycopg://postgres@127.0.0.1:5999/crmbot"
    assert pg.url("asyncpg") == "postgresql+asyncpg://postgres@127.0.0.1:5999/crmbot"
    assert pg.url(None, database="other") == "postgresql://postgres@127.0.0.1:5999/other"


def test_missing_binaries_raise_unavailable(monkeypatch):
    monkeypatch.delenv(pgserver.BINDIR_ENV, raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(pgserver.glob, "glob", lambda pattern: [])
    with pytest.raises(PostgresUnavailable):
        pgserver.find_bindir()


def test_select_one(pg):
    with psycopg.connect(pg.url(None)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        # Settings the helper promises: UTF8 and durability off.
        assert conn.execute("show server_encoding").fetchone() == ("UTF8",)
        assert conn.execute("show fsync").fetchone() == ("off",)


def test_create_and_drop_database(pg):
    name = pg.create_database()
    conn = psycopg.connect(pg.url(None, database=name))
    try:
        assert conn.execute("select current_database()").fetchone() == (name,)
        # Dropping must not hang on (or be refused by) a still-open connection.
        pg.drop_database(name)
    finally:
        conn.close()
    with psycopg.connect(pg.url(None, database="postgres")) as admin:
        row = admin.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
    assert row is None


def test_create_database_from_a_template(pg):
    template = pg.create_database()
    try:
        with psycopg.connect(pg.url(None, database=template), autocommit=True) as conn:
            conn.execute("create table t (x int); insert into t values (7)")
        copy = pg.create_database(template=template)
        try:
            with psycopg.connect(pg.url(None, database=copy)) as conn:
                assert conn.execute("select x from t").fetchall() == [(7,)]
        finally:
            pg.drop_database(copy)
    finally:
        pg.drop_database(template)


def test_pg_trgm_available(pg):
    name = pg.create_database()
    try:
        with psycopg.connect(pg.url(None, database=name)) as conn:
            conn.execute("create extension pg_trgm")
            close, far = conn.execute(
                "select similarity('Acme Corp', 'Acme Corporation'), similarity('Acme', 'Zebra')"
            ).fetchone()
        assert close > 0.4 > far
    finally:
        pg.drop_database(name)


async def test_asyncpg_connects(pg):
    asyncpg = pytest.importorskip("asyncpg")
    conn = await asyncpg.connect(pg.url(None))
    try:
        assert await conn.fetchval("select 1") == 1
    finally:
        await conn.close()


def test_stop_removes_server():
    # Its own server, so stopping it cannot disturb the shared one.
    server = start_or_skip()
    port, base_dir = server.port, server.base_dir
    assert _port_open(port)
    server.stop()
    assert not _port_open(port)
    assert server.base_dir is None and not os.path.exists(base_dir)
    server.stop()  # idempotent
