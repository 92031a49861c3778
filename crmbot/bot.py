"""The core: `Bot.handle(incoming) -> list[Reply]`.

In front of the handlers stand the steps every message passes: size and rate limits,
de-duplication of platform redeliveries, membership (or onboarding with an invite), then
parse, role check and the handler — all in one transaction, committed once. Any failure
rolls the whole message back and becomes a friendly reply; nothing half-written remains.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.clock import Clock, system_clock
from crmbot.i18n import I18n
from crmbot.intents import build_router
from crmbot.intents import slots as slot_json
from crmbot.intents.context import Context
from crmbot.intents.parse import MAX_TEXT, Intent, Parser
from crmbot.intents.router import Router, allowed
from crmbot.messages import ChatRef, DeliveryFailed, Incoming, Reply, Sender
from crmbot.store import models, records, teams
from crmbot.store.audit import Actor
from crmbot.store.db import Database
from crmbot.store.search import CustomerIndex

log = logging.getLogger(__name__)

@dataclass
class RateLimit:
    """A sliding window per member: a flood gets a polite slow-down, not a crash."""

    per_minute: int = 30
    _seen: dict[str, deque] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        window = self._seen.setdefault(key, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        return True


def well_typed(incoming: Incoming) -> bool:
    """Every field the core reads is the type it is declared as."""
    texts = (incoming.chat.adapter, incoming.chat.chat_id, incoming.user.adapter, incoming.user.user_id, incoming.text)
    optional = (incoming.chat.thread, incoming.user.workspace, incoming.user.language, incoming.user.timezone,
                incoming.action, incoming.message_id)
    return (all(isinstance(v, str) for v in texts) and all(v is None or isinstance(v, str) for v in optional)
            and isinstance(incoming.user.display_name, str))


def known_zone(name: str | None) -> str:
    """The platform's time zone when it names a real one, else UTC."""
    try:
        return name if name and ZoneInfo(name) else "UTC"
    except (ValueError, ZoneInfoNotFoundError):
        return "UTC"


class Bot:
    def __init__(self, db: Database, i18n: I18n | None = None, *, clock: Clock = system_clock,
                 router: Router | None = None, rate_limit: RateLimit | None = None) -> None:
        self.db = db
        self.i18n = i18n or I18n()
        self.clock = clock
        self.router = router or build_router()
        self.parser = Parser(self.i18n)
        self.index = CustomerIndex()
        self.rate_limit = rate_limit or RateLimit()
        # adapters register here to deliver announcements to their chats
        self.senders: dict[str, Sender] = {}

    def refusal(self, incoming: Incoming, key: str) -> list[Reply]:
        code = self.i18n.pick(incoming.user.language)
        return [Reply(self.i18n.render(code, key))]

    async def handle(self, incoming: Incoming) -> list[Reply]:
        if not incoming.addressed:
            return []
        if not well_typed(incoming):
            # no platform sends this; an adapter let a forged or mangled payload through
            log.warning("a malformed %r message was refused", incoming.chat.adapter)
            return []
        if len(incoming.text) > MAX_TEXT * 4:
            return self.refusal(incoming, "too_long")
        now = self.clock()
        if not self.rate_limit.allow(f"{incoming.user.adapter}:{incoming.user.user_id}", now.timestamp()):
            return self.refusal(incoming, "slow_down")
        outbox: list[tuple[ChatRef, Reply]] = []
        try:
            async with self.db.sessions() as session:
                async with session.begin():
                    replies = await self._handle(session, incoming, now, outbox)
            await self._deliver(outbox)
            return replies
        except IntegrityError:
            # two workers took the same redelivered update at once: the other one handled it
            if incoming.message_id:
                log.info("duplicate %s message %s ignored", incoming.chat.adapter, incoming.message_id)
                return []
            log.exception("integrity error handling a message")
        except Exception:
            log.exception("failed to handle a message from %s", incoming.chat.adapter)
        return self.refusal(incoming, "error")

    async def _deliver(self, outbox: list[tuple[ChatRef, Reply]]) -> None:
        """Announcements go out only after their change is committed; a failed one is logged,
        never allowed to fail the message that caused it."""
        for chat, reply in outbox:
            sender = self.senders.get(chat.adapter)
            if sender is None:
                log.warning("no %s adapter running for an announcement", chat.adapter)
                continue
            try:
                await sender.send(chat, [reply])
            except DeliveryFailed as failure:
                log.warning("announcement to %s failed: %s", chat.adapter, failure)
            except Exception:
                log.exception("announcement to %s failed", chat.adapter)

    async def _handle(self, session: AsyncSession, incoming: Incoming, now: datetime,
                      outbox: list[tuple[ChatRef, Reply]]) -> list[Reply]:
        if incoming.message_id and not await records.mark_processed(session, incoming.chat.adapter, incoming.message_id, now):
            log.info("redelivered %s message %s skipped", incoming.chat.adapter, incoming.message_id)
            return []
        member = await self.member_for(session, incoming, now) or await self._workspace_join(session, incoming, now)
        if member is None:
            return await self._onboard(session, incoming, now)
        team = await session.get(models.Team, member.team_id)
        actor = Actor(team_id=team.id, member_id=member.id, platform=incoming.chat.adapter, group_id=uuid.uuid4().hex)

        async def dispatch(intent: Intent) -> list[Reply]:
            return await self._run(ctx, intent)

        ctx = Context(session=session, team=team, member=member, now=now, i18n=self.i18n, index=self.index,
                      platform=incoming.chat.adapter, actor=actor, dispatch=dispatch, chat=incoming.chat,
                      outbox=outbox)
        if incoming.action:
            intent = await self._pressed(ctx, incoming.action)
            if intent is None:
                return ctx.replies
        else:
            intent = self.parser.parse(incoming.text, member.locale, now, member.timezone)
        return await self._run(ctx, intent)

    async def _run(self, ctx: Context, intent: Intent) -> list[Reply]:
        if intent.alternatives:
            options = [(ctx.t(f"intent.{name}"), name, intent.slots) for name in (intent.name, *intent.alternatives)][:4]
            return [ctx.reply("intent_which", buttons=await ctx.buttons(options))]
        route = self.router.routes.get(intent.name) or self.router.routes["unknown"]
        if not allowed(ctx.member.role, route.role):
            return [ctx.reply("not_allowed", intent=intent.name)]
        ctx.replies = []
        return await route.handler(ctx, intent)

    async def _pressed(self, ctx: Context, action: str) -> Intent | None:
        """A button press: the stored choice, if it is this member's and not yet spent."""
        token = action[2:] if action.startswith("c:") else ""
        choice = await ctx.session.get(models.Choice, token) if token else None
        if choice is None or choice.team_id != ctx.team.id:
            ctx.replies.append(ctx.reply("button_unknown"))
            return None
        if choice.member_id != ctx.member.id:
            ctx.replies.append(ctx.reply("button_not_yours"))
            return None
        if choice.used_at is not None:
            ctx.replies.append(ctx.reply("button_used"))
            return None
        # the conditional UPDATE is the claim: of two presses racing on two workers, one wins
        spent = await ctx.session.execute(
            update(models.Choice).where(models.Choice.set_id == choice.set_id, models.Choice.used_at.is_(None)).values(used_at=ctx.now)
        )
        if not spent.rowcount:
            ctx.replies.append(ctx.reply("button_used"))
            return None
        return Intent(choice.intent, ctx.locale, slot_json.from_json(choice.slots))

    async def member_for(self, session: AsyncSession, incoming: Incoming, now: datetime) -> models.Member | None:
        user = incoming.user
        found = await teams.identity(session, user.adapter, user.user_id, user.workspace or "")
        if found is not None:
            member = await session.get(models.Member, found.member_id)
            if member is not None and member.active:
                if incoming.chat.chat_id and found.chat_id is None and incoming.chat.chat_id == user.user_id:
                    found.chat_id = incoming.chat.chat_id
                return member
        return None

    async def _workspace_join(self, session: AsyncSession, incoming: Incoming, now: datetime) -> models.Member | None:
        """A user of a Slack workspace an admin bound to a team (`crmbot slack bind`) becomes a
        member on first use, with the team's default role — unless the team admits by invite only."""
        workspace = incoming.user.workspace
        team = await teams.team_for_workspace(session, workspace) if workspace else None
        if team is None:
            return None
        binding = team.settings["slack"]
        if binding.get("invite_only"):
            return None
        invite = models.Invite(team_id=team.id, role=binding.get("default_role", "rep"), member_id=None)
        return await self._join(session, incoming, invite, now)

    async def _onboard(self, session: AsyncSession, incoming: Incoming, now: datetime) -> list[Reply]:
        """A stranger: welcome them with a valid invite code (`/start CODE`), else refuse."""
        head, _, code = incoming.text.strip().partition(" ")
        if head.split("@")[0].lower() in ("/start", "/join") and code.strip():
            invite = await teams.open_invite(session, code.strip(), now)
            if invite is not None:
                member = await self._join(session, incoming, invite, now)
                return [Reply(self.i18n.render(member.locale, "welcome", member=member))]
        log.info("refused %s user %s", incoming.user.adapter, incoming.user.user_id)
        return self.refusal(incoming, "stranger")

    async def _join(self, session: AsyncSession, incoming: Incoming, invite: models.Invite, now: datetime) -> models.Member:
        user = incoming.user
        member = await session.get(models.Member, invite.member_id) if invite.member_id else None
        if member is None:
            name = user.display_name or f"{user.adapter}-{user.user_id}"
            if await teams.member_by_name(session, invite.team_id, name) is not None:
                name = f"{name} ({user.adapter} {user.user_id})"
            member = await teams.create_member(session, invite.team_id, name, now, role=invite.role,
                                               locale=self.i18n.pick(user.language), timezone=known_zone(user.timezone))
        chat = incoming.chat.chat_id if incoming.chat.chat_id == user.user_id else None
        await teams.bind_identity(session, member, user.adapter, user.user_id, now, workspace=user.workspace or "", chat_id=chat)
        if invite.id is not None:
            invite.used_at = now
        return member
