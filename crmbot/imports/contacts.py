"""One row of another app's file as one customer's worth of fields: names joined, every e-mail
and phone kept (phones in E.164 where the team's region makes them readable), the owner found
among the members, the status word mapped to ours, and whatever has no field of ours kept in
the notes as "Header: value"."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

from crmbot.imports.sources import Pairs, Ragged
from crmbot.imports.vocabulary import Vocabulary
from crmbot.text import EMAIL, fold, has_cjk, phone_key

MAX_FIELD = 2000
# the customer columns' sizes (models.Customer): a longer value would not fit on PostgreSQL
LIMITS = {"name": 300, "first_name": 300, "middle_name": 300, "last_name": 300, "company": 300, "website": 300,
          "lead_source": 100, "preferred_channel": 20}
_PLAIN = re.compile(r"\s*\+[\d\s.-]+")
_NOT_DIGIT = re.compile(r"\D")
# one ASCII address and nothing else: what text.EMAIL finds in it is the whole cell (a quicker test)
_ONE_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII)
_PHONE_SPLIT = re.compile(r":::|[;,/\n]")  # Google Contacts puts several values in one cell, " ::: " apart
_HAS_SPLIT = re.compile(r"[:;,/\n]")  # a cell that may hold several numbers
_TAG_SPLIT = re.compile(r":::|[;,\n]")  # "vip; trade fair", "vip, hot", Google's " ::: "
MAX_TAG = 60
# Outlook writes "0/0/00" for a date it does not hold (Birthday, Anniversary): no value
_NO_DATE = re.compile(r"0{1,2}([/.-])0{1,2}\1(?:00|0000)")
# groups contact apps give everyone (Google's vCard CATEGORIES): not the team's tags
SYSTEM_GROUPS = frozenset({"mycontacts", "my contacts", "starred"})


class BadRow(Exception):
    """This row cannot be imported; the others go on. `reason` is a key of report.REASONS."""

    def __init__(self, reason: str, column: str | None = None, **values: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column
        self.values = values


def wrong_columns(row: Ragged) -> BadRow:
    return BadRow("wrong_columns", row.missing, found=row.found, expected=row.expected)


@dataclass
class Contact:
    name: str
    company: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    address: str | None = None
    website: str | None = None
    lead_source: str | None = None
    preferred_channel: str | None = None
    status: str | None = None
    owner_id: int | None = None
    unknown_owner: str | None = None
    notes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


class Owners:
    """Members found by the name another app gave their owner: the whole name, else a member
    whose name is the owner's first name or whose first name is the whole owner (when only one
    member fits)."""

    def __init__(self, members: dict[int, str]) -> None:
        self.exact = {fold(name): member_id for member_id, name in members.items()}
        by_word: dict[str, set[int]] = defaultdict(set)
        for member_id, name in members.items():
            by_word[fold(name).split(" ")[0]].add(member_id)
        self.by_word = {word: ids.pop() for word, ids in by_word.items() if len(ids) == 1}
        self.found: dict[str, int | None] = {}  # a file names the same few owners on every row

    def find(self, owner: str) -> int | None:
        if owner not in self.found:
            self.found[owner] = self._find(owner)
        return self.found[owner]

    def _find(self, owner: str) -> int | None:
        folded = fold(owner)
        if folded in self.exact:
            return self.exact[folded]
        first = folded.split(" ")[0]
        return self.exact.get(first) or self.by_word.get(folded) or self.by_word.get(first)


@lru_cache(maxsize=8192)  # a file repeats its firms' switchboards; a few hundred kB at most
def e164(raw: str, region: str | None) -> str:
    """E.164 for a number written with its country code, or valid in the team's region; else
    as written: "(336) 222-7000" is no Czech number, and guessing would make it wrong."""
    stripped = raw.lstrip()
    if stripped[:1] == "+" and _PLAIN.fullmatch(raw):
        digits = _NOT_DIGIT.sub("", raw)
        if 8 <= len(digits) <= 15:  # already international, no trunk "(0)": E.164 is its digits after a +
            return "+" + digits
    international = stripped.startswith(("+", "00"))
    try:
        number = phonenumbers.parse(raw, region)
        if phonenumbers.is_valid_number(number) or (international and phonenumbers.is_possible_number(number)):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return raw.strip()


def phone_of(phone: str, region: str | None) -> str:
    """The number in E.164 when it can be read, so +1 415 555 0100 and +86 21 5555 0100 stay two
    numbers; else its last digits, as the customer index compares them."""
    if phone[:1] == "+" and phone[1:].isdigit() and 8 <= len(phone) <= 16:
        return phone  # already E.164, as an import stores every number it can read
    number = e164(phone, region)
    return number if number.startswith("+") else phone_key(phone)


def contact_keys(emails: list, phones: list, region: str | None) -> list[str]:
    """The keys of a customer's e-mails and phones."""
    keys = [f"e:{str(e).lower()}" for e in emails or ()]
    keys += [f"p:{p}" for p in (phone_of(str(phone), region) for phone in phones or ()) if p]
    return keys


def _joined_name(first: str, middle: str, last: str) -> str:
    parts = [p for p in (first, middle, last) if p]
    if parts and not (first + middle + last).isascii() and all(has_cjk(p) for p in parts):
        return last + middle + first  # 姓 then 名, as the name is written
    return " ".join(parts)


def contact_from(pairs: Pairs, vocabulary: Vocabulary, owners: Owners, region: str | None,
                 plan: dict[str, tuple[str | None, int]] | None = None) -> Contact:
    """`plan`: each header's field and length limit (and each status word's status), filled as
    they are met; one per file spares every row the look-ups."""
    if type(pairs) is Ragged:
        raise wrong_columns(pairs)
    plan = {} if plan is None else plan
    values: dict[str, list[tuple[str, str]]] = {}
    notes: list[str] = []
    for header, raw in pairs:
        if not raw:
            continue
        value = raw.strip()
        if not value:
            continue
        if "\n" in value or "\r" in value:  # a cell of several lines: each trimmed, \r\n made \n
            value = "\n".join(line.strip() for line in value.splitlines())
        known = plan.get(header)
        if known is None:
            field_name = vocabulary.field(header)
            known = plan[header] = (field_name, LIMITS.get(field_name or "", MAX_FIELD))
        field_name, limit = known
        if len(value) > limit:
            raise BadRow("too_long", header, limit=limit)
        if field_name is None:
            if not _NO_DATE.fullmatch(value):
                notes.append(f"{header}: {value}")
        elif field_name != "ignore":
            found = values.get(field_name)
            if found is None:
                values[field_name] = [(header, value)]
            else:
                found.append((header, value))
    get = values.get

    def first(key: str) -> str | None:
        found = get(key)
        return found[0][1] if found else None

    name = first("name") or ""
    last = first("last_name") or ""
    if name and last and fold(last) not in fold(name):
        name = _joined_name(name, "", last)
    elif not name:
        name = _joined_name(first("first_name") or "", first("middle_name") or "", last)
    if not name:
        raise BadRow("no_name")

    emails: list[str] = []
    for header, value in get("email", ()):
        if value.isascii() and _ONE_EMAIL.fullmatch(value):  # most cells: one plain address, EMAIL would find just it
            found = [value.lower()]
        else:
            found = [e.lower() for e in EMAIL.findall(value)]
        if not found:
            raise BadRow("not_email", header, value=value[:60])
        emails += [e for e in found if e not in emails] if emails else found

    phones: list[str] = []
    in_file = get("phone")
    if in_file:
        keys: set[str] = set()
        for _, value in in_file:
            for part in _PHONE_SPLIT.split(value) if _HAS_SPLIT.search(value) else (value,):
                compact = part.replace(" ", "")
                if compact[:1] == "+" and compact.isascii() and compact[1:].isdigit() and 9 <= len(compact) <= 16:
                    phone = compact  # already international, digits and spaces only: E.164 as e164 makes it
                elif not compact.strip():
                    continue
                else:
                    phone = e164(part, region)
                key = phone if phone.startswith("+") else (phone_key(phone) or phone)
                if key not in keys:
                    keys.add(key)
                    phones.append(phone)

    tags: dict[str, str] = {}
    for header, value in get("tags", ()):
        for part in _TAG_SPLIT.split(value):
            tag = " ".join(part.split()).lstrip("#*").strip()
            if fold(tag) in SYSTEM_GROUPS:
                continue
            if len(tag) > MAX_TAG:
                raise BadRow(f"a tag longer than {MAX_TAG} characters", header)
            if tag:
                tags.setdefault(fold(tag), tag)

    addresses = get("address")
    if addresses is None:
        address = None
    elif len(addresses) == 1:
        address = addresses[0][1].replace("\n", ", ")
    else:
        address = ", ".join(dict.fromkeys(v.replace("\n", ", ") for _, v in addresses)) or None
    given_notes = get("notes")
    contact = Contact(
        name=name, company=first("company"), emails=emails, phones=phones, tags=list(tags.values()) if tags else [],
        address=address, website=first("website"), lead_source=first("lead_source"),
        preferred_channel=first("preferred_channel"),
        notes=[v for _, v in given_notes] if given_notes else [],
    )
    for header, value in get("status", ()):
        word = ("status", value)  # a file repeats a few status words on every row
        status = plan.get(word)  # type: ignore[call-overload]
        if status is None:
            status = plan[word] = (vocabulary.status(value) or "", 0)  # type: ignore[index]
        status = status[0] or None
        if status and contact.status is None:
            contact.status = status
        elif not status:
            notes.append(f"{header}: {value}")  # a status of theirs we have no word for: not lost
    if owner := first("owner"):
        contact.owner_id = owners.find(owner)
        contact.unknown_owner = None if contact.owner_id else owner
    if notes:
        contact.notes += notes
    return contact
