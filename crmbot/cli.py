"""The `crmbot` command."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import Progress

from crmbot import app as app_module
from crmbot.adapters.console import ConsoleChat
from crmbot.config import Settings
from crmbot.intents.parse import Parser, as_json
from crmbot.store import teams

cli = typer.Typer(help="crmbot: a chat-first CRM assistant.", no_args_is_help=True, add_completion=False)
db_cli = typer.Typer(help="Database maintenance.", no_args_is_help=True)
member_cli = typer.Typer(help="Team members.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(member_cli, name="member")
err = Console(stderr=True, soft_wrap=True)  # messages stay one line: scripts grep them

DbOption = Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL or SQLite file path (default: $CRMBOT_DATABASE_URL, else a file in your data directory).")]
NowOption = Annotated[Optional[str], typer.Option("--now", help="Pretend it is this ISO time (for demos and tests).")]
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
        return app_module.system_clock
    started = datetime.now(timezone.utc)
    return lambda: now + (datetime.now(timezone.utc) - started)


def build(db: str | None, now: datetime | None = None) -> app_module.App:
    return app_module.build(Settings(), db=db, clock=clock_for(now))


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(code)


async def _team(app: app_module.App, session, name: str | None):
    team = await teams.team_by_name(session, name) if name else await teams.the_only_team(session)
    if team is None:
        fail(f"no team {name!r}" if name else "name a team with --team (the database has none or several)")
    return team


# -- chat ----------------------------------------------------------------------------------------


async def _chat(app: app_module.App, user: str, team: str | None, now: datetime | None) -> None:
    try:
        await app_module.console_member(app, user, now or datetime.now(timezone.utc), team_name=team)
    except app_module.NotAMember as error:
        fail(f"{error}. Add them with: crmbot member add {user!r} --role rep")
    chat = ConsoleChat(app.bot, user)
    interactive = sys.stdin.isatty()
    out = Console(highlight=False)
    if interactive:
        out.print(f"[bold]crmbot[/bold] — you are {user}. Type 'help', or Ctrl-D to leave.")
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, _read_line, "you> " if interactive else "")
        if line is None:
            break
        if not line.strip() and not interactive:
            continue
        replies = await chat.send(line)
        text = chat.show(replies)
        if text:
            print(("bot> " + text.replace("\n", "\n     ")) if interactive else text, flush=True)


def _read_line(prompt: str) -> str | None:
    """One line of input; None at the end of input."""
    if prompt:
        try:
            return input(prompt)
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


@cli.command()
def chat(
    db: DbOption = None,
    user: Annotated[str, typer.Option("--user", help="Act as this member of the team.")] = "me",
    now: NowOption = None,
    team: TeamOption = None,
) -> None:
    """Chat with crmbot in the terminal (reads one message per line when piped)."""
    moment = parse_now(now)

    async def main() -> None:
        app = build(db, moment)
        try:
            await _chat(app, user, team, moment)
        finally:
            await app.close()

    asyncio.run(main())


@cli.command()
def demo(
    db: Annotated[str, typer.Option("--db", help="Where the demo database lives.")] = "crmbot-demo.db",
    now: NowOption = None,
    fresh: Annotated[bool, typer.Option(help="Start from a new database.")] = True,
) -> None:
    """Start a chat on a SQLite file filled with sample data."""
    from crmbot import sample

    moment = parse_now(now)
    if fresh and "://" not in db:
        for suffix in ("", "-wal", "-shm"):
            Path(db + suffix).unlink(missing_ok=True)

    async def main() -> None:
        app = build(db, moment)
        try:
            async with app.db.sessions() as session, session.begin():
                if not await teams.all_teams(session):
                    await sample.seed(session, moment or datetime.now(timezone.utc))
            print(f"Demo data in {db}: team {sample.TEAM!r}, you are Alice (manager). Try: 'novak', 'called jana, wants a quote by friday', 'summary'.")
            await _chat(app, "Alice", sample.TEAM, moment)
        finally:
            await app.close()

    asyncio.run(main())


# -- parse -----------------------------------------------------------------------------------------


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

    async def main() -> None:
        app = build(db, moment)
        parser = Parser(app.i18n)
        try:
            async with app.db.sessions() as session, session.begin():
                team_row = await teams.team_by_name(session, team) if team else await teams.the_only_team(session)
                lines = [text] if text is not None else (line.rstrip("\n") for line in sys.stdin)
                for line in lines:
                    intent = parser.parse(line, locale, moment, tz)
                    customer = None
                    if team_row is not None and intent.mention:
                        matches = await app.bot.index.search(session, team_row.id, intent.mention, 2)
                        if matches and matches[0].score >= 80 and (len(matches) < 2 or matches[1].score < matches[0].score - 4):
                            customer = matches[0].display
                    print(json.dumps(as_json(intent, customer), ensure_ascii=False), flush=True)
        finally:
            await app.close()

    asyncio.run(main())


# -- import / export -----------------------------------------------------------------------------


@cli.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with columns such as name, company, email, phone.")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Import customers from a CSV file (all or nothing; skipped rows are reported)."""
    from crmbot.importer import ImportError_, import_customers

    async def main() -> None:
        app = build(db)
        try:
            now = datetime.now(timezone.utc)
            async with app.db.sessions() as session, session.begin():
                team_row = await teams.team_by_name(session, team) if team else await teams.the_only_team(session)
                if team_row is None:
                    team_row = await teams.create_team(session, team or teams.DEFAULT_TEAM, now)
                lines = max(0, sum(1 for _ in file.open("rb")) - 1) if file.is_file() else 0
                with Progress(console=err, transient=True, disable=lines < 1000) as progress:
                    task = progress.add_task("importing", total=lines)
                    report = await import_customers(session, team_row, file, now, progress=lambda n: progress.advance(task, n))
            print(f"Imported {report.imported} customers into {team_row.name!r}; skipped {len(report.skipped)}.")
            for line, reason in report.skipped[:50]:
                print(f"  line {line}: {reason}")
            if len(report.skipped) > 50:
                print(f"  … and {len(report.skipped) - 50} more")
        except ImportError_ as error:
            fail(f"Nothing imported: {error}")
        finally:
            await app.close()

    asyncio.run(main())


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

    async def main() -> None:
        app = build(db)
        try:
            async with app.db.sessions() as session, session.begin():
                team_row = await _team(app, session, team)
                ids = None
                if customer:
                    matches = await app.bot.index.search(session, team_row.id, customer, 5)
                    best = [m for m in matches if m.score >= 90]
                    if not best:
                        fail(f"no customer matches {customer!r}")
                    if len(best) > 1 and best[1].score >= best[0].score - 4:
                        fail("several customers match: " + ", ".join(m.display for m in best))
                    ids = {best[0].customer_id}
                data = await export_team(session, team_row.id, ids)
            text = json.dumps(data, ensure_ascii=False, indent=2)
            if output:
                output.write_text(text + "\n", encoding="utf-8")
            else:
                print(text)
        finally:
            await app.close()

    asyncio.run(main())


# -- members and the database ----------------------------------------------------------------------


@cli.command()
def invite(
    role: Annotated[str, typer.Option("--role", help="rep, manager or admin.")] = "rep",
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Create an invite code (and a Telegram link when a token is configured)."""
    if role not in ("rep", "manager", "admin"):
        fail("--role must be rep, manager or admin")

    async def main() -> None:
        app = build(db)
        try:
            async with app.db.sessions() as session, session.begin():
                team_row = await _team(app, session, team)
                made = await teams.create_invite(session, team_row.id, role, datetime.now(timezone.utc))
            print(f"Invite for {team_row.name!r} as {role}: {made.code}")
            print(f"In Telegram send: /start {made.code}")
            link = await _telegram_link(app, made.code)
            if link:
                print(link)
        finally:
            await app.close()

    asyncio.run(main())


async def _telegram_link(app: app_module.App, code: str) -> str | None:
    if app.settings.telegram_token is None:
        return None
    try:
        from crmbot.adapters.telegram import bot_username
    except ImportError:
        return None
    name = await bot_username(app.settings)
    return f"https://t.me/{name}?start={code}" if name else None


@member_cli.command("add")
def member_add(
    name: Annotated[str, typer.Argument(help="The member's name.")],
    role: Annotated[str, typer.Option("--role")] = "rep",
    telegram: Annotated[Optional[str], typer.Option("--telegram", help="Telegram user id.")] = None,
    slack: Annotated[Optional[str], typer.Option("--slack", help="Slack user id (with --workspace).")] = None,
    workspace: Annotated[str, typer.Option("--workspace", help="Slack workspace (team) id.")] = "",
    locale: Annotated[str, typer.Option("--locale")] = "en",
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone, e.g. Europe/Prague.")] = "UTC",
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Add a member (or update their role) and bind their platform accounts."""
    if role not in ("rep", "manager", "admin"):
        fail("--role must be rep, manager or admin")

    async def main() -> None:
        app = build(db)
        now = datetime.now(timezone.utc)
        try:
            async with app.db.sessions() as session, session.begin():
                team_row = await teams.team_by_name(session, team) if team else await teams.the_only_team(session)
                if team_row is None and not team and not await teams.all_teams(session):
                    team_row = await teams.create_team(session, teams.DEFAULT_TEAM, now)
                if team_row is None:
                    fail("name a team with --team")
                member = await teams.member_by_name(session, team_row.id, name)
                if member is None:
                    member = await teams.create_member(session, team_row.id, name, now, role=role, locale=locale, timezone=tz)
                else:
                    member.role = role
                if telegram:
                    await teams.bind_identity(session, member, "telegram", telegram, now, chat_id=telegram)
                if slack:
                    await teams.bind_identity(session, member, "slack", slack, now, workspace=workspace)
            print(f"{name} is a {role} of {team_row.name!r}.")
        finally:
            await app.close()

    asyncio.run(main())


@member_cli.command("list")
def member_list(db: DbOption = None, team: TeamOption = None) -> None:
    """List the team's members."""

    async def main() -> None:
        app = build(db)
        try:
            async with app.db.sessions() as session:
                team_row = await _team(app, session, team)
                for member in await teams.members_of(session, team_row.id):
                    print(f"{member.id}\t{member.name}\t{member.role}\t{member.locale}\t{member.timezone}")
        finally:
            await app.close()

    asyncio.run(main())


@db_cli.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Bring the database schema up to date."""
    from crmbot.store import migrate
    from crmbot.store.db import sync_url, to_url

    url = sync_url(to_url(db or Settings().database))
    migrate.upgrade(url)
    print(f"Database at revision {migrate.current(url)}.")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
