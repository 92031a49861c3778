"""Whole periods in the member's time zone, for looking things up ("deals closing this month",
"agenda for tomorrow"). Unlike a summary's period, a current one runs to its end, not to now."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crmbot.store.lists import Window


def _midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz))


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def day_window(day: date, tz: str) -> Window:
    return Window(_midnight(day, tz), _midnight(day + timedelta(days=1), tz))


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def window(now: datetime, tz: str, period: str) -> Window | None:
    """[since, until) of a named period (the parser's names); "overdue" is everything before
    now; None for a name that is no period."""
    today = local_day(now, tz)
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    quarter = first.replace(month=(first.month - 1) // 3 * 3 + 1)
    spans = {
        "today": (today, today + timedelta(days=1)),
        "tomorrow": (today + timedelta(days=1), today + timedelta(days=2)),
        "this_week": (monday, monday + timedelta(days=7)),
        "last_week": (monday - timedelta(days=7), monday),
        "this_month": (first, _next_month(first)),
        "last_month": ((first - timedelta(days=1)).replace(day=1), first),
        "this_quarter": (quarter, _next_month(_next_month(_next_month(quarter)))),
    }
    if period == "overdue":
        return Window(None, now)
    if period not in spans:
        return None
    start, end = spans[period]
    return Window(_midnight(start, tz), _midnight(end, tz))
