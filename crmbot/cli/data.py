"""Reading and moving data: parse, import, export."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
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
)
from crmbot.intents.parse import Parser, as_json
from crmbot.store import teams
from crmbot.store.search import clear_winner


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
                    winner = clear_winner(await app.bot.index.search(session, team_row.id, intent.mention))
                    customer = winner.display if winner else None
                print(json.dumps(as_json(intent, customer), ensure_ascii=False), flush=True)

    run_app(db, main, moment)


@cli.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with columns such as name, company, email, phone.")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Import customers from a CSV file (all or nothing; skipped rows are reported)."""
    from crmbot.importer import UnreadableFile, import_customers

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        try:
            async with app.db.sessions() as session, session.begin():
                team_row = await teams.team_by_name(session, team) if team else await teams.the_only_team(session)
                if team_row is None:
                    team_row = await teams.create_team(session, team or teams.DEFAULT_TEAM, now)
                lines = max(0, sum(1 for _ in file.open("rb")) - 1) if file.is_file() else 0
                with Progress(console=err, transient=True, disable=lines < 1000) as progress:
                    task = progress.add_task("importing", total=lines)
                    report = await import_customers(session, team_row, file, now, progress=lambda n: progress.advance(task, n))
        except UnreadableFile as error:
            fail(f"Nothing imported: {error}")
        print(f"Imported {report.imported} customers into {team_row.name!r}; skipped {len(report.skipped)}.")
        for line, reason in report.skipped[:50]:
            print(f"  line {line}: {reason}")
        if len(report.skipped) > 50:
            print(f"  … and {len(report.skipped) - 50} more")

    run_app(db, main)


@cli.command()
def export(
    format: Annotated[str, typer.Option("--format", help="Output format (json).")] = "json",
    db: DbOption = None,
    team: TeamOption = None,
    customer: Annotated[Optional[str], typer.Option("--customer", help="Only what is held about this person.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Export the team's data as JSON."""
    from crmbot.exporter import export_team

    if format != "json":
        fail("only --format json is supported")

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            ids = None
            if customer:
                ids = {(await one_customer(app, session, team_row.id, customer)).customer_id}
            data = await export_team(session, team_row.id, ids)
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if output:
            output.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)

    run_app(db, main)
