"""What the parse-table tests share: the bot's rule for when a mention names one customer.
Their fixtures, `index` and `parser`, are in conftest.py."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from crmbot.store.search import TeamIndex, clear_winner

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday
TZ = "Europe/Prague"  # the member's time zone the parse tests read days in


def local(moment: datetime | None) -> datetime | None:
    """A due moment as the member's wall clock shows it (naive), for comparing with a literal."""
    return moment.astimezone(ZoneInfo(TZ)).replace(tzinfo=None) if moment else None


def resolve(index: TeamIndex, mention: str) -> str | None:
    """The customer the bot would act on for this mention, or None when it would ask back."""
    winner = clear_winner(index.search(mention, 5)) if mention else None
    return winner.display if winner else None
