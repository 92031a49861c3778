"""Running and looking after an installation: db, run, doctor."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crmbot import app as app_module
from crmbot.cli.common import (
    DbOption,
    NowOption,
    cli,
    db_cli,
    err,
    fail,
    parse_now,
    run_app,
)
from crmbot.config import Settings


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
    email: Annotated[bool, typer.Option("--email", help="Take mail members copy or forward to crmbot, over SMTP on CRMBOT_SMTP_HOST:CRMBOT_SMTP_PORT (default 127.0.0.1:2525).")] = False,
    db: DbOption = None,
) -> None:
    """Serve the bot on Telegram, Slack and/or e-mail, with the reminder loop, until Ctrl-C."""
    import logging

    from crmbot import logs
    from crmbot.server import serve

    if not (telegram or slack or email):
        fail("choose --telegram, --slack and/or --email")
    settings = Settings()
    secrets = [v.get_secret_value() for v in (settings.telegram_token, settings.telegram_webhook_secret, settings.slack_bot_token,
                                              settings.slack_signing_secret, settings.slack_app_token) if v is not None]
    logs.setup(logging.INFO, secrets)  # tokens, e-mails and phone numbers never reach the log
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Bot API call otherwise

    async def main(app: app_module.App) -> None:
        await serve(app, telegram=telegram, slack=slack, email=email)

    run_app(db, main)


@cli.command()
def doctor(db: DbOption = None, now: NowOption = None) -> None:
    """Check the installation: database, schema, reminders and adapters (secrets are never shown)."""
    from datetime import timedelta

    from sqlalchemy import create_engine, text

    from crmbot.reminders import outbox, queue
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

    head = migrate.head()
    current = migrate.current(url)
    if current == head:
        ok(f"schema at revision {current}")
    elif current is None:
        bad("schema missing: run `crmbot db upgrade`")
    else:
        warn(f"schema at revision {current}, this crmbot expects {head}: run `crmbot db upgrade`")

    if current is not None:
        async def reminders() -> tuple[dict, list, list, tuple]:
            database = open_database(target, upgrade=False)
            try:
                async with database.sessions() as session:
                    return (await queue.counts(session, moment, timedelta(seconds=60)), await queue.ended(session),
                            await queue.unreachable_members(session), await outbox.counts(session))
            finally:
                await database.close()

        counts, ended, unreachable, (kept, kept_since) = asyncio.run(reminders())
        summary = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items())
        (warn if counts["overdue"] or counts["failed"] else ok)(f"reminders: {summary}")
        if counts["overdue"]:
            warn("overdue reminders are waiting: is `crmbot run` running, with an adapter for their members?")
        for name, row in ended:
            warn(f"  {name}'s reminder “{row.note[:60]}” (due {row.due_at:%Y-%m-%d %H:%M} UTC) ended undelivered: {row.last_error}")
        if unreachable:
            warn(f"members no chat can reach (their reminders wait): {', '.join(unreachable[:10])}")
        if kept:
            warn(f"{kept} repl{'y' if kept == 1 else 'ies'} kept for a platform that could not take them, the oldest "
                 f"since {kept_since:%Y-%m-%d %H:%M} UTC: `crmbot run` sends them when the platform is back")

    if settings.telegram_token is not None:
        ok("telegram: token set, " + ("webhook " + settings.telegram_webhook_url if settings.telegram_webhook_url else "long polling"))
        if settings.telegram_webhook_url and settings.telegram_webhook_secret is None:
            warn("telegram: webhook URL without CRMBOT_TELEGRAM_WEBHOOK_SECRET: each start makes up a random secret, "
                 "so several workers refuse each other's updates; set one")
    else:
        out.print("- telegram: not configured (CRMBOT_TELEGRAM_TOKEN)")
    if settings.slack_bot_token is not None:
        ok("slack: bot token set, " + ("socket mode" if settings.slack_app_token is not None else "HTTP events"))
        if settings.slack_app_token is None and settings.slack_signing_secret is None:
            bad("slack: HTTP events need CRMBOT_SLACK_SIGNING_SECRET to verify requests")
    else:
        out.print("- slack: not configured (CRMBOT_SLACK_BOT_TOKEN)")
    out.print(f"- reminder poll interval: {settings.reminder_poll_seconds:g} s, lease {settings.reminder_lease_seconds:g} s, "
              f"send timeout {settings.send_timeout_seconds:g} s")
    if errors:
        raise typer.Exit(1)
