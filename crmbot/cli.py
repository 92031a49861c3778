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
from crmbot.adapters.console import ConsoleChat, ConsoleSender
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


async def _chat(app: app_module.App, user: str, team: str | None, now: datetime | None, reminders: bool | None = None) -> None:
    try:
        await app_module.console_member(app, user, now or datetime.now(timezone.utc), team_name=team)
    except app_module.NotAMember as error:
        fail(f"{error}. Add them with: crmbot member add {user!r} --role rep")
    chat = ConsoleChat(app.bot, user)
    interactive = sys.stdin.isatty()
    out = Console(highlight=False)

    def show(text: str) -> None:
        if text:
            print(("bot> " + text.replace("\n", "\n     ")) if interactive else text, flush=True)

    if interactive:
        out.print(f"[bold]crmbot[/bold] — you are {user}. Type 'help', or Ctrl-D to leave.")
    # due follow-ups are printed into the chat, by the same loop `crmbot run` uses
    loop_task, stop, reminder_loop = None, asyncio.Event(), None
    if reminders if reminders is not None else interactive:
        from crmbot.reminders.loop import ReminderLoop

        sender = ConsoleSender(show, chat)
        reminder_loop = ReminderLoop.from_settings(app.settings, app.db, app.i18n, {"console": sender}, app.bot.clock)
        if interactive:
            loop_task = asyncio.create_task(reminder_loop.run(stop))
        else:
            await reminder_loop.run_once()  # piped: one pass, so scripts see what is due
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, _read_line, "you> " if interactive else "")
            if line is None:
                break
            if not line.strip() and not interactive:
                continue
            show(chat.show(await chat.send(line)))
            if reminder_loop is not None:
                reminder_loop.wake()  # a reminder just set for a minute from now is not missed
    finally:
        stop.set()
        if loop_task is not None:
            await loop_task


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
    reminders: Annotated[Optional[bool], typer.Option("--reminders/--no-reminders", help="Print due follow-ups into the chat (default: on in a terminal).")] = None,
) -> None:
    """Chat with crmbot in the terminal (reads one message per line when piped)."""
    moment = parse_now(now)

    async def main() -> None:
        app = build(db, moment)
        try:
            await _chat(app, user, team, moment, reminders)
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


@db_cli.command("copy")
def db_copy(
    source: Annotated[str, typer.Option("--from", help="The database to copy: URL or SQLite file path.")],
    target: Annotated[str, typer.Option("--to", help="An empty database to copy into, e.g. postgresql://user@host/crmbot.")],
) -> None:
    """Copy every row into an empty database (e.g. SQLite to PostgreSQL), then verify it.

    Stop the bot first: rows written to the source during the copy show up as a mismatch.
    """
    from crmbot.store.copy import CopyRefused, copy_database

    try:
        report = asyncio.run(copy_database(source, target))
    except CopyRefused as error:
        fail(f"Nothing copied: {error}")
    print(f"{'table':<22}{'source':>9}{'target':>9}  sha256 of rows")
    for table, rows in report.source.counts.items():
        digest = report.source.tables[table]
        same = "=" if report.target.tables.get(table) == digest else "≠ " + report.target.tables.get(table, "-")[:16]
        print(f"{table:<22}{rows:>9}{report.target.counts.get(table, 0):>9}  {digest[:16]} {same}")
    for team, digest in report.source.exports.items():
        print(f"export of team {team!r}: source sha256 {digest}, target sha256 {report.target.exports.get(team, '-')}")
    if report.differences:
        for line in report.differences:
            err.print(f"[red]{line}[/red]")
        fail("The copy differs from the source.")
    print(f"Copied {sum(report.source.counts.values())} rows; counts and checksums match.")


@cli.command()
def run(
    telegram: Annotated[bool, typer.Option("--telegram", help="Serve the Telegram bot (polling, or the webhook when CRMBOT_TELEGRAM_WEBHOOK_URL is set).")] = False,
    slack: Annotated[bool, typer.Option("--slack", help="Serve the Slack app.")] = False,
    db: DbOption = None,
) -> None:
    """Serve the bot on Telegram and/or Slack, with the reminder loop, until Ctrl-C."""
    import logging

    from crmbot.server import serve

    if not (telegram or slack):
        fail("choose --telegram and/or --slack")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Bot API call (with the token in the URL) otherwise

    async def main() -> None:
        app = build(db)
        try:
            await serve(app, telegram=telegram, slack=slack)
        finally:
            await app.close()

    asyncio.run(main())


# -- slack ------------------------------------------------------------------------------------------

slack_cli = typer.Typer(help="Slack workspaces.", no_args_is_help=True)
cli.add_typer(slack_cli, name="slack")


@slack_cli.command("bind")
def slack_bind(
    workspace: Annotated[str, typer.Option("--workspace", help="Slack workspace (team) id, e.g. T0123ABCD.")],
    team: TeamOption = None,
    default_role: Annotated[str, typer.Option("--default-role", help="Role of workspace users who join on first use.")] = "rep",
    invite_only: Annotated[bool, typer.Option("--invite-only/--open", help="Admit only users with an invite.")] = False,
    db: DbOption = None,
) -> None:
    """Bind a Slack workspace to a team: its users become members on first use (unless invite-only)."""
    if default_role not in ("rep", "manager", "admin"):
        fail("--default-role must be rep, manager or admin")
    if not workspace.strip():
        fail("--workspace must be a Slack workspace id such as T0123ABCD")

    async def main() -> None:
        app = build(db)
        now = datetime.now(timezone.utc)
        try:
            async with app.db.sessions() as session, session.begin():
                team_row = await teams.team_by_name(session, team) if team else await teams.the_only_team(session)
                if team_row is None and not team and not await teams.all_teams(session):
                    team_row = await teams.create_team(session, teams.DEFAULT_TEAM, now)  # a fresh database
                if team_row is None:
                    fail(f"no team {team!r}" if team else "name a team with --team (the database has several)")
                try:
                    await teams.bind_workspace(session, team_row, workspace.strip(), default_role=default_role, invite_only=invite_only)
                except ValueError as error:
                    fail(str(error))
            how = "by invite only" if invite_only else f"on first use as {default_role}"
            print(f"Slack workspace {workspace.strip()} is bound to {team_row.name!r}; its users join {how}.")
        finally:
            await app.close()

    asyncio.run(main())


# -- health ----------------------------------------------------------------------------------------


@cli.command()
def doctor(db: DbOption = None, now: NowOption = None) -> None:
    """Check the installation: database, schema, reminders and adapters (secrets are never shown)."""
    from datetime import timedelta

    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from crmbot.reminders import queue
    from crmbot.store import migrate
    from crmbot.store.db import open_database, sync_url, to_url

    settings = Settings()
    moment = parse_now(now) or datetime.now(timezone.utc)
    out = Console(highlight=False, soft_wrap=True)
    errors = 0

    def ok(message: str) -> None:
        out.print(f"[green]✓[/green] {message}")

    def warn(message: str) -> None:
        out.print(f"[yellow]![/yellow] {message}")

    def bad(message: str) -> None:
        nonlocal errors
        errors += 1
        out.print(f"[red]✗[/red] {message}")

    target = db or settings.database
    if "://" not in target and not Path(target).expanduser().exists():
        bad(f"no database at {target} yet (any crmbot command creates it)")
        raise typer.Exit(1)
    url = sync_url(to_url(target))
    shown = url.render_as_string(hide_password=True)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        ok(f"database reachable: {shown}")
    except Exception as error:  # first line only: drivers may append connection details
        bad(f"database unreachable: {shown} ({type(error).__name__}: {(str(error).splitlines() or [''])[0]})")
        raise typer.Exit(1)
    finally:
        engine.dispose()

    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    current = migrate.current(url)
    if current == head:
        ok(f"schema at revision {current}")
    elif current is None:
        bad("schema missing: run `crmbot db upgrade`")
    else:
        warn(f"schema at revision {current}, this crmbot expects {head}: run `crmbot db upgrade`")

    if current is not None:
        async def reminders() -> tuple[dict, list, list]:
            database = open_database(target, upgrade=False)
            try:
                async with database.sessions() as session:
                    return (await queue.counts(session, moment, timedelta(seconds=60)),
                            await queue.recent_errors(session), await queue.unreachable_members(session))
            finally:
                await database.close()

        counts, reasons, unreachable = asyncio.run(reminders())
        summary = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items())
        (warn if counts["overdue"] or counts["failed"] else ok)(f"reminders: {summary}")
        if counts["overdue"]:
            warn("overdue reminders are waiting: is `crmbot run` running, with an adapter for their members?")
        for reason, n in reasons:
            warn(f"  {n} failed: {reason}")
        if unreachable:
            warn(f"members no chat can reach (their reminders wait): {', '.join(unreachable[:10])}")

    if settings.telegram_token is not None:
        ok("telegram: token set, " + ("webhook " + settings.telegram_webhook_url if settings.telegram_webhook_url else "long polling"))
        if settings.telegram_webhook_url and settings.telegram_webhook_secret is None:
            warn("telegram: webhook URL without CRMBOT_TELEGRAM_WEBHOOK_SECRET: anyone who finds the URL can post updates")
    else:
        out.print("- telegram: not configured (CRMBOT_TELEGRAM_TOKEN)")
    if settings.slack_bot_token is not None:
        ok("slack: bot token set, " + ("socket mode" if settings.slack_app_token is not None else "HTTP events"))
        if settings.slack_app_token is None and settings.slack_signing_secret is None:
            bad("slack: HTTP events need CRMBOT_SLACK_SIGNING_SECRET to verify requests")
    else:
        out.print("- slack: not configured (CRMBOT_SLACK_BOT_TOKEN)")
    out.print(f"- reminder poll interval: {settings.reminder_poll_seconds:g} s")
    if errors:
        raise typer.Exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
