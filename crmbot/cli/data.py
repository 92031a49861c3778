"""Reading and moving data: parse, import, export."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from sqlalchemy import select
from rich.progress import Progress

from crmbot import app as app_module
from crmbot.cli.common import (
    DbOption,
    NowOption,
    TeamOption,
    cli,
    err,
    fail,
    one_customer,
    parse_now,
    run_app,
    team_named,
    team_or_founded,
)
from crmbot.intents.parse import Parser, as_json
from crmbot.store import teams
from crmbot.intents.context import DEAL_MOVES
from crmbot.store.search import clear_winner, gender_cue


@cli.command()
def parse(
    text: Annotated[Optional[str], typer.Argument(help="A message; without it, one message per line from stdin.")] = None,
    db: DbOption = None,
    locale: Annotated[str, typer.Option("--locale", help="Language of the message.")] = "en",
    now: NowOption = None,
    tz: Annotated[str, typer.Option("--tz", help="Time zone for dates.")] = "UTC",
    team: TeamOption = None,
) -> None:
    """Print what crmbot understands of a message, as JSON."""
    moment = parse_now(now) or datetime.now(timezone.utc)

    async def main(app: app_module.App) -> None:
        parser = Parser(app.i18n)
        async with app.db.sessions() as session, session.begin():
            team_row = await teams.team_by_name(session, team) if team else await teams.the_only_team(session)
            lines = [text] if text is not None else (line.rstrip("\n") for line in sys.stdin)
            for line in lines:
                intent = parser.parse(line, locale, moment, tz)
                customer = None
                if team_row is not None and intent.mention:
                    winner = clear_winner(await app.bot.index.search(session, team_row.id, intent.mention,
                                                                     about_deal=intent.name in DEAL_MOVES,
                                                                     gender=gender_cue(intent.slots)))
                    customer = winner.display if winner else None
                print(json.dumps(as_json(intent, customer), ensure_ascii=False), flush=True)

    run_app(db, main, moment)


def _line_count(path: Path) -> int:
    """Rows below the header, or a vCard file's contacts, roughly (for the progress bar):
    counted in chunks, never all read."""
    if not path.is_file():
        return 0
    with path.open("rb") as stream:
        chunks = iter(lambda: stream.read(1 << 20), b"")
        if path.suffix.lower() in (".vcf", ".vcard"):
            return sum(chunk.upper().count(b"BEGIN:VCARD") for chunk in chunks)
        return max(0, sum(chunk.count(b"\n") for chunk in chunks) - 1)


class _DryRun(Exception):
    """Raised out of the import's transaction so that it rolls back, carrying the report."""

    def __init__(self, report) -> None:
        self.report = report


def _print_report(report, source: str, team_name: str, dry_run: bool) -> None:
    would = "Would import" if dry_run else "Imported"
    what = "deals" if report.kind == "deals" else ""
    print(f"{would} {what + ' from ' if what else ''}{source} into {team_name!r}: {report.added} added, "
          f"{report.updated} updated, {report.skipped} skipped.")
    if report.customers_added:
        print(f"Customers added for deals with someone not held before: {report.customers_added}.")
    if report.encoding not in ("utf-8", "utf-8-sig", "ascii"):
        print(f"Read as {report.encoding}.")  # detected, not declared: say so, in case it guessed wrong
    lines = report.lines()
    for line in lines[:50]:
        print(f"  {line}")
    if report.skipped > 50:
        print(f"  … and {report.skipped - 50} more")
    if report.unknown_owners:
        names = ", ".join(f"{name} ({count})" for name, count in report.unknown_owners.most_common())
        print(f"Owners who are not members, left unassigned: {names}" if report.kind != "deals"
              else f"Owners who are not members, deals given to the importing member or the customer's owner: {names}")
    if report.unknown_stages:
        names = ", ".join(f"{name} ({count})" for name, count in report.unknown_stages.most_common())
        print(f"Stages crmbot does not know, imported as lead: {names}")
    if dry_run:
        print("Dry run: nothing was written.")
    elif report.changed:
        print(f"Audited as one change, group {report.group_id}.")


async def _tell_routed(app: app_module.App, routed: dict[int, int], source: str, now: datetime) -> None:
    """Members the routing rules gave new customers hear it in their chat: kept for the running
    server (`crmbot run`) to deliver, as replies are while a platform is away."""
    from crmbot.intents import reach
    from crmbot.messages import Reply
    from crmbot.reminders import outbox
    from crmbot.store import models

    async with app.db.sessions() as session:
        members = {m.id: m for m in await session.scalars(select(models.Member).where(models.Member.id.in_(routed)))}
        chats = await reach.chats_for(session, set(members), ("telegram", "slack"))
    names = ", ".join(f"{members[m].name} ({n})" for m, n in sorted(routed.items()) if m in members)
    print(f"Given by the team's routing rules: {names}.")
    for member_id, chat in chats.items():
        member = members[member_id]
        text = app.i18n.render(member.locale, "import_assigned", member.timezone, name=source, count=routed[member_id])
        await outbox.keep(app.db, chat, [Reply(text, kind="import_assigned", team_id=member.team_id)], now)


@cli.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A CSV (any encoding or delimiter, headers of most CRMs and contact apps; contacts or deals) or a vCard file.")],
    db: DbOption = None,
    team: TeamOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be imported; write nothing.")] = False,
    region: Annotated[Optional[str], typer.Option("--region", help="Country of phone numbers written without +, e.g. CZ (remembered for the team).")] = None,
    member: Annotated[Optional[str], typer.Option("--member", help="Import as this member: audited as theirs, and owner of rows naming none.")] = None,
) -> None:
    """Import customers (CSV or vCard) or deals (HubSpot, Pipedrive deal exports): a row matching what is held updates it."""
    import phonenumbers

    from crmbot.importer import UnreadableFile, import_file

    if region is not None:
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            fail(f"--region must be a country code such as CZ, GB or CN, not {region!r}")

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        lines = _line_count(file)
        try:
            async with app.db.sessions() as session, session.begin():
                team_row = await team_or_founded(session, team, now)
                who = None
                if member:
                    who = await teams.member_by_name(session, team_row.id, member)
                    if who is None:
                        fail(f"no member {member!r} in {team_row.name!r}")
                if region and not dry_run:
                    team_row.settings = {**(team_row.settings or {}), "region": region}
                with Progress(console=err, transient=True, disable=lines < 1000 or not err.is_terminal) as progress:
                    task = progress.add_task("importing", total=lines)
                    report = await import_file(
                        session, team_row, file, now, member=who, region=region or (team_row.settings or {}).get("region"),
                        progress=lambda n: progress.advance(task, n),
                    )
                team_name = team_row.name
                if dry_run:
                    raise _DryRun(report)
        except _DryRun as rolled_back:
            report = rolled_back.report
        except UnreadableFile as error:
            fail(f"Nothing imported: {error}")
        _print_report(report, file.name, team_name, dry_run)
        if report.routed and not dry_run:
            await _tell_routed(app, report.routed, file.name, now)

    run_app(db, main)


@cli.command()
def export(
    format: Annotated[str, typer.Option("--format", help="json, csv, vcard (customers) or ics (follow-ups).")] = "json",
    db: DbOption = None,
    team: TeamOption = None,
    customer: Annotated[Optional[str], typer.Option("--customer", help="Only what is held about this person.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    entity: Annotated[str, typer.Option("--entity", help="With --format csv: customers, deals, interactions, complaints or followups.")] = "customers",
) -> None:
    """Export the team's data: everything as JSON, one kind as CSV, customers as vCard, follow-ups as iCalendar."""
    from crmbot import export_formats
    from crmbot.exporter import export_team

    if format not in ("json", "csv", "vcard", "ics"):
        fail(f"--format must be json, csv, vcard or ics, not {format!r}")
    if entity not in export_formats.ENTITIES:
        fail(f"--entity must be one of: {', '.join(export_formats.ENTITIES)}")
    if entity != "customers" and format != "csv":
        fail("--entity goes with --format csv")

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            ids = None
            if customer:
                ids = {(await one_customer(app, session, team_row.id, customer)).customer_id}
            data = await export_team(session, team_row.id, ids)
            names = {m.id: m.name for m in await teams.members_of(session, team_row.id)}
        text: str | bytes
        if format == "json":
            text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        elif format == "csv":
            text = export_formats.entity_csv(data, entity, names)
        elif format == "vcard":
            text = export_formats.customers_vcard(data, names)
        else:
            text = export_formats.followups_ics(data, names, datetime.now(timezone.utc))
        if isinstance(text, str):
            text = text.encode("utf-8")
        if output:
            output.write_bytes(text)
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(text)  # bytes as they are: a CSV's \r\n, the calendar's own line ends
            sys.stdout.buffer.flush()

    run_app(db, main)
