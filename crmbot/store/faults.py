"""Which database failures are worth trying again later: the database unreachable, restarting,
locked or full. Anything else (a bug, a constraint) would fail the same way every time."""

from __future__ import annotations

from sqlalchemy import exc

# SQLite says what went wrong only in its message; these pass once the writer, the disk or the
# file system is back. ("no such table" and the like are OperationalErrors too, and are not.)
SQLITE_TRANSIENT = ("database is locked", "database table is locked", "disk i/o error", "database or disk is full",
                    "unable to open database file")


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (exc.TimeoutError, exc.DisconnectionError)):  # pool exhausted, connection dropped
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if type(error.orig).__module__.startswith("sqlite3"):
            return isinstance(error, exc.OperationalError) and any(s in str(error.orig).lower() for s in SQLITE_TRANSIENT)
        # PostgreSQL's OperationalErrors are about the server: shut down, restarting, out of
        # disk or connections, a deadlock or serialization failure; InterfaceError is the driver
        # losing its connection
        return isinstance(error, (exc.OperationalError, exc.InterfaceError))
    # a connection refused or reset before SQLAlchemy could wrap it
    return isinstance(error, (ConnectionError, TimeoutError))


def describe(error: BaseException) -> str:
    """One line for the log: the driver's first line, never the SQL or its parameters (which
    may hold what a member typed)."""
    cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig is not None else error
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first[:200]}"
