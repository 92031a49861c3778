"""Days that come back every year (birthdays, anniversaries): when is the next one?

A day is a month and a day of the month. 29 February is kept as it was said; in a year without
it, it falls on 28 February (the last day of that February, so a reminder is never late).
Reminders go out at the start of the member's working day in their own time zone.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

REMIND_AT = time(9, 0)  # the start of the working day, as for any follow-up without an hour


def valid(month: int, day: int) -> bool:
    """Whether month/day is a day of some year (29 February is; 31 April is not)."""
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000, month)[1]  # 2000 was a leap year


def in_year(year: int, month: int, day: int) -> date:
    """The day in `year`: 29 February of a year without it is 28 February."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def anchor(month: int, day: int) -> str:
    """How a follow-up keeps its yearly day: "02-29"."""
    return f"{month:02d}-{day:02d}"


def parse_anchor(value: str) -> tuple[int, int]:
    month, day = value.split("-")
    return int(month), int(day)


def moment(year: int, month: int, day: int, tz: str) -> datetime:
    """That year's day at REMIND_AT in the time zone, as aware UTC."""
    local = datetime.combine(in_year(year, month, day), REMIND_AT, ZoneInfo(tz))
    return local.astimezone(timezone.utc)


def first_after(month: int, day: int, now: datetime, tz: str) -> datetime:
    """The first reminder moment still ahead of `now`: this year's, or next year's once it passed."""
    year = now.astimezone(ZoneInfo(tz)).year
    found = moment(year, month, day, tz)
    while found <= now:
        year += 1
        found = moment(year, month, day, tz)
    return found


def following(month: int, day: int, delivered_due: datetime, now: datetime, tz: str) -> datetime:
    """The reminder after the one due at `delivered_due` (in the member's zone): the next year's
    day, even when this one was delivered late; never a moment already past."""
    year = delivered_due.astimezone(ZoneInfo(tz)).year + 1
    found = moment(year, month, day, tz)
    while found <= now:
        year += 1
        found = moment(year, month, day, tz)
    return found
