"""CSV import of customers: one transaction, a report of what was skipped and why."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.i18n import I18n
from crmbot.store import audit, customers, models, teams
from crmbot.store.audit import Actor
from crmbot.text import EMAIL, fold, normalise_phone

MAX_FIELD = 2000


class UnreadableFile(Exception):
    """The file cannot be read as a customer CSV at all: nothing is written."""


@dataclass
class Report:
    imported: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def _folded_header(header: str) -> str:
    # "E-mail address" -> "e mail address": folded, anything but letters a space
    return " ".join(re.sub(r"[\W\d_]+", " ", fold(header)).split())


def header_fields(i18n: I18n) -> dict[str, str]:
    """Column header -> customer field, from every language's `[import_columns]`: a file's
    headers may be in any language crmbot speaks."""
    return {_folded_header(header): name for language in i18n.languages.values()
            for name, headers in language.data.get("import_columns", {}).items() for header in headers}


def read_rows(path: Path) -> tuple[dict[str, str], Iterator[tuple[int, dict[str, str]]]]:
    columns = header_fields(I18n.packaged())
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(f"cannot read {path}: {error.strerror}") from error
    for encoding in ("utf-8-sig", "cp1250", "latin-1"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if "\x00" in text:
        raise UnreadableFile(f"{path} is not a text file")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise UnreadableFile(f"{path} has no header row")
    mapping = {h: columns[_folded_header(h)] for h in reader.fieldnames if h and _folded_header(h) in columns}
    if "name" not in mapping.values():
        raise UnreadableFile(f"{path} has no name column (found: {', '.join(reader.fieldnames)})")

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for row in reader:
            values: dict[str, str] = {}
            for header, key in mapping.items():
                value = (row.get(header) or "").strip()
                if value:
                    values[key] = values[key] + "; " + value if key in values else value
            yield reader.line_num, values

    return mapping, rows()


async def import_customers(
    session: AsyncSession, team: models.Team, path: Path, now: datetime, *,
    member_id: int | None = None, progress: Callable[[int], None] | None = None,
) -> Report:
    _, rows = read_rows(path)
    report = Report()
    current = await customers.all_live(session, team.id)
    existing = {(fold(c.name), fold(c.company or "")) for c in current}
    known_emails = {e.lower() for c in current for e in c.emails or []}
    rev = await teams.bump_customer_rev(session, team.id)
    actor = Actor(team.id, member_id, "cli", uuid.uuid4().hex)
    added: list[models.Customer] = []
    for line, values in rows:
        if progress:
            progress(1)
        name = values.get("name", "")
        if not name:
            report.skipped.append((line, "no name"))
            continue
        if any(len(v) > MAX_FIELD for v in values.values()):
            report.skipped.append((line, "a field is longer than 2000 characters"))
            continue
        emails = [e.lower() for e in EMAIL.findall(values.get("email", ""))]
        if values.get("email") and not emails:
            report.skipped.append((line, f"not an e-mail address: {values['email'][:60]}"))
            continue
        key = (fold(name), fold(values.get("company", "")))
        if key in existing or any(e in known_emails for e in emails):
            report.skipped.append((line, f"already there: {name}"))
            continue
        existing.add(key)
        known_emails.update(emails)
        phones = [normalise_phone(p) for p in re.split(r"[;,/]", values.get("phone", "")) if p.strip()]
        status = values.get("status", "lead").lower()
        added.append(
            models.Customer(
                team_id=team.id, name=name, company=values.get("company"), emails=emails, phones=phones,
                address=values.get("address"), website=values.get("website"), notes=values.get("notes"),
                lead_source=values.get("lead_source"), preferred_channel=values.get("preferred_channel"),
                status=status if status in models.CUSTOMER_STATUSES else "lead", owner_id=member_id,
                created_at=now, updated_at=now, rev=rev,
            )
        )
    session.add_all(added)
    await session.flush()
    for customer in added:
        audit.record(session, actor, now, "create", customer, None, customer_id=customer.id)
    report.imported = len(added)
    return report
