"""Due dates from phone-style text, relative to an injected clock and the member's time zone.

dateparser reads day phrases ("tomorrow", "in 3 days", "5 December") in every language we
have, but drops bare hours ("at 9") and relative weekdays ("next Tuesday") in most of them,
so times of day and weekdays are read here from each locale's patterns and combined.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dateparser

from crmbot.i18n import Language
from crmbot.intents import days
from crmbot.text import CJK, fold

DEFAULT_HOUR = 9  # a day with no time named means the start of the working day
END_OF_DAY_HOUR = 17
EVENING_HOUR = 18
AFTERNOON_HOUR = 14
NOON_HOUR = 12
# parts of the day a locale's `[ampm]` may name, the most specific first: "tomorrow evening"
# is 18:00, "end of day" 17:00 even when the word "day" is there too, and "after noon"
# (az "gunorta sonra") 14:00 though it holds the word for noon
PARTS_OF_DAY = (("end_of_day", END_OF_DAY_HOUR), ("evening", EVENING_HOUR), ("afternoon", AFTERNOON_HOUR), ("noon", NOON_HOUR))
FAR = timedelta(days=366)  # a date further than this from today is asked about, not kept
BUSINESS_START = 7  # "at 3" means 15:00: nobody books a customer call at 3 in the night


@dataclass(frozen=True)
class Found:
    value: datetime | None
    spans: tuple[tuple[int, int], ...]
    in_past: bool = False
    odd: bool = False  # more than a year away: asked about, never stored as read


def _in_any(language: Language, key: str, word: str) -> bool:
    return word in language.data.get("ampm", {}).get(key, [])


def _first(language: Language, key: str, text: str, taken: list[tuple[int, int]]) -> re.Match | None:
    for pattern in language.compiled.get(key, []):
        at = 0
        while (match := pattern.search(text, at)) is not None:
            if not any(s < match.end() and match.start() < e for s, e in taken):
                return match
            # a match running into words already read may hold one starting later: "明天早上"
            # was read as a day, "8点半" after it is still the time
            at = match.start() + 1
    return None


def _time_of_day(language: Language, text: str, taken: list, marked_only: bool = False) -> time | None:
    """The clock time said; with `marked_only`, only one written with its am/pm ("4pm"):
    another language's bare "10.00" may be a number of ours ("10.000 EUR")."""
    match = _first(language, "time", text, taken)
    if marked_only:
        match = next((m for p in language.compiled.get("time", []) for m in p.finditer(text)
                      if m.groupdict().get("ampm") and not any(s < m.end() and m.start() < e for s, e in taken)), None)
    if match is None:
        return None
    groups = match.groupdict()
    hour = clock_hour(language, groups["h"])
    if hour is None:
        return None
    minute = int(groups.get("m") or 0)
    # a spelled quarter or half ("10点半", "half past", "hanner awr wedi"); `prev` says the hour
    # named is the coming one: "půl desáté", "ob pol desetih" 9:30, "quarter to ten" 9:45
    for key, minutes in CLOCK_PARTS:
        if groups.get(key) is not None:
            minute = minutes
    if groups.get("prev") is not None:
        hour = hour - 1 if hour > 1 else 12
    marker = (groups.get("ampm") or "").lower()
    if hour > 23 or minute > 59:
        return None
    if _in_any(language, "pm", marker) and hour < 12:
        hour += 12
    elif _in_any(language, "am", marker) and hour == 12:
        hour = 0
    elif not marker and hour < BUSINESS_START and not _said(language, "morning", text):
        hour += 12
    elif not marker and hour < 12 and (_said(language, "afternoon", text) or _said(language, "evening", text)):
        hour += 12
    taken.append(match.span())
    return time(hour, minute)


CLOCK_PARTS = (("quarter", 15), ("half", 30), ("threequarters", 45))


def clock_hour(language: Language, said: str) -> int | None:
    """An hour as digits or as a word of the locale's `[clock_hours]` ("desáté" 10, "九" 9)."""
    if said.isdigit():
        return int(said)
    value = language.data.get("clock_hours", {}).get(" ".join(said.lower().split()))
    return int(value) if value is not None else None


def _word(word: str) -> str:
    """A word as a regex that needs word boundaries only where the script has them."""
    before = "" if re.match(f"[{CJK}]", word) else r"(?<!\w)"
    after = "" if re.search(f"[{CJK}]$", word) else r"(?!\w)"
    return rf"{before}{re.escape(word)}{after}"


@lru_cache(maxsize=64)  # Language is hashed by identity: a few entries per language
def _said_pattern(language: Language, key: str) -> re.Pattern | None:
    """Any word of the language's `[ampm] key` list, as a whole word: one compiled pattern,
    where a search per word built and looked up its regex again on every message."""
    listed = language.data.get("ampm", {}).get(key, [])
    return re.compile("|".join(f"(?:{_word(w)})" for w in listed)) if listed else None


def _said(language: Language, key: str, text: str) -> bool:
    pattern = _said_pattern(language, key)
    return pattern is not None and pattern.search(text) is not None


def _day_offset(language: Language, text: str, taken: list[tuple[int, int]]) -> tuple[int, tuple[int, int]] | None:
    """A word naming a day by its distance from today ("pojutrišnjem" 2, "dünən" -1), from the
    locale's `[day_offsets]`: dateparser knows few of them."""
    table = {fold(k): v for k, v in language.data.get("day_offsets", {}).items()}
    for word in sorted(table, key=len, reverse=True):
        for match in re.finditer(_word(word), text):
            if not any(s < match.end() and match.start() < e for s, e in taken):
                return int(table[word]), match.span()
    return None


def _default_hour(language: Language, text: str) -> int:
    for key, hour in PARTS_OF_DAY:
        if _said(language, key, text):
            return hour
    return DEFAULT_HOUR


_ISO_DATE = re.compile(r"(?<![\d.])(?P<y>\d{4})-(?P<a>\d{1,2})-(?P<b>\d{1,2})(?![\d])")
_SLASH_DATE = re.compile(r"(?<![\d/.,])(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\d/])")
_DOT_DATE = re.compile(r"(?<![\d.,:$€£¥₼])(?P<a>\d{1,2})\.\s?(?P<b>\d{1,2})(?:\.(?:\s?(?P<y>\d{4}))?)?(?![\d]|[.,]\d)")


# signs after a number that make it money or a share in any language: "3.6万", "2.5k", "1.2M"
MONEY_SIGNS = ("%", "k", "m", "w", "万", "千", "亿", "元", "块")


@lru_cache(maxsize=32)  # Language is hashed by identity: one entry per language
def _numbers_after(language: Language) -> re.Pattern:
    """What may follow a number that makes it money or a share, not a date: "2.5k", "1.2 mil"."""
    words = [*language.data.get("multipliers", {}), *language.data.get("currencies", {}), *MONEY_SIGNS]
    # a word of letters must end there ("2.12 mon" is a date); a sign or CJK unit need not
    alternatives = "|".join(re.escape(w.lower()) + (r"(?![^\W\d_])" if w[-1:].isascii() and w[-1:].isalpha() else "")
                            for w in sorted(set(words), key=len, reverse=True))
    return re.compile(rf"\s?(?:{alternatives})", re.IGNORECASE)


def numeric_date(language: Language, text: str, today: date, taken: list[tuple[int, int]],
                 past: bool = False) -> tuple[date | None, tuple[int, int] | None, bool]:
    """A date written in digits the way the member's locale writes them: 2026-12-15, 15/12
    (12/15 where day and month can only be read that way round), 15.12., 15. 12., 2.12.
    A date without a year is the next such day (with `past`, the last one). (date, span,
    odd): `odd` when the date is more than a year from today — a slip more likely than a
    plan, so it is asked about."""
    order = language.data["meta"].get("date_order", "DMY")
    money = _numbers_after(language)
    times = [m.span() for p in language.compiled.get("time", []) for m in p.finditer(text)]
    for pattern in (_ISO_DATE, _SLASH_DATE, _DOT_DATE):
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(s < end and start < e for s, e in taken) or money.match(text, end):
                continue
            if pattern is _DOT_DATE and any(s < start < e for s, e in times):
                continue  # "at 9.10", "v 10.15": a clock time after its preposition
            a, b, year = int(match.group("a")), int(match.group("b")), match.group("y")
            if pattern is _ISO_DATE:
                readings = [(b, a)]
            elif pattern is _DOT_DATE:
                readings = [(a, b)]  # a dotted date is always day.month
            else:
                readings = [(a, b), (b, a)] if order == "DMY" else [(b, a), (a, b)]
            for day_, month in readings:
                found = _valid(today, day_, month, year, past)
                if found is not None:
                    return found, (start, end), abs(found - today) > FAR
    return None, None, False


def _valid(today: date, day_: int, month: int, year: str | None, past: bool = False) -> date | None:
    try:
        if year:
            return date(int(year) + (2000 if len(year) == 2 else 0), month, day_)
        found = date(today.year, month, day_)
        if past:
            return found if found <= today else found.replace(year=today.year - 1)
        return found if found >= today else found.replace(year=today.year + 1)
    except ValueError:  # 29 February in a year without it
        return None


def _parse_day(language: Language, phrase: str, base: datetime) -> datetime | None:
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": language.data["meta"].get("date_order", "DMY"),
    }
    return dateparser.parse(phrase, languages=[language.data["meta"]["dateparser"]], settings=settings)


def _has_clock_unit(language: Language, phrase: str) -> bool:
    units = language.data.get("units", {})
    return any(units.get(w) in ("hours", "minutes") for w in re.findall(r"[^\W\d_]+", phrase))


def extract(language: Language, text: str, now: datetime, tz: str, fallback: Language | None = None) -> Found:
    """Find one due moment in folded `text`; `now` is aware, the result is aware UTC. A clock
    time the language's own patterns miss is looked for with `fallback`'s ("dydd Iau 4pm")."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    base = local_now.replace(tzinfo=None, microsecond=0)
    taken: list[tuple[int, int]] = []
    day: date | None = None
    exact: datetime | None = None
    default_hour = _default_hour(language, text)

    rel = _first(language, "relative", text, taken)
    if rel is not None:
        taken.append(rel.span())
        which = next(k for k, v in rel.groupdict().items() if v)
        today = base.date()
        if which == "next_week":
            day = today + timedelta(days=7 - today.weekday())
            wd = _first(language, "weekday", text, taken)
            if wd is not None:  # "next week tues", "Thursday next week": that day of next week
                taken.append(wd.span())
                day += timedelta(days=language.data["weekdays"][wd.group("wd").lower()])
        elif which == "end_of_next_week":
            day = today + timedelta(days=7 - today.weekday() + 4)
            default_hour = END_OF_DAY_HOUR
        elif which == "end_of_week":
            day = today + timedelta(days=max(0, 4 - today.weekday()))
            default_hour = END_OF_DAY_HOUR
        elif which == "end_of_month":
            day = today.replace(day=calendar.monthrange(today.year, today.month)[1])
            default_hour = END_OF_DAY_HOUR

    odd = False
    if day is None:
        wd = _first(language, "weekday", text, taken)
        if wd is not None:
            target = language.data["weekdays"][wd.group("wd").lower()]
            if wd.groupdict().get("next"):
                # "příští pátek", "下周五": that day of the next calendar week
                day = base.date() + timedelta(days=7 - base.weekday() + target)
            else:
                ahead = (target - base.weekday()) % 7 or 7
                day = base.date() + timedelta(days=ahead)
            # "Mon 7th Dec", "pátek 4.12.": the date says which one; a date on another
            # weekday ("Friday 3rd" when the 3rd is a Thursday) is asked about
            named, span = _date_named(language, text, base.date(), taken, wd.span())
            taken.append(wd.span())
            if named is not None:
                taken.append(span)
                odd = named.weekday() != target
                day = named

    if day is None:
        offset = _day_offset(language, text, taken)
        if offset is not None:
            taken.append(offset[1])
            day = base.date() + timedelta(days=offset[0])

    if day is None and exact is None:
        # "in 3 days", "3 gün sonra", "čez 2 uri": days count from today, hours from now
        later = _first(language, "in_units", text, taken)
        if later is not None:
            unit = language.data.get("units", {}).get(later.group("unit").lower())
            if unit:
                taken.append(later.span())
                delta = timedelta(**{unit: int(later.group("n"))})
                if unit in ("hours", "minutes"):
                    exact = base + delta
                else:
                    day = base.date() + delta

    if day is None:
        numeric = _first(language, "numeric_date", text, taken)
        if numeric is not None:
            day = _numeric_date(base.date(), numeric)
            if day is not None:
                taken.append(numeric.span())
    if day is None:
        day, span, odd = numeric_date(language, text, base.date(), taken)
        if span is not None:
            taken.append(span)

    if day is None:
        dom = _first(language, "day_of_month", text, taken)
        if dom is not None:
            taken.append(dom.span())
            day = _next_day_of_month(_month_of(base.date(), dom), int(dom.group("d")))

    if day is None:
        day, span = _month_day_named(language, text, base.date(), taken)
        if day is not None:
            taken.append(span)
            odd = abs(day - base.date()) > FAR

    tod = _time_of_day(language, text, taken)
    if tod is None and fallback is not None and fallback is not language:
        tod = _time_of_day(fallback, text, taken, marked_only=True)

    if day is None:
        phrase = _first(language, "day", text, taken)
        if phrase is not None:
            taken.append(phrase.span())
            parsed = _parse_day(language, phrase.group(0), base)
            if parsed is not None:
                if _has_clock_unit(language, phrase.group(0)):
                    exact = parsed
                else:
                    day = parsed.date()
                    odd = abs(day - base.date()) > FAR

    if exact is None and day is None and tod is None and default_hour != DEFAULT_HOUR:
        # "tonight", "this afternoon", "eod" alone: today at that hour (tomorrow once it is past)
        tod = time(default_hour, 0)
    if exact is None and day is None and tod is None:
        return Found(None, tuple(taken))
    if exact is None:
        if day is None:
            day = base.date() if datetime.combine(base.date(), tod) > base else base.date() + timedelta(days=1)
        exact = datetime.combine(day, tod or time(default_hour, 0))
    aware = exact.replace(tzinfo=zone)
    in_past = aware < local_now - timedelta(minutes=1)
    return Found(aware.astimezone(ZoneInfo("UTC")), tuple(taken), in_past, odd)


MONTH_BESIDE_WEEKDAY = 6  # characters between a weekday and a date said with it ("středu 16. prosince", "16 dekabr, çərşənbə")


def _date_named(language: Language, text: str, today: date, taken: list[tuple[int, int]],
                weekday: tuple[int, int]) -> tuple[date | None, tuple[int, int] | None]:
    """A date written beside a weekday: the locale's numeric dates, digits in our own
    forms, a day of a month named in words ("ve středu 16. prosince", "Wed 16 Dec"), or a
    day of the month ("7th", "7fed")."""
    numeric = _first(language, "numeric_date", text, taken)
    if numeric is not None and (found := _numeric_date(today, numeric)) is not None:
        return found, numeric.span()
    found, span, _ = numeric_date(language, text, today, taken)
    if found is not None:
        return found, span
    found, span = _month_day_named(language, text, today, taken, weekday)
    if found is not None:
        return found, span
    dom = _first(language, "day_of_month", text, taken)
    if dom is not None and (found := _next_day_of_month(_month_of(today, dom), int(dom.group("d")))) is not None:
        return found, dom.span()
    return None, None


def _month_day_named(language: Language, text: str, today: date, taken: list[tuple[int, int]],
                     weekday: tuple[int, int] | None = None) -> tuple[date | None, tuple[int, int] | None]:
    """"10 Rhag", "Dekabrın 1-də", "12. prosince": the first day of a month named in words
    (Babel's month names of the language, in all their forms) clear of `taken`, as the next
    such day. With `weekday`, only one right beside it, not in its word ("dydd Mawrth" is
    Tuesday, and Mawrth is March) nor far off in the message ("maybe 5k" is no 5 May)."""
    clear_of = taken if weekday is None else [*taken, weekday]
    for named in days.named(language, text):
        if any(s < named.span[1] and named.span[0] < e for s, e in clear_of):
            continue
        if weekday is not None and max(named.span[0] - weekday[1], weekday[0] - named.span[1]) > MONTH_BESIDE_WEEKDAY:
            continue
        found = _valid(today, named.day, named.month, str(named.year) if named.year else None)
        return (found, named.span) if found is not None else (None, None)
    return None, None


def _month_of(today: date, dom: re.Match) -> date:
    """Where a day of the month is counted from: today, or the first of next month when the
    pattern's `next_month` group was said ("下个月5号", "gələn ayın 10-da")."""
    if not dom.groupdict().get("next_month"):
        return today
    return date(today.year + 1, 1, 1) if today.month == 12 else date(today.year, today.month + 1, 1)


def _numeric_date(today: date, match: re.Match) -> date | None:
    """"5.12." is the next 5 December; with a year, that day of that year."""
    day, month, year = int(match.group("d")), int(match.group("m")), match.groupdict().get("y")
    try:
        found = date(int(year) if year else today.year, month, day)
        if not year and found < today:
            found = found.replace(year=today.year + 1)
    except ValueError:
        return None
    return found


def _next_day_of_month(today: date, dom: int) -> date | None:
    year, month = today.year, today.month
    for _ in range(13 if dom >= 1 else 0):  # "0." or a digit cut from a longer number is no day
        if dom <= calendar.monthrange(year, month)[1]:
            candidate = date(year, month, dom)
            if candidate >= today:
                return candidate
        month, year = (1, year + 1) if month == 12 else (month + 1, year)
    return None


def duration(language: Language, text: str, taken: list[tuple[int, int]] = ()) -> tuple[timedelta | None, tuple[int, int] | None]:
    """A delay such as "snooze 2h" or "30 min", outside the `taken` spans (an amount such as
    "1.5m czk" is not five minutes)."""
    for pattern in language.compiled.get("duration", []):
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue
            unit = language.data.get("units", {}).get(match.group("unit").lower())
            if unit:
                return timedelta(**{unit: int(match.group("n"))}), match.span()
    return None, None


# -- days a summary covers --------------------------------------------------------------------


@dataclass(frozen=True)
class Days:
    """The days a summary covers, first and last included, as named in the message."""

    first: date
    last: date
    spans: tuple[tuple[int, int], ...]


MAX_ENDING_CUT = 4  # letters of a case ending dateparser does not know ("1 noyabrdan")


def _past_day(language: Language, text: str, today: date, taken: list[tuple[int, int]]) -> tuple[date | None, tuple[int, int] | None]:
    """The first day written as a date (digits, or a day and a month name) outside `taken`;
    a date without a year is the last such day up to today."""
    found: list[tuple[int, date, tuple[int, int]]] = []
    numeric = _first(language, "numeric_date", text, taken)
    if numeric is not None:
        groups = numeric.groupdict()
        day_ = _valid(today, int(groups["d"]), int(groups["m"]), groups.get("y"), past=True)
        if day_ is not None:
            found.append((numeric.start(), day_, numeric.span()))
    day_, span, _ = numeric_date(language, text, today, taken, past=True)
    if day_ is not None:
        found.append((span[0], day_, span))
    for pattern in language.compiled.get("day", []):
        for match in pattern.finditer(text):
            # a day and a month, or a count of days ago: the words of a period ("last week")
            # are the period's, not a date's
            if not re.search(r"\d", match.group(0)) or any(s < match.end() and match.start() < e for s, e in taken):
                continue
            phrase = match.group(0)
            base = datetime.combine(today, time(12))
            parsed = None
            for cut in range(MAX_ENDING_CUT + 1):
                parsed = _parse_past(language, phrase[: len(phrase) - cut] if cut else phrase, base)
                if parsed is not None or not phrase[-1:].isalpha():
                    break
            if parsed is not None and parsed.date() <= today:
                found.append((match.start(), parsed.date(), match.span()))
    if not found:
        return None, None
    _, day_, span = min(found, key=lambda f: f[0])
    return day_, span


def _parse_past(language: Language, phrase: str, base: datetime) -> datetime | None:
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False,
                "DATE_ORDER": language.data["meta"].get("date_order", "DMY")}
    return dateparser.parse(phrase, languages=[language.data["meta"]["dateparser"]], settings=settings)


def day_range(language: Language, text: str, now: datetime, tz: str, taken: list[tuple[int, int]] = ()) -> Days | None:
    """The days a summary asks about, from folded `text`: two dates are the first and last day
    ("1.11.–15.11.", "from 1 November to 15 November"); one date after a word of
    `[day_range] since` runs to today ("since 1 November"); one date alone is that day."""
    today = now.astimezone(ZoneInfo(tz)).date()
    taken = list(taken)
    days: list[tuple[int, date]] = []
    spans = []
    while len(days) < 2:
        day_, span = _past_day(language, text, today, taken)
        if day_ is None:
            break
        days.append((span[0], day_))
        spans.append(span)
        taken.append(span)
    if not days:
        return None
    if len(days) == 2:
        first, last = sorted(d for _, d in days)
    else:
        first = last = days[0][1]
        if any(re.search(_word(fold(w)), text) for w in language.data.get("day_range", {}).get("since", [])):
            last = today
    return Days(first, last, tuple(spans))
