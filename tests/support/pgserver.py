"""A throwaway PostgreSQL server for tests.

    with ThrowawayPostgres() as pg:
        engine = create_async_engine(pg.url("asyncpg"))

Starts a private cluster from the locally installed server binaries (no Docker,
no system service), listening only on 127.0.0.1 on a free port, and removes it
again on exit. Raises PostgresUnavailable when no server binaries are found, so
tests can skip; set CRMBOT_REQUIRE_POSTGRES=1 to make that a failure instead
(CI does, so a broken install cannot silently skip the whole Postgres suite).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

REQUIRE_ENV = "CRMBOT_REQUIRE_POSTGRES"
BINDIR_ENV = "CRMBOT_PG_BINDIR"  # optional override for odd installs
DEFAULT_DATABASE = "crmbot"
SUPERUSER = "postgres"

_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Durability off: the cluster dies with the test run anyway, and this makes
# initdb/CREATE DATABASE/commits several times faster.
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL server installation on this machine."""


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0", "false", "no")


def find_bindir() -> str:
    """Directory holding initdb, pg_ctl and postgres.

    Order: $CRMBOT_PG_BINDIR, then PATH, then the highest /usr/lib/postgresql/*/bin
    (Debian/Ubuntu keep the server binaries off PATH there).
    """
    candidates = []
    if os.environ.get(BINDIR_ENV):
        candidates.append(os.environ[BINDIR_ENV])
    on_path = shutil.which("pg_ctl")
    if on_path:
        # Resolve symlinks so initdb/postgres are looked up next to the real binary.
        candidates.append(os.path.dirname(os.path.realpath(on_path)))

    def version_key(path: str) -> tuple[int, ...]:
        version = path.split(os.sep)[-2]
        return tuple(int(p) for p in re.findall(r"\d+", version)) or (0,)

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    for bindir in candidates:
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in _SERVER_BINARIES):
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install the 'postgresql' package or set " + BINDIR_ENV
    )


def _free_port() -> int:
    # Let the kernel pick; there is a small race until postgres binds, handled by retrying.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    def __init__(self, database: str = DEFAULT_DATABASE, *, start_timeout: float = 30.0):
        self.database = database
        self.start_timeout = start_timeout
        self.bindir: str | None = None
        self.base_dir: str | None = None
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._running = False
        self._admin = None  # a connection kept open for CREATE/DROP DATABASE (see _admin_sql)

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> ThrowawayPostgres:
        if self._running:
            return self
        began = time.monotonic()
        self.bindir = find_bindir()
        owner = self._server_user()
        # /tmp rather than $TMPDIR: as root, the postgres user must be able to reach it.
        self.base_dir = tempfile.mkdtemp(prefix="crmbot-pg-", dir="/tmp" if owner else None)
        atexit.register(self.stop)  # a crashed/interrupted run must not leave servers behind
        try:
            if owner:
                os.chown(self.base_dir, owner.pw_uid, owner.pw_gid)
            self._initdb()
            self._start_server()
            self._psql("postgres", f'CREATE DATABASE "{self._ident(self.database)}"')
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Kill the server (immediate mode: no checkpoint, nothing worth keeping) and delete it."""
        atexit.unregister(self.stop)
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._running:
            self._running = False
            try:
                self._run_as_server(
                    [self._bin("pg_ctl"), "stop", "-D", self.data_dir, "-m", "immediate", "-w", "-t", "30"]
                )
            except subprocess.CalledProcessError:
                self._kill_postmaster()
        if self.base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    # -- public helpers ----------------------------------------------------------

    @property
    def data_dir(self) -> str:
        return os.path.join(self.base_dir, "data")

    def url(self, driver: str | None = "psycopg", database: str | None = None) -> str:
        """SQLAlchemy-style URL; driver None gives a plain libpq URL (postgresql://...)."""
        scheme = "postgresql" if driver is None else f"postgresql+{driver}"
        return f"{scheme}://{SUPERUSER}@127.0.0.1:{self.port}/{database or self.database}"

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a database (random name by default) and return its name: empty, or a copy
        of `template`, which must have no open connections."""
        name = self._ident(name or f"t_{uuid.uuid4().hex[:16]}")
        # FILE_COPY: for a small template, copying its files beats writing it all through the WAL
        copy_of = f' TEMPLATE "{self._ident(template)}" STRATEGY FILE_COPY' if template else ""
        self._admin_sql(f'CREATE DATABASE "{name}"{copy_of}')
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: tests often leave pooled connections open; don't make teardown wait on them.
        self._admin_sql(f'DROP DATABASE IF EXISTS "{self._ident(name)}" WITH (FORCE)')

    def psql(self, sql: str, database: str | None = None) -> str:
        """Run SQL through psql and return its unaligned, tuples-only output."""
        return self._psql(database or self.database, sql)

    # -- internals ---------------------------------------------------------------

    def _bin(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    @staticmethod
    def _ident(name: str) -> str:
        # Only plain lowercase identifiers: no quoting surprises in URLs or SQL.
        if not _IDENT.match(name):
            raise ValueError(f"unsupported database name: {name!r}")
        return name

    @staticmethod
    def _server_user() -> pwd.struct_passwd | None:
        """The OS user to run the server as: 'postgres' when we are root, else ourselves (None)."""
        if os.geteuid() != 0:
            return None
        if not shutil.which("runuser"):
            raise PostgresUnavailable("running as root but 'runuser' is missing (util-linux)")
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root, and PostgreSQL refuses root, but there is no 'postgres' OS user"
            ) from None

    def _run_as_server(self, argv: list[str]) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        # cwd inside our dir: the postgres user may not be able to access the caller's cwd.
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(
            argv, cwd=self.base_dir, env=env, check=True, capture_output=True, text=True
        )

    def _initdb(self) -> None:
        try:
            self._run_as_server(
                [self._bin("initdb"), "-D", self.data_dir, "-U", SUPERUSER, "-A", "trust",
                 "-E", "UTF8", "--locale=C", "--no-sync"]
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed:\n{exc.stdout}{exc.stderr}") from None
        settings = {**_SETTINGS, "unix_socket_directories": f"'{self.base_dir}'"}
        # Appending keeps the file owned by the server user.
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as conf:
            conf.write("\n# crmbot throwaway test server\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def _start_server(self, attempts: int = 5) -> None:
        log = os.path.join(self.base_dir, "server.log")
        for _ in range(attempts):
            self.port = _free_port()
            offset = os.path.getsize(log) if os.path.exists(log) else 0
            try:
                # -w: pg_ctl returns only once the server accepts connections (bounded by -t).
                self._run_as_server(
                    [self._bin("pg_ctl"), "start", "-D", self.data_dir, "-l", log, "-w",
                     "-t", str(int(self.start_timeout)), "-o", f"-p {self.port}"]
                )
                self._running = True
                return
            except subprocess.CalledProcessError as exc:
                with open(log, errors="replace") as fh:
                    fh.seek(offset)
                    output = fh.read()
                self._kill_postmaster()  # in case of a timeout with the process still alive
                if "could not bind" in output or "could not create listen socket" in output:
                    continue  # someone grabbed the port between probe and bind: try another
                raise RuntimeError(
                    f"postgres failed to start (pg_ctl exit {exc.returncode}):\n"
                    f"{exc.stdout}{exc.stderr}{output}"
                ) from None
        raise RuntimeError(f"postgres could not bind a free port after {attempts} attempts")

    def _kill_postmaster(self) -> None:
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as fh:
                pid = int(fh.readline())
            os.kill(pid, 9)
        except (OSError, ValueError):
            pass

    def _admin_sql(self, sql: str) -> None:
        """A statement on the maintenance database through one kept connection: the suite
        creates and drops a database per test, and a psql process each time costs more CPU
        than the statement. psql when no driver is installed."""
        try:
            import psycopg
        except ImportError:
            self._psql("postgres", sql)
            return
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url(None, "postgres"), autocommit=True)
        self._admin.execute(sql)

    def _psql(self, database: str, sql: str) -> str:
        # psql instead of a Python driver: keeps this helper dependency-free.
        psql = self._bin("psql")
        if not os.access(psql, os.X_OK):
            psql = shutil.which("psql") or psql
        result = subprocess.run(
            [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql],
            capture_output=True, text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {sql}\n{result.stderr.strip()}")
        return result.stdout.strip()


def start_or_skip() -> ThrowawayPostgres:
    """Start a server for a pytest fixture: skip if Postgres is missing, unless required."""
    import pytest

    try:
        return ThrowawayPostgres().start()
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but PostgreSQL is unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")
