"""The team's customers as an import sees them, a batch of rows at a time.

Memory stays small whatever the file's or the team's size: held customers are known only by
their keys' hashes (`keys.KeyIndex`), and a batch reads in full just the customers its rows
may be about. Rows then find "their" customer exactly as they always did (e-mail, then phone,
then name at the same company), new customers are written at the batch's end and join the
index, so a later row about the same person finds them like any other."""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.imports.contacts import Contact, contact_keys, phone_of
from crmbot.imports.keys import MERGE_AT, IdSet, KeyIndex
from crmbot.store import bulk, models, routes, tags
from crmbot.store.audit import Actor
from crmbot.text import fold, fold_many

Row = SimpleNamespace  # a customer's columns as attributes, plus the import's own bookkeeping
UPDATABLE = ("emails", "phones", "company", "address", "website", "lead_source", "preferred_channel", "notes", "status",
             "owner_id", "updated_at", "rev")


def name_key(name: str, company: str | None) -> tuple[str, str]:
    return fold(name), fold(company or "")


def display(row: Any) -> str:
    return f"{row.name} ({row.company})" if row.company else row.name


def folded_keys(name_folded: str, company_folded: str, emails: list, phones: list, region: str | None,
                alone: bool = True, found_by: list[str] | None = None) -> list[str]:
    """Every key a customer can be found by: e-mails, phones (`found_by`, when known), name at
    company, and (`alone`: a deal file looks for them so) name alone and company alone."""
    keys = [*found_by] if found_by is not None else contact_keys(emails, phones, region)
    keys.append(f"n:{name_folded}\x1f{company_folded}")
    if alone:
        keys.append(f"o:{name_folded}")
        if company_folded:
            keys.append(f"c:{company_folded}")
    return keys


class Held:
    """The customers one batch of rows may be about, by e-mail, phone, name with company, name
    alone and company alone; customers this batch adds join as they are made. The first held
    (smallest id) wins a key, as it always has. Names are folded only once a row needs them
    (most rows are found by e-mail or phone, and folding is slow)."""

    def __init__(self, rows: list[Row], region: str | None, alone: bool = True) -> None:
        self.region = region
        self.alone = alone  # people and at are asked (a deal file's look-ups)
        self.loaded: set[int] = set()  # ids of the held customers read in
        self.by_found: dict[str, Row] = {}  # by the keys of their e-mails and phones (contact_keys)
        self._by_name: dict[tuple[str, str], Row] = {}
        self.by_person: dict[str, list[Row]] = defaultdict(list)
        self.by_company: dict[str, list[Row]] = defaultdict(list)
        self._unnamed: list[tuple[Row, tuple[str, str] | None]] = []  # in order, for the first to win
        for row in rows:
            self.add(row)

    def add(self, row: Row, key: tuple[str, str] | None = None, found_by: list[str] | None = None) -> None:
        """`found_by`: the keys of the row's e-mails and phones (contact_keys), when known."""
        if row.id is not None:
            self.loaded.add(row.id)
        found = self.by_found.setdefault
        for found_key in contact_keys(row.emails, row.phones, self.region) if found_by is None else found_by:
            found(found_key, row)
        key = key or getattr(row, "key", None)
        if row.id is None and key is not None and not self._unnamed and not self.alone:
            self._by_name.setdefault(key, row)  # a new customer, nobody waiting before it: named at once
        else:
            self._unnamed.append((row, key))

    def by_email(self, email: str) -> Row | None:
        return self.by_found.get(f"e:{email}")

    @property
    def by_name(self) -> dict[tuple[str, str], Row]:
        if self._unnamed:
            waiting, self._unnamed = self._unnamed, []
            if len(waiting) > 1:
                # held customers by id (the first held wins a name, however they were read in), then new ones
                waiting.sort(key=lambda pair: (pair[0].id is None, pair[0].id or 0))
            bare = [row for row, key in waiting if key is None]
            if bare:
                folded = zip(fold_many([row.name for row in bare]), fold_many([row.company or "" for row in bare]))
                for row, key in zip(bare, folded):
                    row.key = key
            by_name, alone = self._by_name, self.alone
            for row, key in waiting:
                key = key or row.key
                if key not in by_name:
                    by_name[key] = row
                    if alone:
                        self.by_person[key[0]].append(row)
                        if key[1]:
                            self.by_company[key[1]].append(row)
        return self._by_name

    def by_keys(self, found_by: list[str]) -> Row | None:
        """by_contact, given the contact's keys (contact_keys: its e-mails', then its phones')."""
        get = self.by_found.get
        for found in found_by:
            row = get(found)
            if row is not None:
                return row
        return None

    def by_contact(self, contact: Contact) -> Row | None:
        """The customer holding one of the contact's e-mails, else one of its phones."""
        return self.by_keys(contact_keys(contact.emails, contact.phones, self.region))

    def find(self, contact: Contact, key: tuple[str, str] | None, found_by: list[str] | None = None) -> Row | None:
        """By e-mail, phone, then name at the company (`key`: folded, or None to fold here;
        `found_by`: the contact's keys, when known)."""
        found = self.by_keys(contact_keys(contact.emails, contact.phones, self.region) if found_by is None else found_by)
        if found is not None:
            return found
        namesake = self.by_name.get(key or name_key(contact.name, contact.company))
        if namesake is not None and contact.emails and namesake.emails and not set(contact.emails) & set(namesake.emails):
            return None  # same name at the same firm, other e-mails: two people (two Zhang Weis at one bank)
        return namesake

    def people(self, person: str) -> list[Row]:
        """Everyone of this folded name, whatever their company."""
        self.by_name  # noqa: B018 - folds the names still waiting
        return self.by_person.get(person, [])

    def at(self, company: str) -> list[Row]:
        """Everyone at this folded company."""
        self.by_name  # noqa: B018
        return self.by_company.get(company, [])


class Book:
    def __init__(self, session: AsyncSession, team: models.Team, actor: Actor, now: datetime, region: str | None, rev: int,
                 alone: bool = True) -> None:
        self.session, self.team, self.actor, self.now, self.region, self.rev = session, team, actor, now, region, rev
        self.alone = alone  # customers indexed by name alone and company alone too (deal files look them up so)
        self.fallback_owner: int | None = None  # who owns a new customer neither the file nor a routing rule gives one
        self.routed: Counter[int] = Counter()  # new customers the team's routing rules gave each member
        self.index = KeyIndex()
        self.floor = 0  # customers above this id were added by this import
        self.matched = IdSet(0)  # customers held before that a row of this import was about
        self.new: list[Row] = []  # this batch's new customers, not written yet
        self.changed: dict[int, Row] = {}  # this batch's changed customers (held), by id
        self.tagging: dict[int, list[str]] = {}  # this batch's new tags of customers held before, by id
        self.customers = bulk.Converter(session, models.Customer)
        self.audit = bulk.Converter(session, models.AuditEntry)
        self.fixed = {key: self.customers(key, now) for key in ("created_at", "updated_at")}
        self.now_text = now.isoformat()
        self.sqlite = bulk.is_sqlite(session)
        self.make: tuple[list[str], Callable[[Row], tuple]] | None = None  # SQLite: a new customer's values, in columns' order

    async def open(self) -> None:
        """Index the team's customers: a few bytes a key, read a page at a time, merged into the
        sorted index every MERGE_AT keys (so the index is never held twice over, unsorted)."""
        self.floor = await bulk.max_id(self.session, models.Customer)
        self.matched = IdSet(self.floor)
        hashes, ids = array("q"), array("q")
        async for partition in bulk.customer_contacts(self.session, self.team.id):
            names = fold_many([name or "" for _, name, _, _, _ in partition])
            companies = fold_many([company or "" for _, _, company, _, _ in partition])
            for (customer_id, _, _, emails, phones), name, company in zip(partition, names, companies):
                for key in folded_keys(name, company, emails, phones, self.region, self.alone):
                    hashes.append(hash(key))
                    ids.append(customer_id)
            if len(hashes) >= MERGE_AT:
                self.index.extend(hashes, ids)
                hashes, ids = array("q"), array("q")
        if hashes:
            self.index.extend(hashes, ids)

    # -- a batch --------------------------------------------------------------------------------

    def lookup_keys(self, name: str, company: str | None, emails: list[str], phones: list[str]) -> list[str]:
        return folded_keys(fold(name), fold(company or ""), emails, phones, self.region, self.alone)

    async def load(self, keys: list[str], held: Held | None = None) -> Held:
        """The held customers any of these keys may name, in full, ready for rows to find
        (added to `held`, when given, unless read in already)."""
        held = held or Held([], self.region, self.alone)
        ids = self.index.find_many(keys) - held.loaded
        rows = [Row(**values) for values in await bulk.rows_by_id(self.session, models.Customer, self.team.id, ids)
                if values["deleted_at"] is None] if ids else []
        carried = await tags.of_customers(self.session, self.team.id, [row.id for row in rows]) if rows else {}
        for row in rows:
            row.tags = carried.get(row.id, [])
            row.key = None  # folded when a row of the batch needs names (Held.by_name)
            row.before = None  # taken when a row first changes it
            row.touched = row.id > self.floor or row.id in self.matched
            held.add(row)
        return held

    def add(self, contact: Contact, owner_id: int | None, key: tuple[str, str] | None = None,
            found_by: list[str] | None = None) -> Row:
        """A customer to add at the batch's end: plain values until then, so rows about the same
        person may still merge into it. `key`: its name and company folded, when known;
        `found_by`: the keys of its e-mails and phones, when known."""
        row = Row(
            id=None, team_id=self.team.id, name=contact.name, company=contact.company, emails=contact.emails,
            phones=contact.phones, address=contact.address, website=contact.website,
            notes="\n".join(contact.notes) or None, lead_source=contact.lead_source,
            preferred_channel=contact.preferred_channel, status=contact.status or "lead",
            owner_id=contact.owner_id or owner_id, created_at=self.now, updated_at=self.now, deleted_at=None,
            rev=self.rev, touched=True, before=None, key=key or name_key(contact.name, contact.company),
            tags=[], found_by=found_by)  # tags are no column: linked once the customer has its id
        self.new_tags(row, contact)
        self.new.append(row)
        return row

    def new_tags(self, row: Row, contact: Contact) -> list[str]:
        """The row's tags the customer does not carry yet, noted to be linked when the batch is written."""
        if not contact.tags:
            return []
        have = {fold(t) for t in row.tags}
        new = [t for t in dict.fromkeys(contact.tags) if fold(t) not in have]
        row.tags = [*row.tags, *new]
        if new and row.id is not None:
            self.tagging.setdefault(row.id, []).extend(new)
        return new

    def change(self, row: Row, changes: dict[str, Any]) -> None:
        if row.id is not None and row.before is None:
            current = bulk.dated(self.session, models.Customer, {c.key: getattr(row, c.key) for c in models.Customer.__table__.columns})
            row.created_at, row.deleted_at = current["created_at"], current["deleted_at"]  # read for the audit entries
            row.before = bulk.json_ready(current)
        for name, value in changes.items():
            setattr(row, name, value)
        row.found_by = None  # its e-mails or phones may have changed: their keys are made again
        if "company" in changes or row.key is None:
            row.key = name_key(row.name, row.company)
        row.updated_at, row.rev = self.now, self.rev
        if row.id is not None:
            self.changed[row.id] = row

    def touch(self, row: Row) -> None:
        """A row of this import was about this customer: later rows set no status or owner."""
        row.touched = True
        if row.id is not None and row.id <= self.floor:
            self.matched.add(row.id)

    async def flush(self) -> None:
        """Write the batch: new customers (the team's routing rules pick owners the file gave
        none), changes, and their audit entries; the new keys join the index."""
        unowned = [row for row in self.new if row.owner_id is None]
        if unowned:
            rules = await routes.Rules.of(self.session, self.team.id)
            for row, owner_id in zip(unowned, await rules.pick_many(self.session, unowned)):
                row.owner_id = owner_id
                if row.owner_id is not None:
                    self.routed[row.owner_id] += 1
                else:
                    row.owner_id = self.fallback_owner
        fixed = {**self.fixed, "team_id": self.team.id, "deleted_at": None, "rev": self.rev}
        if self.sqlite:
            if self.make is None:
                self.make = self.customers.maker(fixed)
            keys, make = self.make
            ids = await bulk.insert_values(self.session, models.Customer, keys, [make(row) for row in self.new])
        else:
            ids = await bulk.insert_rows(self.session, models.Customer, [self.customers.row(vars(row), fixed) for row in self.new])
        entries = []
        region, now_text, alone = self.region, self.now_text, self.alone
        in_sql = self.sqlite  # SQLite writes the new customers' audit entries from the rows themselves
        if in_sql:
            await bulk.audit_created_customers(self.session, self.audit_fixed(), ids, now_text)
        for row, customer_id in zip(self.new, ids):
            row.id = customer_id
            if not in_sql:
                # the audit's "after", as audit.snapshot writes it: the values just inserted, read as Python values
                after = {"id": customer_id, "team_id": row.team_id, "name": row.name, "company": row.company,
                         "emails": row.emails, "phones": row.phones, "address": row.address, "website": row.website,
                         "preferred_channel": row.preferred_channel, "lead_source": row.lead_source, "notes": row.notes,
                         "owner_id": row.owner_id, "status": row.status, "created_at": now_text, "updated_at": now_text,
                         "deleted_at": None, "rev": row.rev}
                entries.append(("create", customer_id, None, after))
        self.index.add_pairs([(key, row.id) for row in self.new
                              for key in folded_keys(*row.key, row.emails, row.phones, region, alone, row.found_by)])
        updates = []
        for row in self.changed.values():
            current = {c.key: getattr(row, c.key) for c in models.Customer.__table__.columns}
            updates.append({"id": row.id, **{key: self.customers(key, current[key]) for key in UPDATABLE}})
            entries.append(("update", row.id, row.before, bulk.json_ready(current)))
            held = set(self.lookup_keys(row.name, row.before["company"], row.before["emails"], row.before["phones"]))
            for key in self.lookup_keys(row.name, row.company, row.emails, row.phones):
                if key not in held:
                    self.index.add(key, row.id)
            row.before = None  # a later change of it starts from what it is now
        await bulk.update_rows(self.session, models.Customer, updates, UPDATABLE)
        await self.write_audit([self.entry(action, "customer", customer_id, customer_id, before, after)
                                for action, customer_id, before, after in entries])
        await tags.attach_many(self.session, self.actor, self.now, {**self.tagging, **{row.id: row.tags for row in self.new if row.tags}})
        self.new, self.changed, self.tagging = [], {}, {}

    # -- audit ----------------------------------------------------------------------------------

    def entry(self, action: str, entity: str, entity_id: int, customer_id: int | None,
              before: dict | None, after: dict | None) -> dict[str, Any]:
        """An audit entry of this import (its actor, time and group are write_audit's), converted."""
        return {"action": action, "entity": entity, "entity_id": entity_id, "customer_id": customer_id,
                "before": None if before is None else self.audit("before", before),
                "after": None if after is None else self.audit("after", after)}

    def audit_fixed(self) -> dict[str, Any]:
        """What every audit entry of this import holds, converted: its actor, time and group."""
        actor = self.actor
        return {"at": self.audit("at", self.now), "team_id": actor.team_id, "member_id": actor.member_id,
                "platform": actor.platform, "group_id": actor.group_id, "undone_at": None}

    async def write_audit(self, entries: list[dict[str, Any]]) -> None:
        fixed = self.audit_fixed()
        await bulk.insert_many(self.session, models.AuditEntry, [{**fixed, **entry} for entry in entries])
