"""The one place that wires store, bot and adapters together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crmbot.bot import Bot, RateLimit
from crmbot.clock import Clock, system_clock
from crmbot.config import Settings
from crmbot.i18n import I18n
from crmbot.store import teams
from crmbot.store.db import Database, open_database


@dataclass
class App:
    settings: Settings
    db: Database
    i18n: I18n
    bot: Bot

    async def close(self) -> None:
        await self.db.close()


def build(settings: Settings | None = None, *, db: str | None = None, clock: Clock = system_clock) -> App:
    settings = settings or Settings()
    database = open_database(db or settings.database)
    i18n = I18n()
    bot = Bot(database, i18n, clock=clock, rate_limit=RateLimit(settings.rate_limit_per_minute))
    return App(settings, database, i18n, bot)


class NotAMember(Exception):
    """The console user is not a member of the team and the team already exists."""


async def console_member(app: App, name: str, now: datetime, *, team_name: str | None = None) -> str:
    """Make sure `name` can use the console: on an empty database the first user founds the
    default team as its admin; otherwise they must already be a member. Returns the team name."""
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, team_name) if team_name else await teams.the_only_team(session)
        if team is None:
            if await teams.all_teams(session):
                raise NotAMember("several teams: name one with --team")
            team = await teams.create_team(session, team_name or teams.DEFAULT_TEAM, now)
        member = await teams.member_by_name(session, team.id, name)
        if member is None:
            if await teams.members_of(session, team.id):
                raise NotAMember(f"{name!r} is not a member of {team.name!r}")
            member = await teams.create_member(session, team.id, name, now, role="admin")
        await teams.bind_identity(session, member, "console", name, now, chat_id=name)
        return team.name
