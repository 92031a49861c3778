"""The terminal chat and the demo."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from crmbot import app as app_module
from crmbot.adapters.console import ConsoleChat, ConsoleSender
from crmbot.cli.common import (
    DbOption,
    NowOption,
    TeamOption,
    cli,
    fail,
    parse_now,
    run_app,
)
from crmbot.store import teams


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

    def show_unprompted(text: str) -> None:
        """A reminder arriving while the prompt waits: print over the prompt, then redraw it."""
        if interactive and text:
            print("\r", end="")
            show(text)
            print("you> ", end="", flush=True)
        else:
            show(text)

    if interactive:
        out.print(f"[bold]crmbot[/bold] — you are {user}. Type 'help', or Ctrl-D to leave.")
    # announcements (a deal won, with `/notify here` said in this chat) follow the answer here;
    # those for a Telegram or Slack chat are kept in the database (their adapter runs in
    # `crmbot run`), whose reminder loop sends them
    app.senders["console"] = ConsoleSender(show, chat)
    # due follow-ups are printed into the chat, by the same loop `crmbot run` uses
    loop_task, stop, reminder_loop = None, asyncio.Event(), None
    if reminders if reminders is not None else interactive:
        from crmbot.reminders.loop import ReminderLoop

        sender = ConsoleSender(show_unprompted, chat)
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
            outcome = await chat.exchange(line)
            show(chat.show(outcome.replies))
            await app.announce(outcome.announcements)
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

    async def main(app: app_module.App) -> None:
        await _chat(app, user, team, moment, reminders)

    run_app(db, main, moment)


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

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session, session.begin():
            if not await teams.all_teams(session):
                await sample.seed(session, moment or datetime.now(timezone.utc))
        print(f"Demo data in {db}: team {sample.TEAM!r}, you are Alice (manager). Try: 'find novak', 'called jana, wants a quote by friday', 'summary'.")
        await _chat(app, "Alice", sample.TEAM, moment)

    run_app(db, main, moment)
