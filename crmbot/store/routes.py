"""Routing rules: who gets a new customer or complaint that nobody owns yet.

A rule is a list of conditions (all must hold; `tag=vip` holds for a customer carrying the tag) and the members it hands work to: the first, or
each in turn (round robin). The turn is taken with one conditional UPDATE, so two workers
routing at the same moment hand out two different turns, never the same one twice.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import phonenumbers
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, tags as tagging
from crmbot.text import fold, has_cjk, words

CUSTOMER_FIELDS = ("source", "status", "tag", "company", "country")
COMPLAINT_FIELDS = ("text", "product")
FIELDS = CUSTOMER_FIELDS + COMPLAINT_FIELDS
R = models.Route


def entity_of(conditions: list[tuple[str, str]]) -> str:
    """A rule about a complaint's words or product routes complaints; any other routes customers
    (and a complaint rule may also ask about the complaint's customer)."""
    return "complaint" if any(name in COMPLAINT_FIELDS for name, _ in conditions) else "customer"


async def make(session: AsyncSession, team_id: int, conditions: list[tuple[str, str]], assignees: list[int],
               round_robin: bool, now: datetime, entity: str | None = None) -> models.Route:
    """A new rule, last in order, not yet added to the session (the caller's audited write does).
    `entity` says what it routes when the conditions alone do not ("new complaints go to Carol")."""
    for name, _ in conditions:
        if name not in FIELDS:
            raise ValueError(f"unknown field {name!r}")
    if entity is not None and entity not in ("customer", "complaint"):
        raise ValueError(f"unknown entity {entity!r}")
    last = await session.scalar(select(func.max(R.position)).where(R.team_id == team_id))
    return R(team_id=team_id, position=(last or 0) + 1, entity=entity or entity_of(conditions),
             conditions=[[name, value] for name, value in conditions], assignees=list(assignees),
             round_robin=round_robin, turn=0, created_at=now)


async def add(session: AsyncSession, team_id: int, conditions: list[tuple[str, str]], assignees: list[int],
              round_robin: bool, now: datetime) -> models.Route:
    route = await make(session, team_id, conditions, assignees, round_robin, now)
    session.add(route)
    await session.flush()
    return route


async def known_values(session: AsyncSession, team_id: int, name: str) -> list[str]:
    """The lead sources or companies the team's customers have, as written: a rule made by chat
    names them the way the records do ("z webu" routes customers whose source is "web")."""
    column = {"source": models.Customer.lead_source, "company": models.Customer.company}[name]
    rows = await session.scalars(select(column).where(models.Customer.team_id == team_id, models.Customer.deleted_at.is_(None),
                                                      column.is_not(None)).distinct().limit(500))
    return sorted(value for value in rows if value and value.strip())


async def active(session: AsyncSession, team_id: int) -> list[models.Route]:
    return list(await session.scalars(
        select(R).where(R.team_id == team_id, R.deleted_at.is_(None)).order_by(R.position, R.id)))


async def get(session: AsyncSession, team_id: int, route_id: int) -> models.Route | None:
    return await session.scalar(select(R).where(R.team_id == team_id, R.id == route_id, R.deleted_at.is_(None)))


# the languages whose country names an address may use, and names people write that CLDR does not
ADDRESS_LANGUAGES = ("en", "cs", "sl", "zh", "cy", "az")
COUNTRY_ALIASES = {"czech republic": "CZ", "ceska republika": "CZ", "uk": "GB", "great britain": "GB", "england": "GB",
                   "wales": "GB", "scotland": "GB", "cymru": "GB", "usa": "US", "united states of america": "US",
                   "slovenija": "SI", "deutschland": "DE", "osterreich": "AT", "prc": "CN"}


@cache
def _country_names() -> dict[str, str]:
    """Folded country name, in each of our languages (CLDR, through Babel) -> ISO code."""
    from babel import Locale

    names = dict(COUNTRY_ALIASES)
    for code in ADDRESS_LANGUAGES:
        for territory, name in Locale.parse(code).territories.items():
            if len(territory) == 2 and territory.isalpha():
                names.setdefault(fold(name), territory)
    return names


def country_code(value: str) -> str | None:
    """The ISO code a rule's country names: a code ("cz") or a name in one of our languages."""
    names = _country_names()
    if len(value.strip()) == 2 and value.strip().upper() in set(names.values()):
        return value.strip().upper()
    return names.get(fold(value).strip(" ."))


def country_in_address(address: str | None) -> str | None:
    """The country an address names, read from its end ("…, 110 00 Praha 1, Czechia",
    "…\n1000 Ljubljana\nSlovenija") or, in Chinese, from its start ("中国上海市…")."""
    if not address or not address.strip():
        return None
    names = _country_names()
    parts = [p for p in (fold(part).strip(" .") for part in re.split(r"[,\n;]", address)) if p]
    for part in reversed(parts[-2:]):
        bare = re.sub(r"[\d\-]+", " ", part).split()  # "1000 slovenija": the postcode is no name
        # (no bare two-letter codes: "Springfield, IL" is in Illinois, not Israel)
        if part in names:
            return names[part]
        if " ".join(bare) in names:
            return names[" ".join(bare)]
    if has_cjk(address):
        text = fold(address).replace(" ", "")
        return next((code for name, code in sorted(names.items(), key=lambda n: -len(n[0]))
                     if has_cjk(name) and text.startswith(name)), None)
    return None


def country_of(customer: models.Customer) -> str | None:
    """Where a customer is: from their first phone number that says (+420 -> CZ), else from
    their address ("…, Czechia")."""
    for phone in customer.phones or ():
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(str(phone), None))
        except phonenumbers.NumberParseException:
            continue
        if region and region != "ZZ":
            return region
    return country_in_address(getattr(customer, "address", None))


STEM_FROM = 5  # a word this long also matches with another ending: "invoices" / "invoice", "faktury" / "fakturu"
ENDING = 2  # ... of up to this many letters
STEM_MIN = 4  # ... keeping at least this many: "price" is not "pride"


def same_word(wanted: str, word: str) -> bool:
    """Whether a complaint's word is the rule's word, perhaps with another ending: rules are
    said in sentences ("complaints about invoices"), complaints use the singular or another case."""
    if wanted == word:
        return True
    if len(wanted) < STEM_FROM or abs(len(word) - len(wanted)) > ENDING:
        return False
    stem = max(len(wanted) - ENDING, STEM_MIN)
    return len(word) >= stem and word[:stem] == wanted[:stem]


def mentions(text: str, wanted: str) -> bool:
    """A complaint's text names the word: as a word (any ending), or inside a run of Chinese,
    which is written without spaces."""
    text, wanted = fold(text), fold(wanted)
    if has_cjk(wanted):
        return wanted in text
    return any(same_word(wanted, word) for word in words(text))


def _holds(name: str, wanted: str, customer: models.Customer, complaint: models.Complaint | None,
           tags: Collection[str] = ()) -> bool:
    if name == "tag":
        return tagging.key_of(wanted) in {tagging.key_of(t) for t in tags}
    if name == "text":
        return complaint is not None and mentions(complaint.text or "", wanted)
    wanted = fold(wanted)
    if name == "product":
        return complaint is not None and fold(complaint.product or "") == wanted
    value = {"source": customer.lead_source, "status": customer.status, "company": customer.company,
             "country": country_of(customer)}[name]
    return value is not None and fold(value) == wanted


@dataclass
class Rules:
    """A team's rules and active members, read once for many picks (an import's rows)."""

    routes: list[models.Route]
    members: set[int]

    @classmethod
    async def of(cls, session: AsyncSession, team_id: int) -> Rules:
        members = set(await session.scalars(
            select(models.Member.id).where(models.Member.team_id == team_id, models.Member.active)))
        return cls(await active(session, team_id), members)

    async def pick(self, session: AsyncSession, customer, complaint: models.Complaint | None = None,
                   tags: Collection[str] | None = None) -> int | None:
        """The member the first matching rule hands this new customer (or complaint) to. `tags`
        are the customer's (read from the store when not given and the customer has an id)."""
        entity = "complaint" if complaint is not None else "customer"
        if tags is None:
            known = getattr(customer, "id", None)
            asks = any(n == "tag" for route in self.routes for n, _ in route.conditions)
            tags = await tagging.of_customer(session, customer.team_id, known) if known is not None and asks else ()
        return (await self._take_turns(session, [self._rule(entity, customer, complaint, tags)]))[0]

    async def pick_many(self, session: AsyncSession, customers: list) -> list[int | None]:
        """`pick` for many new customers (each with its `tags`), in order, as picking them one by
        one would; a round-robin rule's turn is advanced once for all the customers it takes."""
        return await self._take_turns(session, [self._rule("customer", c, None, c.tags) for c in customers])

    def _rule(self, entity: str, customer, complaint: models.Complaint | None,
              tags: Collection[str]) -> tuple[models.Route, list[int]] | None:
        """The first rule matching, with its assignees still members."""
        for route in self.routes:
            if route.entity != entity or not all(_holds(n, v, customer, complaint, tags) for n, v in route.conditions):
                continue
            assignees = [m for m in route.assignees if m in self.members]
            if assignees:
                return route, assignees
            # everyone it names has left: the next rule decides
        return None

    async def _take_turns(self, session: AsyncSession, rules: list[tuple[models.Route, list[int]] | None]) -> list[int | None]:
        picks: list[int | None] = [None] * len(rules)
        turns: dict[int, list[int]] = {}  # a round-robin rule's id: the picks it makes, in order
        for at, found in enumerate(rules):
            if found is None:
                continue
            route, assignees = found
            if not route.round_robin or len(assignees) == 1:
                picks[at] = assignees[0]
            else:
                turns.setdefault(route.id, []).append(at)
        for route_id, taken in turns.items():
            last = await session.scalar(
                update(R).where(R.id == route_id).values(turn=R.turn + len(taken)).returning(R.turn)
                .execution_options(synchronize_session=False))
            for offset, at in enumerate(taken):
                assignees = rules[at][1]  # type: ignore[index]
                turn = last - len(taken) + offset + 1  # the turn picking one by one would have returned
                picks[at] = assignees[(turn - 1) % len(assignees)]
        return picks


async def assignee_for(session: AsyncSession, team_id: int, customer: models.Customer,
                       complaint: models.Complaint | None = None) -> int | None:
    """The member the first matching rule hands this new customer (or complaint) to."""
    return await (await Rules.of(session, team_id)).pick(session, customer, complaint)
