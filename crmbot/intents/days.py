"""Days of the year in folded text: a birthday or an anniversary ("12 March", "12. března",
"3月12日", "12.3.1980"), and the end of a named month ("end of January", "konec ledna", "1月底").

Unlike a due date, a day of the year is not in the future or the past: it has a month and a
day, and a year only when one is written. Month names come from Babel for each language (every
form it knows: "březen" and "března", "Mar" and "March"), plus the forms a language's
`[day_words.months]` adds (mutated Welsh "Fawrth", Slovenian "marca").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from crmbot import yearly
from crmbot.i18n import Language
from crmbot.text import fold

END_OF_MONTH_HOUR = 17  # "end of January" is that day's end of business, as "end of month" is


@dataclass(frozen=True)
class Day:
    month: int
    day: int
    year: int | None
    span: tuple[int, int]


@lru_cache(maxsize=16)  # Language is hashed by identity
def month_names(language: Language) -> tuple[dict[str, int], dict[str, int], re.Pattern]:
    """Every written form of every month, folded: the forms that may take endings (Babel's
    wide names, the locale's own), the abbreviations; and one pattern for a word that may be
    one of them, longest first (Czech "července" before "červen")."""
    wide: dict[str, int] = {}
    short: dict[str, int] = {}
    months = language.babel.months
    for context in ("format", "stand-alone"):
        for width, table in (("wide", wide), ("abbreviated", short)):
            for number, name in months.get(context, {}).get(width, {}).items():
                key = fold(name).rstrip(".")
                if key and not re.search(r"\d", key):
                    table.setdefault(key, number)
    for name, number in language.data.get("day_words", {}).get("months", {}).items():
        wide[fold(name)] = int(number)
    forms = sorted({*wide, *short}, key=len, reverse=True)
    alternatives = "|".join(re.escape(n) for n in forms)
    return wide, short, re.compile(rf"(?<![^\W\d_])(?P<month>(?:{alternatives})[^\W\d_]*)\.?")


def _month_of(language: Language, word: str) -> int | None:
    """The month a written word names: a form exactly, a wide form with an ending ("martda",
    "marca"), or the start of a wide form ("Sept"); never a word that only begins like one
    ("married", "decided")."""
    wide, short, _ = month_names(language)
    if word in wide or word in short:
        return wide.get(word) or short[word]
    for form in sorted(wide, key=len, reverse=True):
        if word.startswith(form) or (len(word) >= 3 and form.startswith(word)):
            return wide[form]
    return None


_ISO = re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)")
_CJK = re.compile(r"(?:(?P<y>\d{4})\s?年\s?)?(?P<m>\d{1,2})\s?月\s?(?P<d>\d{1,2})\s?(?:日|号|號)?")
_DOTTED = re.compile(r"(?<![\d.])(?P<d>\d{1,2})\.\s?(?P<m>\d{1,2})\.(?:\s?(?P<y>\d{4}))?(?![\d])")
_SLASHED = re.compile(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}))?(?![\d/])")
_YEAR = re.compile(r"\s*,?\s*(?P<y>(?:19|20)\d{2})(?!\d)")
_ORDINAL = r"(?:st|nd|rd|th|af|ail|ydd|fed|eg|ed|ain|\.|-?(?:ci|cı|cu|cü|inci|ıncı|uncu|üncü))?"  # 12th, 12fed, 12-ci, 12.


def read(language: Language, folded: str) -> Day | None:
    """The first day of the year written in the text, or None."""
    found: list[Day] = []
    for pattern in (_ISO, _CJK, _DOTTED):
        for match in pattern.finditer(folded):
            year = match.group("y")
            day = _checked(int(match.group("m")), int(match.group("d")), year, match.span())
            if day is not None:
                found.append(day)
                break
    order = language.data["meta"].get("date_order", "DMY")
    for match in _SLASHED.finditer(folded):
        a, b = int(match.group("a")), int(match.group("b"))
        readings = [(b, a), (a, b)] if order == "DMY" else [(a, b), (b, a)]
        day = next((d for m_, d_ in readings if (d := _checked(m_, d_, match.group("y"), match.span())) is not None), None)
        if day is not None:
            found.append(day)
            break
    found.extend(named(language, folded))
    return min(found, key=lambda d: d.span[0]) if found else None


def named(language: Language, folded: str) -> list[Day]:
    """"12 March", "12th of March", "March 12", "12. března", "12fed o Fawrth", with a year after."""
    _, _, months = month_names(language)
    found = []
    for match in months.finditer(folded):
        month = _month_of(language, match.group("month"))
        if month is None:
            continue
        before = re.search(rf"(?<!\d)(?P<d>\d{{1,2}}){_ORDINAL}\s*(?:of\s+|o\s+|de\s+)?$", folded[: match.start()])
        after = re.match(rf"\s*(?P<d>\d{{1,2}}){_ORDINAL}(?!\d)", folded[match.end():])
        if before is not None:
            start, end, day_of_month = before.start(), match.end(), int(before.group("d"))
        elif after is not None:
            start, end, day_of_month = match.start(), match.end() + after.end(), int(after.group("d"))
        else:
            continue
        year = _YEAR.match(folded, end)
        if year is not None:
            end = year.end()
        day = _checked(month, day_of_month, year.group("y") if year else None, (start, end))
        if day is not None:
            found.append(day)
    return found


def _checked(month: int, day: int, year: str | None, span: tuple[int, int]) -> Day | None:
    if not yearly.valid(month, day):
        return None
    if year is not None:
        try:
            date(int(year), month, day)  # 29 February 1981 is no day
        except ValueError:
            return None
    return Day(month, day, int(year) if year else None, span)


def end_of_month(language: Language, folded: str, now: datetime, tz: str) -> tuple[datetime | None, tuple[int, int] | None]:
    """"end of January", "konec ledna", "1月底": the last day of the next such month, at the
    end of business in the member's zone, as aware UTC."""
    table = language.data.get("day_words", {})
    before = [fold(w) for w in table.get("end_of", [])]
    after = [fold(w) for w in table.get("end_of_after", [])]  # "yanvarın sonunda": the month comes first
    month = span = None
    zh = re.search(r"(?P<m>\d{1,2})\s?月(?:底|末)", folded)
    _, _, months = month_names(language)
    if zh is not None:
        month, span = int(zh.group("m")), zh.span()
    for words, shape in ((before, "(?<!\\w)(?:{words})\\s+(?:of\\s+)?{month}"), (after, "{month}\\s+(?:{words})(?!\\w)")):
        if month is not None or not words:
            continue
        lead = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        found = re.search(shape.format(words=lead, month=months.pattern), folded)
        if found is not None:
            month, span = _month_of(language, found.group("month")), found.span()
    if month is None or not 1 <= month <= 12:
        return None, None
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    year = today.year if month >= today.month else today.year + 1
    last = date(year, month, calendar.monthrange(year, month)[1])
    return datetime.combine(last, time(END_OF_MONTH_HOUR), zone).astimezone(timezone.utc), span


_CJK_MONTH = re.compile(r"(?<!\d)(?P<m>\d{1,2})\s?月(?:份)?(?!\s?\d)")


def month_alone(language: Language, folded: str) -> tuple[int, tuple[int, int]] | None:
    """A month named as a whole ("report za listopad", "summary for October", "十月份的业绩"),
    not as part of a day ("15. listopadu", "November 15"): (month, span), or None. A month's
    name that is also a common word (`[day_words] not_alone`: English "may", "march") is not
    read alone."""
    cjk = _CJK_MONTH.search(folded)
    if cjk is not None and 1 <= int(cjk.group("m")) <= 12:
        return int(cjk.group("m")), cjk.span()
    common = {fold(w) for w in language.data.get("day_words", {}).get("not_alone", [])}
    _, _, months = month_names(language)
    for match in months.finditer(folded):
        word = match.group("month")
        month = _month_of(language, word)
        if month is None or word in common or len(word) < 3:
            continue
        before = re.search(rf"(?<!\d)\d{{1,2}}{_ORDINAL}\s*(?:of\s+|o\s+|de\s+)?$", folded[: match.start()])
        after = re.match(rf"\s*\d{{1,2}}{_ORDINAL}(?!\d)", folded[match.end():])
        if before is None and after is None:
            return month, match.span()
    return None


def month_period(month: int, now: datetime, tz: str) -> tuple[str | None, tuple[date, date]]:
    """A month named alone as a period to look back on: "this_month" or "last_month" when it
    is one of them, and its first and last day (the latest such month not after today)."""
    today = now.astimezone(ZoneInfo(tz)).date()
    year = today.year if month <= today.month else today.year - 1
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    previous = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    name = "this_month" if (year, month) == (today.year, today.month) else \
        "last_month" if (year, month) == (previous.year, previous.month) else None
    return name, (first, last)
