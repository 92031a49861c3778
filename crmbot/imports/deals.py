"""One row of another app's deal export as one deal's worth of fields: its title and the id the
other app gave it, the amount in minor units and its currency (from a currency column, else
the amount's own sign or code), our stage (a won or lost status closes it whatever the
stage), the close date, and who the deal is with (a person, their e-mails, an organisation).

HubSpot writes the associated contact as "Emma Thompson (emma@northwind.co.uk)", several
separated by ";": the first is the deal's customer, its e-mail found in the parentheses."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from babel.numbers import list_currencies

from crmbot.imports.contacts import BadRow, Owners, wrong_columns
from crmbot.imports.sources import Pairs, Ragged
from crmbot.imports.vocabulary import Vocabulary, folded_label
from crmbot.text import EMAIL

MAX_AMOUNT = 10**12  # as a deal made in the chat
LIMITS = {"deal_title": 300, "deal_id": 150, "contact": 300, "name": 300, "organization": 300, "company": 300,
          "lost_reason": 2000}
MAX_FIELD = 2000
# a currency written as a sign beside the amount; a code ("CZK", "usd") is read as itself
SIGNS = {"€": "EUR", "$": "USD", "US$": "USD", "£": "GBP", "¥": "CNY", "￥": "CNY", "元": "CNY", "₼": "AZN", "KČ": "CZK",
         "KC": "CZK", "ZŁ": "PLN", "₺": "TRY", "₽": "RUB", "₹": "INR"}
_SIGN = re.compile("|".join(re.escape(s) for s in sorted(SIGNS, key=len, reverse=True)), re.IGNORECASE)
_CODE = re.compile(r"(?<![A-Za-z])[A-Za-z]{3}(?![A-Za-z])")
_NUMBER = re.compile(r"[-−]?\d[\d\s\u00a0\u202f'’.,]*")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_DOTTED = re.compile(r"(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_SLASHED = re.compile(r"(\d{1,4})/(\d{1,2})/(\d{2,4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?")
_HAN = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
MONTH_FIRST = {"US", "PH", "FM", "MH", "PW"}  # regions writing 03/31/2026; elsewhere 31/03/2026


@dataclass
class DealRow:
    title: str
    source_ref: str | None = None  # "record id:1234": the other app's id, under the header it came in
    amount_minor: int | None = None
    currency: str | None = None
    stage: str = "lead"
    unknown_stage: str | None = None  # a stage word of theirs we do not know: imported as a lead
    close: datetime | None = None
    closed: datetime | None = None  # when it was won or lost, if the file says
    lost_reason: str | None = None
    person: str | None = None
    company: str | None = None
    emails: list[str] = field(default_factory=list)
    owner_id: int | None = None
    unknown_owner: str | None = None


@dataclass(frozen=True)
class DealFormat:
    """What holds for every row of one file: the team's region (how 03/04/2026 reads) and the
    currency of an amount that names none."""

    region: str | None = None
    currency: str | None = None


def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


CURRENCIES = _currencies()


def currency_of(text: str) -> str | None:
    """An ISO code or a sign; None when the text holds neither."""
    upper = text.strip().upper()
    if upper in CURRENCIES:
        return upper
    if sign := _SIGN.search(text):
        return SIGNS[sign.group().upper()]
    for code in _CODE.findall(text):
        if code.upper() in CURRENCIES:
            return code.upper()
    return None


def amount_of(text: str) -> tuple[int, str | None]:
    """Minor units and the currency the text names, from "12000", "12,500.50", "1.234,50 €",
    "CZK 250 000" or "¥50,000"; ValueError when it is no amount."""
    found = _NUMBER.search(text)
    if not found:
        raise ValueError(text)
    number = re.sub(r"[\s\u00a0\u202f'’]", "", found.group()).replace("−", "-").rstrip(".,")
    dot, comma = number.rfind("."), number.rfind(",")
    if dot >= 0 and comma >= 0:  # "1,234.50" or "1.234,50": the later one is the decimal mark
        decimal = "." if dot > comma else ","
        number = number.replace("," if decimal == "." else ".", "").replace(",", ".")
    elif comma >= 0:  # "12,50" is twelve and a half; "12,500" and "1,250,000" are thousands
        whole, _, fraction = number.rpartition(",")
        number = number.replace(",", "") if len(fraction) == 3 or number.count(",") > 1 else f"{whole.replace(',', '')}.{fraction}"
    elif number.count(".") > 1:  # "1.250.000"
        number = number.replace(".", "")
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite() or not 0 <= value < MAX_AMOUNT:
        raise ValueError(text)
    rest = (text[: found.start()] + " " + text[found.end():]).strip()
    currency = currency_of(rest) if rest else None
    if rest and (currency is None or re.search(r"\w", _SIGN.sub(" ", _CODE.sub(" ", rest), count=1))):
        raise ValueError(text)  # words beside the number: "about 100", "1e999"
    return int((value * 100).to_integral_value()), currency


def _moment(year: int, month: int, day: int, time: tuple[str | None, ...]) -> datetime:
    hour, minute, second = (int(t) if t else 0 for t in time[:3])
    if len(time) > 3 and time[3] and hour <= 12:  # 3:05 PM
        hour = hour % 12 + (12 if time[3].lower() == "pm" else 0)
    if time[0] is None:  # a day alone: noon UTC, the same day on every calendar from UTC-11 to UTC+11
        hour = 12
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def date_of(text: str, region: str | None) -> datetime:
    """A date (and time, when given, taken as UTC) as the other apps write it; ValueError else."""
    text = text.strip()
    try:
        if m := _ISO.match(text):
            return _moment(int(m[1]), int(m[2]), int(m[3]), (m[4], m[5], m[6]))
        if m := _HAN.match(text):
            return _moment(int(m[1]), int(m[2]), int(m[3]), (None, None, None))
        if m := _DOTTED.match(text):
            return _moment(int(m[3]), int(m[2]), int(m[1]), (m[4], m[5], m[6]))
        if m := _SLASHED.match(text):
            first, second, third = int(m[1]), int(m[2]), int(m[3])
            time = (m[4], m[5], m[6], m[7])
            if len(m[1]) == 4:  # 2026/03/31
                return _moment(first, second, third, time)
            year = third + 2000 if third < 100 else third
            month_first = second > 12 or (first <= 12 and (region or "").upper() in MONTH_FIRST)
            month, day = (first, second) if month_first else (second, first)
            return _moment(year, month, day, time)
    except ValueError:
        pass  # 31/02/2026: the day does not exist
    raise ValueError(text)


def _person(text: str) -> tuple[str, list[str]]:
    """The first of HubSpot's "Name (e-mail); Name (e-mail)", as a name and its e-mails."""
    first = text.split(";")[0]
    emails = [e.lower() for e in EMAIL.findall(first)]
    name = re.sub(r"\([^)]*\)", " ", EMAIL.sub(" ", first))
    return " ".join(name.split()).strip(" ,<>"), emails


def deal_from(pairs: Pairs, vocabulary: Vocabulary, owners: Owners, form: DealFormat) -> DealRow:
    if type(pairs) is Ragged:
        raise wrong_columns(pairs)
    values: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for header, raw in pairs:
        value = " ".join(raw.split()) if "\n" in raw or "\r" in raw else raw.strip()
        if not value:
            continue
        name = vocabulary.deal_field(header)
        if name is None or name == "ignore":
            continue  # a deal keeps no notes: the rest of the row is the other app's
        if len(value) > LIMITS.get(name, MAX_FIELD):
            raise BadRow("too_long", header, limit=LIMITS.get(name, MAX_FIELD))
        values[name].append((header, value))

    def first(key: str) -> str:
        return values[key][0][1] if values[key] else ""

    title = first("deal_title")
    if not title:
        raise BadRow("no_title")
    deal = DealRow(title=title)
    if values["deal_id"]:
        header, value = values["deal_id"][0]
        deal.source_ref = f"{folded_label(header)}:{value}"

    status = None
    for header, value in values["deal_status"]:
        status = vocabulary.deal_status(value)
        if status == "deleted":
            raise BadRow("deleted", header)
    stage_word = first("stage")
    if status in ("won", "lost"):
        deal.stage = status
    elif stage_word:
        stage = vocabulary.stage(stage_word)
        deal.stage = stage or "lead"
        deal.unknown_stage = None if stage else stage_word
    if deal.stage == "lost":
        deal.lost_reason = first("lost_reason") or None

    if values["amount"]:
        header, value = values["amount"][0]
        try:
            deal.amount_minor, deal.currency = amount_of(value)
        except ValueError:
            raise BadRow("bad_amount", header, value=value[:60]) from None
    if values["currency"]:
        header, value = values["currency"][0]
        currency = currency_of(value)
        if currency is None:
            raise BadRow("bad_currency", header, value=value[:60])
        deal.currency = currency
    if deal.amount_minor is not None and deal.currency is None:
        deal.currency = form.currency

    for key in ("close_date", "closed_time"):
        if values[key]:
            header, value = values[key][0]
            try:
                moment = date_of(value, form.region)
            except ValueError:
                raise BadRow("bad_date", header, value=value[:60]) from None
            if key == "close_date":
                deal.close = moment
            else:
                deal.closed = moment

    person = first("contact") or first("name") or " ".join(p for p in (first("first_name"), first("last_name")) if p)
    deal.person, deal.emails = _person(person) if person else ("", [])
    deal.person = deal.person or None
    for header, value in values["email"]:
        found = [e.lower() for e in EMAIL.findall(value)]
        if not found:
            raise BadRow("not_email", header, value=value[:60])
        deal.emails += [e for e in found if e not in deal.emails]
    deal.company = (first("organization") or first("company")).split(";")[0].strip() or None
    if not deal.person and not deal.company and not deal.emails:
        raise BadRow("no_customer")
    if owner := first("deal_owner") or first("owner"):
        deal.owner_id = owners.find(owner)
        deal.unknown_owner = None if deal.owner_id else owner
    return deal
