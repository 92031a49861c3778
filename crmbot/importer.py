"""Importing customers from another app's file: each row adds a customer, or updates the one
already held with its e-mail, phone or name and company, or is skipped with the reason. All
rows go into the caller's one transaction, audited as one group, so the import is undone (or
rolled back, for a dry run or a file that turns out unreadable) as a whole."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.imports.contacts import BadRow, Contact, Owners, contact_from, e164
from crmbot.imports.sources import UnreadableFile, open_source
from crmbot.imports.vocabulary import Vocabulary
from crmbot.store import audit, customers, models, routes, tags, teams
from crmbot.store.audit import Actor
from crmbot.text import fold, phone_key

__all__ = ["Report", "UnreadableFile", "import_file"]
BATCH = 1000  # new customers inserted by one statement


@dataclass
class Report:
    unit: str = "row"  # "contact" for a vCard file
    encoding: str = "utf-8"
    added: int = 0
    updated: int = 0
    skipped: list[tuple[int, str | None, str]] = field(default_factory=list)  # (row, column, reason)
    unknown_owners: Counter[str] = field(default_factory=Counter)
    group_id: str = ""

    def lines(self) -> list[str]:
        return [f"{self.unit} {row}" + (f", column {column!r}" if column else "") + f": {reason}"
                for row, column, reason in self.skipped]


def _key(name: str, company: str | None) -> tuple[str, str]:
    return fold(name), fold(company or "")


def _phone(phone: str, region: str | None) -> str:
    """The number in E.164 when it can be read, so +1 415 555 0100 and +86 21 5555 0100 stay two
    numbers; else its last digits, as the customer index compares them."""
    number = e164(phone, region)
    return number if number.startswith("+") else phone_key(phone)


class Held:
    """The team's customers by e-mail, phone and name with company, so a row finds the
    customer it is about; customers added by this import join as they are made."""

    def __init__(self, rows: list[models.Customer], region: str | None) -> None:
        self.region = region
        self.by_email: dict[str, models.Customer] = {}
        self.by_phone: dict[str, models.Customer] = {}
        self.by_name: dict[tuple[str, str], models.Customer] = {}
        for row in rows:
            self.add(row)

    def add(self, row: models.Customer | SimpleNamespace, name_key: tuple[str, str] | None = None) -> None:
        for email in row.emails or []:
            self.by_email.setdefault(email.lower(), row)
        for phone in row.phones or []:
            if key := _phone(phone, self.region):
                self.by_phone.setdefault(key, row)
        self.by_name.setdefault(name_key or _key(row.name, row.company), row)

    def find(self, contact: Contact, name_key: tuple[str, str]) -> models.Customer | SimpleNamespace | None:
        for email in contact.emails:
            if email in self.by_email:
                return self.by_email[email]
        for phone in contact.phones:
            if (key := _phone(phone, self.region)) in self.by_phone:
                return self.by_phone[key]
        namesake = self.by_name.get(name_key)
        if namesake is not None and contact.emails and namesake.emails and not set(contact.emails) & set(namesake.emails):
            return None  # same name at the same firm, other e-mails: two people (two Zhang Weis at one bank)
        return namesake


def _changes(row: models.Customer | SimpleNamespace, contact: Contact, region: str | None, touched: bool) -> dict[str, Any]:
    """What the row adds to a customer already held: new e-mails and phones, fields that were
    empty, note lines not yet there, the status and owner it names (unless an earlier row of
    this file was about them: rows about one person that disagree must not make a second
    import of the same file change anything). Empty when the row adds nothing."""
    changes: dict[str, Any] = {}
    emails = [e for e in contact.emails if e not in (row.emails or [])]
    if emails:
        changes["emails"] = [*(row.emails or []), *emails]
    held = {_phone(p, region) or p for p in row.phones or []}
    phones = [p for p in contact.phones if (_phone(p, region) or p) not in held]
    if phones:
        changes["phones"] = [*(row.phones or []), *phones]
    for name in ("company", "address", "website", "lead_source", "preferred_channel"):
        if getattr(contact, name) and not getattr(row, name):
            changes[name] = getattr(contact, name)
    notes = [line for line in contact.notes if line not in (row.notes or "")]
    if notes:
        changes["notes"] = "\n".join([row.notes, *notes] if row.notes else notes)
    if contact.status and contact.status != row.status and not touched:
        changes["status"] = contact.status
    if contact.owner_id and contact.owner_id != row.owner_id and not touched:
        changes["owner_id"] = contact.owner_id
    return changes


def _new(team: models.Team, contact: Contact, owner_id: int | None, now: datetime, rev: int) -> SimpleNamespace:
    """A customer to add, as plain values until the end: rows about the same person may still
    merge into it, and the inserts then go in bulk."""
    return SimpleNamespace(
        id=None, team_id=team.id, name=contact.name, company=contact.company, emails=contact.emails, phones=contact.phones,
        address=contact.address, website=contact.website, notes="\n".join(contact.notes) or None,
        lead_source=contact.lead_source, preferred_channel=contact.preferred_channel,
        status=contact.status or "lead", owner_id=contact.owner_id or owner_id, created_at=now, updated_at=now,
        deleted_at=None, rev=rev, tags=list(contact.tags),  # tags are not a column: linked once the row has its id
    )


def _new_tags(row: models.Customer | SimpleNamespace, contact: Contact, carried: dict[int, set[str]],
              tagging: dict[int, list[str]]) -> list[str]:
    """The row's tags the customer does not carry yet, noted to be linked at the end: on a
    customer this import adds, straight into its tags; on one held before, in `tagging`."""
    if isinstance(row, SimpleNamespace):
        have = {fold(t) for t in row.tags}
        new = [t for t in contact.tags if fold(t) not in have]
        row.tags += new
        return new
    have = carried.setdefault(row.id, set())
    new = [t for t in contact.tags if fold(t) not in have]
    have.update(fold(t) for t in new)
    tagging.setdefault(row.id, []).extend(new)
    return new


def _display(row: models.Customer | SimpleNamespace) -> str:
    return f"{row.name} ({row.company})" if row.company else row.name


COLUMNS = [column.key for column in models.Customer.__table__.columns]


async def _insert(session: AsyncSession, actor: Actor, now: datetime, added: list[SimpleNamespace]) -> None:
    """The new customers and their "create" audit entries, a batch per executemany. No RETURNING:
    the async SQLite driver fetches returned ids one thread hop per row, which made imports
    crawl. The ids are read back instead: above the largest id before, in insertion order. The
    team's row lock (bump_customer_rev) keeps other writers of this team's customers out."""
    if not added:
        return
    floor = await session.scalar(select(func.max(models.Customer.id))) or 0
    for start in range(0, len(added), BATCH):
        batch = added[start:start + BATCH]
        await session.execute(insert(models.Customer.__table__), [{key: getattr(row, key) for key in COLUMNS if key != "id"} for row in batch])
    ids = (await session.scalars(
        select(models.Customer.id).where(models.Customer.team_id == actor.team_id, models.Customer.id > floor)
        .order_by(models.Customer.id))).all()
    if len(ids) != len(added):
        raise RuntimeError(f"inserted {len(added)} customers but found {len(ids)}")  # rolled back whole
    for start in range(0, len(added), BATCH):
        entries = []
        for row, customer_id in zip(added[start:start + BATCH], ids[start:start + BATCH]):
            row.id = customer_id
            after = {key: (value.isoformat() if isinstance(value, datetime) else value)
                     for key in COLUMNS for value in (getattr(row, key),)}
            entries.append({"team_id": actor.team_id, "member_id": actor.member_id, "platform": actor.platform, "at": now,
                            "group_id": actor.group_id, "action": "create", "entity": "customer", "entity_id": customer_id,
                            "customer_id": customer_id, "before": None, "after": after})
        await session.execute(insert(models.AuditEntry.__table__), entries)


async def import_file(
    session: AsyncSession, team: models.Team, path: Path, now: datetime, *,
    member: models.Member | None = None, platform: str = "cli", region: str | None = None,
    progress: Callable[[int], None] | None = None, vocabulary: Vocabulary | None = None,
) -> Report:
    """Import `path` into `team` within the caller's transaction. Raises UnreadableFile (from
    any row: the caller rolls back) when the file itself cannot be read."""
    source = open_source(path)
    vocabulary = vocabulary or Vocabulary.packaged()
    report = Report(unit=source.unit, encoding=source.encoding, group_id=uuid.uuid4().hex)
    if source.kind == "csv" and not any(vocabulary.field(h) in ("name", "first_name", "last_name") for h in source.headers):
        raise UnreadableFile(f"{path.name} has no name column (found: {', '.join(source.headers)})")
    owners = Owners({m.id: m.name for m in await teams.members_of(session, team.id)})
    held = Held(await customers.all_live(session, team.id), region)
    rev = await teams.bump_customer_rev(session, team.id)
    actor = Actor(team.id, member.id if member else None, platform, report.group_id)
    added: list[SimpleNamespace] = []
    before: dict[int, dict] = {}  # customers held before the import that it changed: as they were
    touched: set[int] = set()  # id() of every customer a row of this import added or matched
    carried = {key: {fold(t) for t in names} for key, names in (await tags.of_customers(session, team.id)).items()}
    tagging: dict[int, list[str]] = {}  # customers held before the import: the tags rows give them

    for number, pairs in source.rows:
        if progress:
            progress(1)
        try:
            contact = contact_from(pairs, vocabulary, owners, region)
        except BadRow as bad:
            report.skipped.append((number, bad.column, bad.reason))
            continue
        if contact.unknown_owner:
            report.unknown_owners[contact.unknown_owner] += 1
        key = _key(contact.name, contact.company)  # folded once: folding is most of a row's cost here
        row = held.find(contact, key)
        if row is None:
            row = _new(team, contact, member.id if member else None, now, rev)
            added.append(row)
            touched.add(id(row))
            held.add(row, key)
            report.added += 1
            continue
        changes = _changes(row, contact, region, id(row) in touched)
        touched.add(id(row))  # matched, changed or not: a later row about them sets no status or owner
        new_tags = _new_tags(row, contact, carried, tagging)
        if not changes and not new_tags:
            report.skipped.append((number, None, f"already held as {_display(row)}, nothing new"))
            continue
        if not changes:
            report.updated += 1
            continue
        if isinstance(row, models.Customer) and row.id not in before:
            before[row.id] = audit.snapshot(row)
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at, row.rev = now, rev
        held.add(row)
        report.updated += 1
    # a new customer the file gives no owner: the team's routing rules pick one
    unowned = [row for row in added if row.owner_id is None]
    if unowned:
        rules = await routes.Rules.of(session, team.id)
        for row in unowned:
            row.owner_id = await rules.pick(session, row, tags=row.tags)
    await _insert(session, actor, now, added)
    await tags.attach_many(session, actor, now, {**tagging, **{row.id: row.tags for row in added if row.tags}})
    for customer_id, snapshot in before.items():
        row = await session.get(models.Customer, customer_id)
        audit.record(session, actor, now, "update", row, snapshot, customer_id=customer_id)
    await session.flush()
    return report
