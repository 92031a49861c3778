"""The store: every row belongs to a team, every query is scoped by team.

Code above the store names a database session as `crmbot.store.Session`, so only the store
imports SQLAlchemy.
"""

from sqlalchemy.ext.asyncio import AsyncSession as Session

__all__ = ["Session"]
