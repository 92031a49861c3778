"""The core: `Bot.handle(incoming) -> Outcome`.

In front of the handlers stand the steps every message passes: the size limit, de-duplication
of platform redeliveries, the rate limit, membership (or onboarding with an invite), then
parse, role check and the handler — all in one transaction, committed once. Any failure rolls
the whole message back; nothing half-written remains, and nothing is announced. What happens
next depends on the failure:

- the database unreachable, locked or full: `Transient` is raised, and the adapter has the
  platform deliver the message again (nobody is told "nothing was saved": the redelivery answers);
- a unique row written at once by another worker (an identity on first contact): the message
  is handled again in a fresh transaction, where the other worker's row is there to be read;
- anything else (a bug): a friendly "nothing was saved" reply.

The core only returns what to say; adapters and the server say it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot import charts, membership
from crmbot.clock import Clock, system_clock
from crmbot.i18n import I18n
from crmbot.intents import asking, build_router, prompts
from crmbot.intents import slots as slot_json
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import MAX_TEXT, Intent, Parser
from crmbot.intents.router import Router, allowed
from crmbot.messages import Attachment, Image, Incoming, Outcome, Outgoing, Reply, UserRef
from crmbot.store import limits, models, records, teams
from crmbot.store import prompts as prompts_store
from crmbot.store.audit import Actor
from crmbot.store.db import Database
from crmbot.store.faults import describe, is_transient
from crmbot.store.search import CustomerIndex

log = logging.getLogger(__name__)

# a unique row another worker wrote first is there to be read on the next try
CONFLICT_RETRIES = 2


class Transient(Exception):
    """The message could not be handled now (the database is unreachable, locked or full) and
    nothing of it was kept. The adapter must have the platform deliver it again, and tells the
    member nothing: the redelivery answers."""


@dataclass
class RateLimit:
    """Messages per sender per clock minute, counted in the database inside the message's own
    transaction, so every worker counts against one limit (and a rolled-back message counts for
    nothing). A flood gets a polite slow-down, not a crash. A fixed window: a burst straddling
    a minute's end can get up to twice the limit through."""

    per_minute: int = 30

    async def allow(self, session: AsyncSession, key: str, now: datetime) -> bool:
        return await limits.hit(session, key, now) <= self.per_minute


def well_typed(incoming: Incoming) -> bool:
    """Every field the core reads is the type it is declared as."""
    texts = (incoming.chat.adapter, incoming.chat.chat_id, incoming.user.adapter, incoming.user.user_id, incoming.text)
    optional = (incoming.chat.thread, incoming.user.workspace, incoming.user.language, incoming.user.timezone,
                incoming.action, incoming.message_id)
    attachment = incoming.attachment
    return (all(isinstance(v, str) for v in texts) and all(v is None or isinstance(v, str) for v in optional)
            and isinstance(incoming.user.display_name, str)
            and (attachment is None or (isinstance(attachment, Attachment) and isinstance(attachment.name, str)
                                        and (attachment.data is None or isinstance(attachment.data, bytes)))))


class Bot:
    def __init__(self, db: Database, i18n: I18n | None = None, *, clock: Clock = system_clock,
                 router: Router | None = None, rate_limit: RateLimit | None = None) -> None:
        self.db = db
        self.i18n = i18n or I18n.packaged()
        self.clock = clock
        self.router = router or build_router()
        self.parser = Parser(self.i18n)
        self.index = CustomerIndex()
        self.rate_limit = rate_limit or RateLimit()

    def warm_up(self, locales: list[str] | None = None) -> None:
        """The parser's once-per-language set-ups (compiled patterns, phrase tables), made now
        rather than by the first message in that language: that message held the event loop for
        half a second of CPU (seconds on a loaded machine), and a reminder the platform took
        meanwhile waited that long for its record. `crmbot run` calls this in a thread."""
        now = self.clock()
        for locale in locales or self.i18n.codes:
            for text in ("/note warm up", "called the customer about the quote, follow up on friday"):
                try:
                    self.parser.parse(text, locale, now, "UTC")
                except Exception:  # the first message would meet this too: worth a look
                    log.warning("warming up the parser for %s failed", locale, exc_info=True)

    async def accepts_files_from(self, user: UserRef) -> bool:
        """Whether a file this person sends is worth downloading: a member, or someone an open
        Slack workspace makes one on first use. Strangers' files are never fetched; they get the
        stranger's answer like any message. Read-only; when the store cannot tell, yes (handling
        the message then meets the same trouble and says so)."""
        try:
            async with self.db.sessions() as session:
                if await membership.member_for(session, user) is not None:
                    return True
                return await membership.open_team(session, user.workspace) is not None
        except Exception:
            log.warning("could not check who sent a file; fetching it", exc_info=True)
            return True

    def refusal(self, incoming: Incoming, key: str) -> list[Reply]:
        code = self.i18n.pick(incoming.user.language)
        return [Reply(self.i18n.render(code, key), kind=key)]

    async def handle(self, incoming: Incoming) -> Outcome:
        if not incoming.addressed:
            return Outcome()
        if not well_typed(incoming):
            # no platform sends this; an adapter let a forged or mangled payload through
            log.warning("a malformed %r message was refused", incoming.chat.adapter)
            return Outcome()
        if len(incoming.text) > MAX_TEXT * 4:
            return Outcome(tuple(self.refusal(incoming, "too_long")))
        now = self.clock()
        retries = CONFLICT_RETRIES
        while True:
            announcements: list[Outgoing] = []
            try:
                async with self.db.writer_turn(), self.db.sessions() as session:
                    async with session.begin():
                        replies = await self._handle(session, incoming, now, announcements)
                # committed: only now may other chats hear of it
                return Outcome(tuple([await drawn(reply) for reply in replies]), tuple(announcements))
            except IntegrityError:
                # not a redelivery (that insert skips conflicts): a row such as a first-contact
                # identity that another worker wrote at the same moment
                if retries:
                    retries -= 1
                    log.info("a %s message met a concurrent write; handling it again", incoming.chat.adapter)
                    continue
                log.exception("integrity error handling a message")
            except Exception as error:
                if is_transient(error):
                    log.warning("could not handle a %s message now, it will be delivered again: %s",
                                incoming.chat.adapter, describe(error))
                    raise Transient(describe(error)) from error
                log.exception("failed to handle a message from %s", incoming.chat.adapter)
            return Outcome(tuple(self.refusal(incoming, "error")))

    async def _handle(self, session: AsyncSession, incoming: Incoming, now: datetime,
                      announcements: list[Outgoing]) -> list[Reply]:
        if incoming.message_id and not await records.mark_processed(session, incoming.chat.adapter, incoming.message_id, now):
            log.info("redelivered %s message %s skipped", incoming.chat.adapter, incoming.message_id)
            return []
        if not await self.rate_limit.allow(session, f"{incoming.user.adapter}:{incoming.user.user_id}", now):
            return self.refusal(incoming, "slow_down")
        member, team, question_open = await membership.sender(session, incoming.user, incoming.chat, question=True)
        if team is not None:
            # read inside this transaction, which has written (the rate limit): a search spares its own read
            teams.known_customer_rev(session, team)
        if member is None:
            question_open = True  # a member made just now: look, as for anyone
            member = await membership.workspace_join(session, incoming, now, self.i18n)
            if member is None:
                return await self._onboard(session, incoming, now)
            team = await session.get(models.Team, member.team_id)
        actor = Actor(team_id=team.id, member_id=member.id, platform=incoming.chat.adapter, group_id=uuid.uuid4().hex)

        async def dispatch(intent: Intent) -> list[Reply]:
            return await self._run(ctx, intent)

        ctx = Context(session=session, team=team, member=member, now=now, i18n=self.i18n, index=self.index,
                      platform=incoming.chat.adapter, actor=actor, dispatch=dispatch, chat=incoming.chat,
                      announcements=announcements, attachment=incoming.attachment, question_open=question_open)
        if incoming.attachment is not None:
            intent = Intent("import_upload", member.locale, {})  # a file is its own request, whatever its caption says
        elif incoming.action:
            intent = await self._pressed(ctx, incoming.action)
            if isinstance(intent, Asked):
                return intent.replies
        else:
            intent = self.parser.parse(incoming.text, member.locale, now, member.timezone)
            # a question crmbot asked ("what was said on the call?") takes this message as its answer
            intent = await prompts.answer(ctx, incoming.text, intent) or intent
            if question_open:  # a question asked with buttons is closed by whatever the member typed next
                await prompts_store.close_questions(session, member, now)
        return await self._run(ctx, intent)

    async def _run(self, ctx: Context, intent: Intent) -> list[Reply]:
        # a doubt about what to do, the currency or the day: asked, nothing changed until a press
        question = await asking.question(ctx, intent)
        if question is not None:
            return question
        route = self.router.routes.get(intent.name) or self.router.routes["unknown"]
        if not allowed(ctx.member.role, route.role):
            return [ctx.reply("not_allowed", intent=intent.name)]
        return await route.handler(ctx, intent)

    async def _pressed(self, ctx: Context, action: str) -> Intent | Asked:
        """A button press: the stored choice, if it is this member's and not yet spent;
        otherwise the refusal to answer with."""
        token = action[2:] if action.startswith("c:") else ""
        choice = await ctx.session.get(models.Choice, token) if token else None
        if choice is None or choice.team_id != ctx.team.id:
            return ctx.asked("button_unknown")
        if choice.member_id != ctx.member.id:
            return ctx.asked("button_not_yours")
        if choice.used_at is not None:
            # a question closed by what the member typed since: nothing is done
            return ctx.asked("question_closed" if prompts_store.was_closed(choice) else "button_used")
        # the conditional UPDATE is the claim: of two presses racing on two workers, one wins
        spent = await ctx.session.execute(
            update(models.Choice).where(models.Choice.set_id == choice.set_id, models.Choice.used_at.is_(None)).values(used_at=ctx.now)
        )
        if not spent.rowcount:
            return ctx.asked("button_used")
        return Intent(choice.intent, ctx.locale, slot_json.from_json(choice.slots))

    async def _onboard(self, session: AsyncSession, incoming: Incoming, now: datetime) -> list[Reply]:
        """A stranger: welcomed when they sent a valid invite code (`/start CODE`), else refused."""
        member = await membership.join_with_invite(session, incoming, now, self.i18n)
        if member is not None:
            return [Reply(self.i18n.render(member.locale, "welcome", member=member))]
        log.info("refused %s user %s", incoming.user.adapter, incoming.user.user_id)
        return self.refusal(incoming, "stranger")


async def drawn(reply: Reply) -> Reply:
    """The reply with its chart drawn into an image, in a worker thread (it takes a good part of
    a second) and after the transaction, which must not wait for it. A chart that cannot be
    drawn is left out: the text says the same."""
    if reply.chart is None:
        return reply
    try:
        png = await asyncio.to_thread(charts.draw, reply.chart)
    except Exception:
        log.exception("could not draw the %s chart; the reply goes without it", reply.kind)
        return replace(reply, chart=None)
    return replace(reply, image=Image(png, reply.chart.filename, alt=reply.chart.description), chart=None)
