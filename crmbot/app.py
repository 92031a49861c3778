"""The one place that wires store, bot and adapters together."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crmbot.bot import Bot, RateLimit
from crmbot.clock import Clock, system_clock
from crmbot.config import Settings
from crmbot.i18n import I18n
from crmbot.messages import ChatRef, DeliveryFailed, Outgoing, Reply, Sender
from crmbot.reminders import outbox, recovery
from crmbot.store import teams
from crmbot.store.db import Database, open_database

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db: Database
    i18n: I18n
    bot: Bot
    # the adapters running in this process, by name: what reminders and announcements go through
    senders: dict[str, Sender] = field(default_factory=dict)
    # adapters whose platform failed a send here since it last took one: the next send it takes
    # tells that it is back, and what waits out a backoff for it goes now (reminders.recovery)
    troubled: set[str] = field(default_factory=set)

    async def deliver(self, chat: ChatRef, replies: Sequence[Reply], send: Callable[[], Awaitable[None]] | None = None,
                      *, keep_in: ChatRef | None = None) -> None:
        """Say `replies` in `chat`, after the change they answer was committed: through `send`
        (an adapter's own way of answering, raising DeliveryFailed) or the chat's Sender. They go
        behind any replies still kept for this chat; what the platform cannot take now (an
        outage, a rate limit, a chat whose adapter runs in another process) is kept — for
        `keep_in` when given (a private answer shown in a channel is kept for the member's DM) —
        and the reminder loop of a process that has the adapter sends it when the platform is
        back. Never raises: a member's change must not be undone by a platform's trouble."""
        if not replies:
            return
        sending, behind = False, None
        try:
            if await outbox.waiting(self.db, chat):
                # kept behind them; their backoff ends, so the oldest is tried now in its stead
                behind = chat
                raise DeliveryFailed("earlier replies to this chat are still waiting")
            if send is not None:
                sending = True
                await send()
            elif (sender := self.senders.get(chat.adapter)) is not None:
                sending = True
                await sender.send(chat, list(replies))
            else:
                raise DeliveryFailed(f"no {chat.adapter} adapter in this process")
        except DeliveryFailed as failure:
            if failure.permanent:
                log.warning("a %s chat refused a reply for good: %s", chat.adapter, failure)
                return
            if sending:
                self.troubled.add(chat.adapter)
            if await outbox.keep(self.db, keep_in or chat, replies, self.bot.clock(), behind=behind):
                log.info("a reply to a %s chat is kept to be sent later: %s", chat.adapter, failure)
        except Exception:
            log.exception("a reply to a %s chat failed", chat.adapter)
        else:
            if chat.adapter in self.troubled:  # the platform is back
                self.troubled.discard(chat.adapter)
                await recovery.platform_back(self.db, chat.adapter, self.bot.clock())

    async def announce(self, announcements: Iterable[Outgoing]) -> None:
        """Deliver what a message announced to other chats (see `deliver`)."""
        for outgoing in announcements:
            await self.deliver(outgoing.chat, outgoing.replies)

    async def close(self) -> None:
        await self.bot.index.close()  # a snapshot being kept finishes before the engine goes
        await self.db.close()


def build(settings: Settings | None = None, *, db: str | None = None, clock: Clock = system_clock) -> App:
    settings = settings or Settings()
    database = open_database(db or settings.database)
    i18n = I18n.packaged()
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
        if not member.active:
            raise NotAMember(f"{name!r} is not a member of {team.name!r} any more")
        await teams.bind_identity(session, member, "console", name, now, chat_id=name)
        return team.name
