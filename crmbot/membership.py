"""Who is a member, and how a stranger becomes one: the one place these rules live.

A known platform identity is a member. A user of a Slack workspace bound to a team joins on first
use with the binding's role, unless the team admits by invite only. Anyone else joins only with
an invite code (`/start CODE`); an invite admits exactly one person, because spending it is a
conditional UPDATE (`teams.claim_invite`), never a read followed by a write.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.i18n import I18n
from crmbot.messages import ChatRef, Incoming, UserRef
from crmbot.store import changes, models, prompts, teams
from crmbot.store.audit import Actor

JOIN_COMMANDS = ("/start", "/join")


def known_zone(name: str | None) -> str:
    """The platform's time zone when it names a real one, else UTC."""
    try:
        return name if name and ZoneInfo(name) else "UTC"
    except (ValueError, ZoneInfoNotFoundError):
        return "UTC"


async def member_for(session: AsyncSession, user: UserRef, chat: ChatRef | None = None) -> models.Member | None:
    """The active member behind a platform identity. Writing from their DM (the chat id is the
    user id) records that chat, so reminders know where to go."""
    return (await member_and_team(session, user, chat))[0]


async def member_and_team(session: AsyncSession, user: UserRef,
                          chat: ChatRef | None = None) -> tuple[models.Member | None, models.Team | None]:
    """`member_for` and the member's team, read in one round trip (a message needs both)."""
    return (await sender(session, user, chat))[:2]


def _sender(with_question: bool):
    I, M, T = models.Identity, models.Member, models.Team
    columns = (I, M, T, prompts.open_since(M.id)) if with_question else (I, M, T)
    return (select(*columns).join(M, M.id == I.member_id).join(T, T.id == M.team_id)
            .where(I.platform == bindparam("platform"), I.workspace == bindparam("workspace"),
                   I.external_id == bindparam("external_id")))


# built once: every message runs it, and building it cost more than running it
_SENDER = _sender(False)
_SENDER_AND_QUESTION = _sender(True)


async def sender(session: AsyncSession, user: UserRef, chat: ChatRef | None = None, *,
                 question: bool = False) -> tuple[models.Member | None, models.Team | None, bool]:
    """The active member behind a platform identity, their team and (with `question`) whether
    a question asked of them is still open (`store.prompts`), in one round trip. Writing from
    their DM (the chat id is the user id) records that chat, so reminders know where to go."""
    row = (await session.execute(_SENDER_AND_QUESTION if question else _SENDER, {
        "platform": user.adapter, "workspace": user.workspace or "", "external_id": user.user_id})).first()
    if row is None:
        return None, None, False
    found, member, team = row[:3]
    if not member.active:
        return None, None, False
    if chat is not None and chat.chat_id and found.chat_id is None and chat.chat_id == user.user_id:
        found.chat_id = chat.chat_id
    return member, team, question and row[3] is not None


async def open_team(session: AsyncSession, workspace: str | None) -> models.Team | None:
    """The team whose users join on first use: the one this Slack workspace is bound to
    (`crmbot slack bind`), unless it admits by invite only."""
    team = await teams.team_for_workspace(session, workspace) if workspace else None
    if team is None or team.settings["slack"].get("invite_only"):
        return None
    return team


async def workspace_join(session: AsyncSession, incoming: Incoming, now: datetime, i18n: I18n) -> models.Member | None:
    """A first-time user of an open workspace, made a member with the binding's default role."""
    team = await open_team(session, incoming.user.workspace)
    if team is None:
        return None
    role = team.settings["slack"].get("default_role", "rep")
    return await _join(session, incoming, team.id, role, None, now, i18n)


def invite_code(text: str) -> str | None:
    """The code of a `/start CODE` or `/join CODE` message (`/start@crmbot CODE` in Telegram groups)."""
    head, _, code = text.strip().partition(" ")
    return code.strip() if head.split("@")[0].lower() in JOIN_COMMANDS and code.strip() else None


async def join_with_invite(session: AsyncSession, incoming: Incoming, now: datetime, i18n: I18n) -> models.Member | None:
    """A stranger sending a valid invite code becomes the member it admits; anyone else: None."""
    code = invite_code(incoming.text)
    invite = await teams.claim_invite(session, code, now) if code else None
    if invite is None:
        return None
    return await _join(session, incoming, invite.team_id, invite.role, invite.member_id, now, i18n)


async def _join(session: AsyncSession, incoming: Incoming, team_id: int, role: str, member_id: int | None,
                now: datetime, i18n: I18n) -> models.Member:
    """Bind the user's identity to the invited member, or to a new one named after them."""
    user = incoming.user
    member = await session.get(models.Member, member_id) if member_id else None
    if member is None:
        name = user.display_name or f"{user.adapter}-{user.user_id}"
        if await teams.member_by_name(session, team_id, name) is not None:
            name = f"{name} ({user.adapter} {user.user_id})"
        member = await teams.create_member(session, team_id, name, now, role=role,
                                           locale=i18n.pick(user.language), timezone=known_zone(user.timezone))
    chat = incoming.chat.chat_id if incoming.chat.chat_id == user.user_id else None
    await teams.bind_identity(session, member, user.adapter, user.user_id, now, workspace=user.workspace or "", chat_id=chat)
    return member


# -- a member's role and leaving ----------------------------------------------------------------


class Refused(Exception):
    """A membership change that would leave the team without anyone able to run it."""


async def _last_admin(session: AsyncSession, member: models.Member) -> bool:
    admins = [m for m in await teams.members_of(session, member.team_id) if m.active and m.role == "admin"]
    return admins == [member]


async def set_role(session: AsyncSession, actor: Actor, member: models.Member, role: str, now: datetime) -> None:
    """Give a member another role (audited, so undoable); the team's last admin keeps theirs."""
    if role not in models.ROLES:
        raise ValueError(f"unknown role {role!r}")
    if member.role == "admin" and role != "admin" and await _last_admin(session, member):
        raise Refused(f"{member.name} is the team's only admin: make someone else admin first")
    if member.role != role:
        await changes.update(session, actor, now, member, role=role)


async def remove(session: AsyncSession, actor: Actor, member: models.Member, now: datetime) -> None:
    """A member leaves: they can no longer use crmbot and get no reminders; their customers,
    deals and history stay with the team (audited; `member add` takes them back)."""
    if member.role == "admin" and await _last_admin(session, member):
        raise Refused(f"{member.name} is the team's only admin: make someone else admin first")
    if member.active:
        await changes.update(session, actor, now, member, active=False)


async def rejoin(session: AsyncSession, actor: Actor, member: models.Member, now: datetime) -> None:
    if not member.active:
        await changes.update(session, actor, now, member, active=True)
