"""What the parse-table tests share: the bot's rule for when a mention names one customer.
Their fixtures, `index` and `parser`, are in conftest.py."""

from __future__ import annotations

from datetime import datetime, timezone

from crmbot.store.search import TeamIndex, clear_winner

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday


def resolve(index: TeamIndex, mention: str) -> str | None:
    """The customer the bot would act on for this mention, or None when it would ask back."""
    winner = clear_winner(index.search(mention, 5)) if mention else None
    return winner.display if winner else None
