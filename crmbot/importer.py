"""Importing customers or deals from another app's file, from the shell or from a chat.

A contact row adds a customer, or updates the one already held with its e-mail, phone or name
and company, or is skipped with the reason. A deal row (a file with a deal title column) adds
or updates a deal on the customer it names (`crmbot.imports.deal_rows`). The file is streamed
and written a batch at a time (`crmbot.imports.book`); a large contact file's rows are read and
normalised by a reader process meanwhile (`crmbot.imports.helper`), all in the caller's one transaction,
audited as one group: the import is undone (or rolled back, for a dry run or a file found
unreadable halfway) as a whole."""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.imports.book import Book, display, phone_of
from crmbot.imports.chunks import Chunk, Good, contact_chunks, contact_of
from crmbot.imports.helper import helper_chunks, use_helper
from crmbot.imports.contacts import Contact, Owners
from crmbot.imports.deal_rows import import_deals
from crmbot.imports.report import Report
from crmbot.imports.sources import Source, UnreadableFile, open_source
from crmbot.imports.vocabulary import Vocabulary
from crmbot.store import models, teams
from crmbot.store.audit import Actor

__all__ = ["Report", "UnreadableFile", "import_file"]
BATCH = 5000  # rows read, matched and written together


def _changes(row, contact: Contact, region: str | None) -> dict:
    """What the row adds to a customer already held: new e-mails and phones, fields that were
    empty, note lines not yet there, the status and owner it names (unless an earlier row of
    this file was about them: rows about one person that disagree must not make a second
    import of the same file change anything). Empty when the row adds nothing."""
    changes: dict = {}
    emails = [e for e in contact.emails if e not in (row.emails or [])]
    if emails:
        changes["emails"] = [*(row.emails or []), *emails]
    if contact.phones:
        had = row.phones or []
        if not all(phone in had for phone in contact.phones):  # else each is held as written: nothing new (most rows)
            held = {phone_of(p, region) or p for p in had}
            phones = [p for p in contact.phones if (phone_of(p, region) or p) not in held]
            if phones:
                changes["phones"] = [*had, *phones]
    for name in ("company", "address", "website", "lead_source", "preferred_channel"):
        if getattr(contact, name) and not getattr(row, name):
            changes[name] = getattr(contact, name)
    notes = [line for line in contact.notes if line not in (row.notes or "")]
    if notes:
        changes["notes"] = "\n".join([row.notes, *notes] if row.notes else notes)
    if contact.status and contact.status != row.status and not row.touched:
        changes["status"] = contact.status
    if contact.owner_id and contact.owner_id != row.owner_id and not row.touched:
        changes["owner_id"] = contact.owner_id
    return changes


async def _contacts(book: Book, batch: list[Good], report: Report, owner_id: int | None) -> None:
    # the customers the rows' e-mails and phones name first; then, for the rows those do not
    # find, by name at the company, all together (keys made where the rows were read)
    held = await book.load([key for _, _, found_by, _ in batch for key in found_by])
    by_keys = held.by_keys
    unfound = [key for _, _, found_by, key in batch if by_keys(found_by) is None]
    if unfound:
        await book.load([f"n:{name}\x1f{company}" for name, company in unfound], held)
    for number, values, found_by, key in batch:
        contact = contact_of(values)
        if contact.unknown_owner:
            report.unknown_owners[contact.unknown_owner] += 1
        row = held.find(contact, key, found_by)
        if row is None:
            held.add(book.add(contact, owner_id, key, found_by), key, found_by)
            report.added += 1
            continue
        changes = _changes(row, contact, book.region)
        book.touch(row)  # matched, changed or not: a later row about them sets no status or owner
        tagged = book.new_tags(row, contact)
        if not changes and not tagged:
            report.skip(number, "held", customer=display(row))
            continue
        if changes:
            book.change(row, changes)
            held.add(row)
        report.updated += 1
    await book.flush()


class _Collector:
    """The garbage collector told to leave the objects already alive alone (the libraries a
    process loads are most of them) and to collect less often while imports make and drop
    their rows a batch at a time: full collections walking every loaded module's objects took
    a fifth of an import's time (measured). The collector is the process's, so imports running
    at once (two chats) share one setting: the first sets it, the last undoes it."""

    lock = threading.Lock()
    running = 0
    thresholds: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    @contextmanager
    def quiet(cls) -> Iterator[None]:
        with cls.lock:
            cls.running += 1
            if cls.running == 1:
                cls.thresholds = gc.get_threshold()
                gc.freeze()
                gc.set_threshold(max(cls.thresholds[0], 20_000), *cls.thresholds[1:])
        try:
            yield
        finally:
            with cls.lock:
                cls.running -= 1
                if cls.running == 0:
                    gc.set_threshold(*cls.thresholds)
                    gc.unfreeze()


async def import_contacts(book: Book, source: Source, report: Report, vocabulary: Vocabulary, owners: Owners,
                          owner_id: int | None, progress: Callable[[int], None] | None,
                          helper: tuple[Path | bytes, str | None] | None = None) -> None:
    """`helper`: the file (and its name) for a helper process to read, instead of `source`."""
    if source.kind == "csv" and not any(vocabulary.field(h) in ("name", "first_name", "last_name") for h in source.headers):
        raise UnreadableFile("no_name_column", name=source.name, found=", ".join(source.headers))
    if helper is None:
        async def read() -> AsyncIterator[Chunk]:
            for chunk in contact_chunks(source, vocabulary, owners, book.region, BATCH):
                yield chunk
        chunks = read()
    else:
        source.close()  # the helper reads the file itself
        chunks = helper_chunks(*helper, vocabulary, owners, book.region, BATCH)
    try:
        async for rows, bad, good in chunks:
            report.rows += rows
            for number, reason, column, values in bad:
                report.skip(number, reason, column, **values)
            if good:
                await _contacts(book, good, report, owner_id)
            if progress:
                progress(rows)  # rows read, bad ones too, so the bar ends full
    finally:
        await chunks.aclose()  # the helper, if any, ends here whatever happened


async def import_file(
    session: AsyncSession, team: models.Team, data: Path | bytes, now: datetime, *,
    name: str | None = None, member: models.Member | None = None, platform: str = "cli", region: str | None = None,
    progress: Callable[[int], None] | None = None, vocabulary: Vocabulary | None = None, actor: Actor | None = None,
) -> Report:
    """Import a file (a path, streamed; or bytes received whole, named `name`) into `team`
    within the caller's transaction. Raises UnreadableFile (from any row: the caller rolls
    back) when the file itself cannot be read."""
    vocabulary = vocabulary or Vocabulary.packaged()
    actor = actor or Actor(team.id, member.id if member else None, platform, uuid.uuid4().hex)
    with open_source(data, name) as source, _Collector.quiet():
        report = Report(unit=source.unit, encoding=source.encoding, group_id=actor.group_id)
        members = await teams.members_of(session, team.id)
        owners = Owners({m.id: m.name for m in members})
        rev = await teams.bump_customer_rev(session, team.id)  # the team's lock on its customers, taken first
        deals = source.kind == "csv" and vocabulary.is_deals(source.headers)
        book = Book(session, team, actor, now, region, rev, alone=deals)
        await book.open()
        if deals:
            report.kind = "deals"
            await import_deals(book, source, report, vocabulary, owners, member, members, progress)
        else:
            # a row without an owner goes where the team's routing rules say; else to who imported it
            book.fallback_owner = member.id if member else None
            helper = (data, name) if use_helper(data) else None
            await import_contacts(book, source, report, vocabulary, owners, None, progress, helper)
        report.routed = book.routed
    return report
