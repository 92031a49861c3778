"""INSERT … ON CONFLICT for the engine behind a session: both SQLite and PostgreSQL have it,
each in its own SQLAlchemy dialect."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(session: AsyncSession, model):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
