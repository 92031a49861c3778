"""Who may use crmbot: invites, members, Slack workspaces."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Optional

import typer
from rich.table import Column, Table

from crmbot import app as app_module
from crmbot import membership
from crmbot.cli.common import (
    DbOption,
    FormatOption,
    TeamOption,
    cells,
    check_format,
    check_role,
    cli,
    cli_actor,
    fail,
    member_cli,
    run_app,
    show,
    slack_cli,
    team_named,
    team_or_founded,
)
from crmbot.store import changes, models, teams
from crmbot.store.audit import Actor


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
    role: Annotated[Optional[str], typer.Option("--role", help="rep, manager or admin (a new member: rep; a known one keeps theirs).")] = None,
    telegram: Annotated[Optional[str], typer.Option("--telegram", help="Telegram user id.")] = None,
    slack: Annotated[Optional[str], typer.Option("--slack", help="Slack user id (with --workspace).")] = None,
    workspace: Annotated[str, typer.Option("--workspace", help="Slack workspace (team) id.")] = "",
    locale: Annotated[str, typer.Option("--locale", help="Language code: en, cs, sl, zh, cy or az.")] = "en",
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone, e.g. Europe/Prague.")] = "UTC",
    email: Annotated[Optional[str], typer.Option("--email", help="The address they send mail from: mail they copy to crmbot is logged as theirs.")] = None,
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Add a member (or take one back, or change their role) and bind their platform accounts."""
    if role is not None:
        check_role(role)
    address = email_address(email) if email is not None else None

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_or_founded(session, team, now)
            actor = cli_actor(team_row.id)
            member = await teams.member_by_name(session, team_row.id, name)
            if member is None:
                member = await teams.create_member(session, team_row.id, name, now, role=role or "rep", locale=locale, timezone=tz)
            else:
                await membership.rejoin(session, actor, member, now)
                if role is not None:
                    await _set_role(session, actor, member, role, now)
            if address is not None and member.email != address:
                holder = next((m for m in await teams.members_with_email(session, address) if m.team_id == team_row.id), None)
                if holder is not None and holder.id != member.id:
                    fail(f"{address} is already {holder.name}'s: mail from it can be only one member's")
                await changes.update(session, actor, now, member, email=address)
            if telegram:
                await teams.bind_identity(session, member, "telegram", telegram, now, chat_id=telegram)
            if slack:
                await teams.bind_identity(session, member, "slack", slack, now, workspace=workspace)
        print(f"{member.name} is {member.role} in {team_row.name!r}.")

    run_app(db, main)


@member_cli.command("list")
def member_list(
    format: FormatOption = "table",
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """List the team's members, their roles and platform accounts."""
    check_format(format)

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session:
            team_row = await team_named(session, team)
            members = await teams.members_of(session, team_row.id)
            accounts = await teams.identities_of(session, team_row.id)
        rows = [member_json(m, accounts.get(m.id, [])) for m in members]
        # a narrow terminal folds a time zone or an address onto the next line rather than cut it short
        table = Table("ID", "Name", "Role", "Language", Column("Time zone", overflow="fold"), "Active",
                      Column("E-mail", overflow="fold"), "Accounts", title=team_row.name)
        for row in rows:
            table.add_row(*cells(row["id"], row["name"], row["role"], row["locale"], row["timezone"],
                                 "yes" if row["active"] else "no", row["email"] or "—",
                                 ", ".join(f"{i['platform']} {i['user_id']}" for i in row["identities"]) or "—"))
        show(format, rows, table)

    run_app(db, main)


def email_address(typed: str) -> str:
    """An address as mail carries it, lower case; a clear refusal for anything else."""
    from email.utils import parseaddr

    address = parseaddr(typed)[1].strip().lower()
    if "@" not in address or address.startswith("@") or address.endswith("@") or " " in address:
        fail(f"--email must be an e-mail address, not {typed!r}")
    return address


def member_json(member: models.Member, accounts: list[models.Identity]) -> dict:
    return {
        "id": member.id, "name": member.name, "role": member.role, "locale": member.locale,
        "timezone": member.timezone, "active": member.active, "email": member.email,
        "identities": [{"platform": i.platform, "user_id": i.external_id, "workspace": i.workspace or None}
                       for i in accounts],
    }


@member_cli.command("remove")
def member_remove(
    name: Annotated[str, typer.Argument(help="The member's name.")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Take a member out of the team: they can no longer use crmbot; their customers and history stay."""

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            member = await _member(session, team_row.id, name)
            try:
                await membership.remove(session, cli_actor(team_row.id), member, now)
            except membership.Refused as refused:
                fail(str(refused))
        print(f"{member.name} no longer has access to {team_row.name!r} (`crmbot member add {member.name!r}` takes them back).")

    run_app(db, main)


@member_cli.command("role")
def member_role(
    name: Annotated[str, typer.Argument(help="The member's name.")],
    role: Annotated[str, typer.Argument(help="rep, manager or admin.")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Change a member's role."""
    check_role(role, "ROLE")

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            member = await _member(session, team_row.id, name)
            await _set_role(session, cli_actor(team_row.id), member, role, now)
        print(f"{member.name} is now {role} in {team_row.name!r}.")

    run_app(db, main)


async def _member(session, team_id: int, name: str) -> models.Member:
    member = await teams.member_by_name(session, team_id, name)
    if member is None:
        fail(f"no member named {name!r} (see `crmbot member list`)")
    return member


async def _set_role(session, actor: Actor, member: models.Member, role: str, now: datetime) -> None:
    try:
        await membership.set_role(session, actor, member, role, now)
    except membership.Refused as refused:
        fail(str(refused))


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


@cli.command("calendar-url")
def calendar_url(
    name: Annotated[str, typer.Argument(help="The member whose follow-ups the calendar shows.")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Stop the member's calendar address working.")] = False,
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """A member's private calendar address (their follow-ups, always current) for their phone.
    Each call makes a new address and stops the old one."""
    from crmbot import calendars

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        base = app.settings.public_url or f"http://{app.settings.http_host}:{app.settings.http_port}"
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            member = await _member(session, team_row.id, name)
            if revoke:
                await calendars.revoke(session, cli_actor(team_row.id), member, now)
            else:
                secret = await calendars.issue(session, cli_actor(team_row.id), member, now)
        if revoke:
            print(f"{member.name}'s calendar address no longer works.")
            return
        print(calendars.address(base, secret))
        print(f"Subscribe to it in {member.name}'s calendar app; keep it private (anyone with it sees their follow-ups)."
              + ("" if app.settings.public_url else " Set CRMBOT_PUBLIC_URL to the address the world reaches crmbot at."))

    run_app(db, main)
