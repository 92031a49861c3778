"""Who may use crmbot: invites, members, Slack workspaces."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Optional

import typer

from crmbot import app as app_module
from crmbot.cli.common import (
    DbOption,
    TeamOption,
    check_role,
    cli,
    fail,
    member_cli,
    run_app,
    slack_cli,
    team_named,
    team_or_founded,
)
from crmbot.store import teams


@cli.command()
def invite(
    role: Annotated[str, typer.Option("--role", help="rep, manager or admin.")] = "rep",
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Create an invite code (and a Telegram link when a token is configured)."""
    check_role(role)

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            made = await teams.create_invite(session, team_row.id, role, datetime.now(timezone.utc))
        print(f"Invite for {team_row.name!r} as {role}: {made.code}")
        print(f"In Telegram send: /start {made.code}")
        link = await _telegram_link(app, made.code)
        if link:
            print(link)

    run_app(db, main)


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
    check_role(role)

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_or_founded(session, team, now)
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

    run_app(db, main)


@member_cli.command("list")
def member_list(db: DbOption = None, team: TeamOption = None) -> None:
    """List the team's members."""

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session:
            team_row = await team_named(session, team)
            for member in await teams.members_of(session, team_row.id):
                print(f"{member.id}\t{member.name}\t{member.role}\t{member.locale}\t{member.timezone}")

    run_app(db, main)


@slack_cli.command("bind")
def slack_bind(
    workspace: Annotated[str, typer.Option("--workspace", help="Slack workspace (team) id, e.g. T0123ABCD.")],
    team: TeamOption = None,
    default_role: Annotated[str, typer.Option("--default-role", help="Role of workspace users who join on first use.")] = "rep",
    invite_only: Annotated[bool, typer.Option("--invite-only/--open", help="Admit only users with an invite.")] = False,
    db: DbOption = None,
) -> None:
    """Bind a Slack workspace to a team: its users become members on first use (unless invite-only)."""
    check_role(default_role, "--default-role")
    if not workspace.strip():
        fail("--workspace must be a Slack workspace id such as T0123ABCD")

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_or_founded(session, team, now)
            try:
                await teams.bind_workspace(session, team_row, workspace.strip(), default_role=default_role, invite_only=invite_only)
            except ValueError as error:
                fail(str(error))
        how = "by invite only" if invite_only else f"on first use as {default_role}"
        print(f"Slack workspace {workspace.strip()} is bound to {team_row.name!r}; its users join {how}.")

    run_app(db, main)
