"""What every `crmbot` command shares: the Typer apps, common options and helpers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Optional

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crmbot import app as app_module
from crmbot.clock import system_clock
from crmbot.config import Settings
from crmbot.store import teams
from crmbot.store.audit import Actor
from crmbot.store.models import ROLES



def _types_only_where_named() -> None:
    """Typer labels every parameter in --help with its Python type ("--help <bool>", "NAME <str>");
    to a reader of a CRM's help that is noise. Show a parameter's metavar when it has one, else
    nothing: the help text says what goes there."""
    def metavar_only(param: Any, ctx: Any) -> str | None:  # typer's own click parameter and context
        return param.metavar

    typer.core.TyperArgument.display_type_rich = metavar_only  # type: ignore[method-assign]
    typer.core.TyperOption.display_type_rich = metavar_only  # type: ignore[method-assign]


_types_only_where_named()
cli = typer.Typer(help="crmbot: a chat-first CRM assistant.", no_args_is_help=True, add_completion=False)
db_cli = typer.Typer(help="Database maintenance.", no_args_is_help=True)
member_cli = typer.Typer(help="Team members.", no_args_is_help=True)
slack_cli = typer.Typer(help="Slack workspaces.", no_args_is_help=True)
auto_followup_cli = typer.Typer(help="Follow-ups a team gets every time: after a new lead, after a resolved complaint.", no_args_is_help=True)
rates_cli = typer.Typer(help="Exchange rates for totals in one currency.", no_args_is_help=True)
route_cli = typer.Typer(help="Routing rules: who gets new customers and complaints.", no_args_is_help=True)
settings_cli = typer.Typer(help="Team settings: when customers, complaints and deals count as at risk; the forecast's chance per stage.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(member_cli, name="member")
cli.add_typer(slack_cli, name="slack")
cli.add_typer(route_cli, name="route")
cli.add_typer(rates_cli, name="rates")
cli.add_typer(auto_followup_cli, name="auto-follow-up")
cli.add_typer(settings_cli, name="settings")
err = Console(stderr=True, soft_wrap=True)  # messages stay one line: scripts grep them

DbOption = Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL or SQLite file path (default: $CRMBOT_DATABASE_URL, else a file in your data directory).")]
NowOption = Annotated[Optional[str], typer.Option("--now", help="Pretend it is this ISO time (for demos and tests).")]
FormatOption = Annotated[str, typer.Option("--format", help="table (for people) or json (for scripts).")]
TeamOption = Annotated[Optional[str], typer.Option("--team", help="Team name (needed only when the database has several).")]


def parse_now(now: str | None) -> datetime | None:
    if not now:
        return None
    try:
        moment = datetime.fromisoformat(now)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date/time: {now}", param_hint="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def clock_for(now: datetime | None):
    """A fixed --now still moves forward with the wall clock, so a chat session feels live."""
    if now is None:
        return system_clock
    started = datetime.now(timezone.utc)
    return lambda: now + (datetime.now(timezone.utc) - started)


def build(db: str | None, now: datetime | None = None) -> app_module.App:
    return app_module.build(Settings(), db=db, clock=clock_for(now))


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(code)


async def team_or_founded(session, name: str | None, now: datetime):
    """The named (or only) team; a database with no team at all gets the default team, so a
    first command needs no set-up. Anything else is refused with what to do."""
    team = await teams.team_by_name(session, name) if name else await teams.the_only_team(session)
    if team is None and not name and not await teams.all_teams(session):
        team = await teams.create_team(session, teams.DEFAULT_TEAM, now)
    if team is None:
        fail(f"no team {name!r}" if name else "name a team with --team (the database has several)")
    return team


async def team_named(session, name: str | None):
    team = await teams.team_by_name(session, name) if name else await teams.the_only_team(session)
    if team is None:
        fail(f"no team {name!r}" if name else "name a team with --team (the database has none or several)")
    return team


def run_app(db: str | None, work: Callable[[app_module.App], Awaitable[None]], now: datetime | None = None) -> None:
    """Open the app on `db`, run one command's work in it, and always close it."""

    async def main() -> None:
        app = build(db, now)
        try:
            await work(app)
        finally:
            await app.close()

    asyncio.run(main())


def check_role(role: str, flag: str = "--role") -> None:
    if role not in ROLES:
        fail(f"{flag} must be one of: {', '.join(ROLES)}")


async def one_customer(app: app_module.App, session, team_id: int, name: str):
    """Exactly one customer for a shell command, or a clear refusal: the shell never guesses."""
    matches = await app.bot.index.search(session, team_id, name, 5)
    best = [m for m in matches if m.score >= 90]
    if not best:
        fail(f"no customer matches {name!r}")
    if len(best) > 1 and best[1].score >= best[0].score - 4:
        fail("several customers match: " + "; ".join(m.display for m in best) + ". Be more precise.")
    return best[0]


def check_format(format: str) -> None:
    if format not in ("table", "json"):
        fail("--format must be table or json")


def cells(*values: object) -> list[str]:
    """Table cells shown as typed: rich would read "[CZ]" in a name as markup."""
    return [escape(str(value)) for value in values]


def show(format: str, rows: list[dict], table: Table) -> None:
    """`rows` as JSON for scripts, or `table` for people."""
    if format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        Console(soft_wrap=True).print(table)


def cli_actor(team_id: int) -> Actor:
    """Changes made from the shell are audited as the shell's, one group per command."""
    return Actor(team_id, None, "cli", uuid.uuid4().hex)
