"""Teams, members, identities and invites."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models
from crmbot.store.db import flushed_connection

DEFAULT_TEAM = "My team"


async def bump_customer_rev(session: AsyncSession, team_id: int) -> int:
    """Take the team's next customer revision. The row lock this UPDATE holds until commit
    orders concurrent customer writes, so the fuzzy index never skips a revision."""
    result = await session.execute(
        update(models.Team)
        .where(models.Team.id == team_id)
        .values(customer_rev=models.Team.customer_rev + 1)
        .returning(models.Team.customer_rev)
    )
    # forgotten, not moved on: a savepoint rolled back (an upload's trial import) would take the
    # database's revision back under a kept one, and a search would then skip the rows written
    # at it; the next search reads it afresh
    session.info.pop(_KNOWN_REV, None)
    return result.scalar_one()


_CUSTOMER_REV = select(models.Team.customer_rev).where(models.Team.id == bindparam("team"))
_KNOWN_REV = "crmbot.customer_rev"  # session.info: (transaction, team id, its customer revision)


def known_customer_rev(session: AsyncSession, team: models.Team) -> None:
    """Say that the team's row was just read inside a SQLite transaction that already writes
    (a message's, after its rate-limit upsert): the file is locked to other writers and the
    transaction reads one snapshot, so the revision read with it stays the team's until this
    transaction bumps it (`bump_customer_rev` forgets it). Its searches then skip their own
    read of it. On PostgreSQL, where each statement sees the latest commits, nothing is kept."""
    if session.bind.dialect.name == "sqlite":
        session.info[_KNOWN_REV] = (session.sync_session.get_transaction(), team.id, team.customer_rev)


async def customer_rev(session: AsyncSession, team_id: int) -> int:
    """The team's customer revision. Every search reads it first, so on the session's connection
    (half the CPU of an ORM query); pending changes are flushed first, as the ORM would. Not
    read again within the transaction it is known in (`known_customer_rev`)."""
    known = session.info.get(_KNOWN_REV)
    if known is not None and known[1] == team_id and known[0] is session.sync_session.get_transaction():
        return known[2] or 0
    return (await (await flushed_connection(session)).execute(_CUSTOMER_REV, {"team": team_id})).scalar() or 0


async def team_by_name(session: AsyncSession, name: str) -> models.Team | None:
    return await session.scalar(select(models.Team).where(models.Team.name == name))


async def all_teams(session: AsyncSession) -> list[models.Team]:
    return list(await session.scalars(select(models.Team).order_by(models.Team.id)))


async def create_team(session: AsyncSession, name: str, now: datetime) -> models.Team:
    team = models.Team(name=name, created_at=now, customer_rev=0, settings={})
    session.add(team)
    await session.flush()
    return team


async def team_for_workspace(session: AsyncSession, workspace: str) -> models.Team | None:
    """The team a Slack workspace is bound to (team.settings["slack"]["workspace"])."""
    for team in await all_teams(session):
        if ((team.settings or {}).get("slack") or {}).get("workspace") == workspace:
            return team
    return None


async def bind_workspace(session: AsyncSession, team: models.Team, workspace: str, *, default_role: str = "rep", invite_only: bool = False) -> None:
    if default_role not in models.ROLES:
        raise ValueError(f"unknown role {default_role!r}")
    other = await team_for_workspace(session, workspace)
    if other is not None and other.id != team.id:
        raise ValueError(f"workspace {workspace} is already bound to team {other.name!r}")
    team.settings = {**(team.settings or {}), "slack": {"workspace": workspace, "default_role": default_role, "invite_only": invite_only}}
    await session.flush()


async def the_only_team(session: AsyncSession) -> models.Team | None:
    """The team a shell command means when none is named: only defined if there is one."""
    teams = await all_teams(session)
    return teams[0] if len(teams) == 1 else None


async def member_by_name(session: AsyncSession, team_id: int, name: str) -> models.Member | None:
    return await session.scalar(
        select(models.Member).where(
            models.Member.team_id == team_id, func.lower(models.Member.name) == name.lower()
        )
    )


async def members_of(session: AsyncSession, team_id: int) -> list[models.Member]:
    return list(
        await session.scalars(
            select(models.Member).where(models.Member.team_id == team_id).order_by(models.Member.id)
        )
    )


async def members_with_email(session: AsyncSession, address: str) -> list[models.Member]:
    """The active members (of any team) who send mail from `address`."""
    return list(await session.scalars(
        select(models.Member).where(models.Member.email == address.lower(), models.Member.active).order_by(models.Member.id)))


async def identities_of_members(session: AsyncSession, member_ids: Collection[int]) -> dict[int, list[models.Identity]]:
    """The platform accounts with a chat of each of these members, by member id."""
    found: dict[int, list[models.Identity]] = {}
    rows = await session.scalars(select(models.Identity).where(
        models.Identity.member_id.in_(list(member_ids)), models.Identity.chat_id.is_not(None)).order_by(models.Identity.id))
    for row in rows:
        found.setdefault(row.member_id, []).append(row)
    return found


async def identities_of(session: AsyncSession, team_id: int) -> dict[int, list[models.Identity]]:
    """Each member's platform accounts, by member id."""
    found: dict[int, list[models.Identity]] = {}
    rows = await session.scalars(
        select(models.Identity).where(models.Identity.team_id == team_id).order_by(models.Identity.id))
    for row in rows:
        found.setdefault(row.member_id, []).append(row)
    return found


async def create_member(
    session: AsyncSession,
    team_id: int,
    name: str,
    now: datetime,
    *,
    role: str = "rep",
    locale: str = "en",
    timezone: str = "UTC",
) -> models.Member:
    if role not in models.ROLES:
        raise ValueError(f"unknown role {role!r}")
    member = models.Member(
        team_id=team_id, name=name, role=role, locale=locale, timezone=timezone, created_at=now,
        digest_time="08:30", active=True,
    )
    session.add(member)
    await session.flush()
    return member


def identity_is(platform: str, external_id: str, workspace: str = "") -> tuple:
    """The conditions naming one platform identity."""
    return (models.Identity.platform == platform, models.Identity.workspace == workspace,
            models.Identity.external_id == external_id)


async def identity(
    session: AsyncSession, platform: str, external_id: str, workspace: str = ""
) -> models.Identity | None:
    return await session.scalar(select(models.Identity).where(*identity_is(platform, external_id, workspace)))


async def bind_identity(
    session: AsyncSession,
    member: models.Member,
    platform: str,
    external_id: str,
    now: datetime,
    *,
    workspace: str = "",
    chat_id: str | None = None,
) -> models.Identity:
    found = await identity(session, platform, external_id, workspace)
    if found is None:
        found = models.Identity(
            team_id=member.team_id, member_id=member.id, platform=platform, workspace=workspace,
            external_id=external_id, chat_id=chat_id, created_at=now,
        )
        session.add(found)
    else:
        found.team_id, found.member_id = member.team_id, member.id
        found.chat_id = chat_id or found.chat_id
    await session.flush()
    return found


async def create_invite(
    session: AsyncSession, team_id: int, role: str, now: datetime, *, member_id: int | None = None,
    valid_for: timedelta = timedelta(days=7),
) -> models.Invite:
    if role not in models.ROLES:
        raise ValueError(f"unknown role {role!r}")
    invite = models.Invite(
        team_id=team_id, code=secrets.token_urlsafe(12), role=role, member_id=member_id,
        created_at=now, expires_at=now + valid_for,
    )
    session.add(invite)
    await session.flush()
    return invite


async def claim_invite(session: AsyncSession, code: str, now: datetime) -> models.Invite | None:
    """Spend a valid invite, or None. The conditional UPDATE is the claim: of two people sending
    one code at once on two workers, the second UPDATE finds `used_at` set and matches no row."""
    return await session.scalar(
        update(models.Invite)
        .where(models.Invite.code == code, models.Invite.used_at.is_(None), models.Invite.expires_at > now)
        .values(used_at=now)
        .returning(models.Invite)
    )
