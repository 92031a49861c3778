"""A file of deals into the team's pipeline, a batch of rows at a time.

Each deal goes to the customer it names: found by e-mail, else by name at the organisation,
else by name alone when only one customer has it (several: the row is skipped, since a wrong
guess is worse than a question); an organisation alone goes to the customer named after it,
else to the only customer there. Someone not held yet is added, from the deal's person, e-mails
and organisation: a deal export is often all a team brings, and a deal nobody can see is worse
than a customer the team did not type in. They are reported as customers added.

A deal is the same deal again when it has the other app's id (kept as `source_ref`), or, in a
file without ids, the same title on the same customer: importing a file twice changes nothing,
and an export taken later moves the deals that moved (with their stage history)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmbot.imports.book import Book, Row
from crmbot.imports.contacts import BadRow, Contact, Owners
from crmbot.imports.deals import DealFormat, DealRow, deal_from
from crmbot.imports.report import Report
from crmbot.imports.sources import Source, UnreadableFile
from crmbot.imports.vocabulary import Vocabulary
from crmbot.store import bulk, models
from crmbot.text import fold

BATCH = 2000
CLOSED = ("won", "lost")
UPDATABLE = ("title", "amount_minor", "currency", "stage", "expected_close", "lost_reason", "owner_id", "closed_at",
             "updated_at")


def default_owner(members: list[models.Member], member: models.Member | None) -> int | None:
    """Who owns a deal the file gives no (known) owner: the importing member, else the team's
    first manager or admin, else its first member."""
    if member is not None:
        return member.id
    active = [m for m in members if m.active]
    leaders = [m for m in active if m.role in ("manager", "admin")]
    chosen = leaders or active
    return chosen[0].id if chosen else None


class Deals:
    """The deal side of the import: held deals found by source id or by customer and title."""

    def __init__(self, book: Book, report: Report, owner_id: int | None) -> None:
        self.book, self.report, self.owner_id = book, report, owner_id
        self.deals = bulk.Converter(book.session, models.Deal)
        self.changes = bulk.Converter(book.session, models.DealStageChange)
        self.floor = 0
        self.matched: set[int] = set()

    async def open(self) -> None:
        self.floor = await bulk.max_id(self.book.session, models.Deal)

    # -- customers ------------------------------------------------------------------------------

    def _keys(self, deal: DealRow) -> list[str]:
        book = self.book
        keys = [f"e:{email}" for email in deal.emails]
        if deal.person:
            keys += book.lookup_keys(deal.person, deal.company, [], []) + book.lookup_keys(deal.person, None, [], [])
        if deal.company:
            keys += book.lookup_keys(deal.company, deal.company, [], [])
        return keys

    @staticmethod
    def _customer(held, deal: DealRow) -> Row | str | None:
        """The held customer the deal is with; "ambiguous" when several could be; None: nobody."""
        for email in deal.emails:
            if (found := held.by_email(email)) is not None:
                return found
        company = fold(deal.company or "")
        if deal.person:
            person = fold(deal.person)
            found = held.by_name.get((person, company)) or (held.by_name.get((person, "")) if company else None)
            if found is not None and deal.emails and found.emails and not set(deal.emails) & {str(e).lower() for e in found.emails}:
                return None  # the same name with other e-mails: another person, as for contacts
            if found is not None or company:
                return found
            namesakes = [row for row in held.people(person)
                         if not (deal.emails and row.emails and not set(deal.emails) & {str(e).lower() for e in row.emails})]
            return namesakes[0] if len(namesakes) == 1 else ("ambiguous" if namesakes else None)
        if company:
            found = held.by_name.get((company, ""))
            at = held.at(company)
            return found or (at[0] if len(at) == 1 else None)
        return None

    # -- a batch --------------------------------------------------------------------------------

    async def batch(self, rows: list[tuple[int, DealRow]]) -> None:
        book, report = self.book, self.report
        held = await book.load([key for _, deal in rows for key in self._keys(deal)])
        placed: list[tuple[int, DealRow, Row]] = []
        for number, deal in rows:
            customer = self._customer(held, deal)
            if customer == "ambiguous":
                report.skip(number, "ambiguous_customer", name=deal.person)
                continue
            owner = deal.owner_id or self.owner_id or (customer.owner_id if customer is not None else None)
            if owner is None:
                report.skip(number, "no_owner")
                continue
            if customer is None:
                name = deal.person or deal.company or deal.emails[0]
                contact = Contact(name=name, company=deal.company if deal.person else None, emails=list(deal.emails),
                                  status="customer" if deal.stage == "won" else "prospect", owner_id=owner)
                customer = book.add(contact, owner)
                held.add(customer)
                report.customers_added += 1
            placed.append((number, deal, customer))
        await book.flush()  # new customers get their ids, which their deals need
        await self._deals(placed)

    async def _deals(self, placed: list[tuple[int, DealRow, Row]]) -> None:
        book, report, session, team_id = self.book, self.report, self.book.session, self.book.team.id
        by_ref: dict[str, Row] = {}
        for values in await bulk.deals_by_source(session, team_id, [d.source_ref for _, d, _ in placed if d.source_ref]):
            by_ref.setdefault(values["source_ref"], self._held(values))
        by_title: dict[tuple[int, str], Row] = {}
        untitled = [c.id for _, d, c in placed if not d.source_ref]
        for values in await bulk.deals_of(session, team_id, untitled) if untitled else []:
            by_title.setdefault((values["customer_id"], fold(values["title"])), self._held(values))
        new: list[Row] = []
        changed: dict[int, Row] = {}
        moves: list[tuple[Row, str | None, str]] = []  # (deal, from stage, to stage) for the stage history
        for number, deal, customer in placed:
            key = (customer.id, fold(deal.title))
            row = by_ref.get(deal.source_ref) if deal.source_ref else by_title.get(key)
            if row is None:
                row = self._new(deal, customer)
                new.append(row)
                moves.append((row, None, row.stage))
                if deal.source_ref:
                    by_ref[deal.source_ref] = row
                else:
                    by_title[key] = row
                report.added += 1
                self._note(deal)
                continue
            changes = self._changes(row, deal)
            row.touched = True
            if row.id is not None and row.id <= self.floor:
                self.matched.add(row.id)
            if not changes:
                report.skip(number, "deal_held", deal=row.title, customer=customer.name)
                continue
            if "stage" in changes:  # only a deal held before this import moves: see _changes
                moves.append((row, row.stage, changes["stage"]))
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = book.now
            if row.id is not None:
                changed[row.id] = row
            report.updated += 1
            self._note(deal)
        await self._write(new, changed, moves)

    def _note(self, deal: DealRow) -> None:
        if deal.unknown_stage:
            self.report.unknown_stages[deal.unknown_stage] += 1
        if deal.unknown_owner:
            self.report.unknown_owners[deal.unknown_owner] += 1

    def _held(self, values: dict[str, Any]) -> Row:
        row = Row(**values)
        row.before = bulk.json_ready(values)
        row.touched = row.id > self.floor or row.id in self.matched
        return row

    def _new(self, deal: DealRow, customer: Row) -> Row:
        now = self.book.now
        closed = (deal.closed or deal.close or now) if deal.stage in CLOSED else None
        return Row(
            id=None, team_id=self.book.team.id, customer_id=customer.id,
            owner_id=deal.owner_id or self.owner_id or customer.owner_id, title=deal.title,
            amount_minor=deal.amount_minor, currency=deal.currency, stage=deal.stage, expected_close=deal.close,
            lost_reason=deal.lost_reason, competitor=None, created_at=now, updated_at=now, closed_at=closed,
            deleted_at=None, source_ref=deal.source_ref, touched=True, before=None)

    def _changes(self, row: Row, deal: DealRow) -> dict[str, Any]:
        """What a row says that the held deal does not: everything it names, for a deal no
        earlier row of this import was about; only what the deal lacks, for one that was (two
        rows of one deal that disagree must not make a second import change anything)."""
        changes: dict[str, Any] = {}
        wanted = {"amount_minor": deal.amount_minor, "currency": deal.currency, "expected_close": deal.close}
        if not row.touched:
            wanted.update(title=deal.title, stage=deal.stage, owner_id=deal.owner_id,
                          lost_reason=deal.lost_reason if deal.stage == "lost" else None)
        for name, value in wanted.items():
            if value is not None and value != getattr(row, name) and (not row.touched or getattr(row, name) is None):
                changes[name] = value
        if "stage" in changes:
            stage = changes["stage"]
            changes["closed_at"] = (deal.closed or deal.close or self.book.now) if stage in CLOSED else None
            if stage != "lost" and row.lost_reason:
                changes["lost_reason"] = None
        return changes

    async def _write(self, new: list[Row], changed: dict[int, Row], moves: list[tuple[Row, str | None, str]]) -> None:
        book, session = self.book, self.book.session
        columns = [c.key for c in models.Deal.__table__.columns]
        ids = await bulk.insert_rows(session, models.Deal, [self.deals.row(vars(row)) for row in new])
        entries = []
        for row, deal_id in zip(new, ids):
            row.id = deal_id
            entries.append(book.entry("create", "deal", deal_id, row.customer_id, None,
                                      bulk.json_ready({key: getattr(row, key) for key in columns})))
        history = [{"team_id": book.team.id, "deal_id": row.id, "member_id": book.actor.member_id, "from_stage": before,
                    "to_stage": after, "reason": row.lost_reason if after == "lost" else None, "changed_at": book.now}
                   for row, before, after in moves]
        history_ids = await bulk.insert_rows(session, models.DealStageChange, [self.changes.row(h) for h in history])
        by_deal = {row.id: row.customer_id for row, _, _ in moves}
        for change, change_id in zip(history, history_ids):
            entries.append(book.entry("create", "deal_stage_change", change_id, by_deal[change["deal_id"]], None,
                                      bulk.json_ready({"id": change_id, **change})))
        updates = []
        for row in changed.values():
            current = {key: getattr(row, key) for key in columns}
            updates.append({"id": row.id, **{key: self.deals(key, current[key]) for key in UPDATABLE}})
            entries.append(book.entry("update", "deal", row.id, row.customer_id, row.before, bulk.json_ready(current)))
            row.before = bulk.json_ready(current)
        await bulk.update_rows(session, models.Deal, updates, UPDATABLE)
        await book.write_audit(entries)


async def import_deals(book: Book, source: Source, report: Report, vocabulary: Vocabulary, owners: Owners,
                       member: models.Member | None, members: list[models.Member],
                       progress: Callable[[int], None] | None) -> None:
    if not any(vocabulary.deal_field(h) in ("contact", "organization", "name", "first_name", "last_name", "company", "email")
               for h in source.headers):
        raise UnreadableFile("no_customer_column", name=source.name, found=", ".join(source.headers))
    form = DealFormat(book.region, (book.team.settings or {}).get("currency"))
    deals = Deals(book, report, default_owner(members, member))
    await deals.open()
    batch: list[tuple[int, DealRow]] = []
    for number, pairs in source.rows:
        report.rows += 1
        try:
            batch.append((number, deal_from(pairs, vocabulary, owners, form)))
        except BadRow as bad:
            report.skip(number, bad.reason, bad.column, **bad.values)
        if len(batch) == BATCH:
            await deals.batch(batch)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        await deals.batch(batch)
        if progress:
            progress(len(batch))
