"""What a handler receives besides the intent: who, where, when, and the tools to answer."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmbot.store import Session

from crmbot.i18n import Formats, I18n
from crmbot.intents import reach
from crmbot.intents import slots as slot_json
from crmbot.intents.parse import Intent
from crmbot.messages import Attachment, Button, Card, ChatRef, Outgoing, Reply
from crmbot.store import changes, customers, models, prompts, records, teams
from crmbot.store.audit import Actor
from crmbot.store.search import ACCEPT, SUGGEST, CustomerIndex, GenderCue, Match, clear_winner, gender_cue

# intents that move a deal: a company named alone is its person with the open deal
DEAL_MOVES = frozenset({"move_deal"})
from crmbot.text import EMAIL, PHONE_REGION, contact_in, same_number

MAX_CHOICES = 5


@dataclass(frozen=True)
class Asked:
    """What a look-up returns instead of what it looks for when the member must answer first
    (which customer? which deal?) or be told why not (that customer is gone): the handler
    returns these replies as its answer."""

    replies: list[Reply]


def offer(session: Session, member: models.Member, now: datetime,
          options: list[tuple[str, str, dict[str, Any]]]) -> tuple[Button, ...]:
    """Buttons for `member`: (label, intent, slots) each, kept as one set of choices bound to
    the member and their team; a press runs that intent as them and spends the whole set."""
    set_id = secrets.token_hex(8)
    made = []
    for label, intent, slots in options:
        token = secrets.token_urlsafe(12)
        session.add(models.Choice(
            token=token, set_id=set_id, team_id=member.team_id, member_id=member.id, intent=intent,
            slots=slot_json.to_json(slots), label=label[:200], created_at=now,
        ))
        made.append(Button(label=label, action=f"c:{token}"))
    if any(intent == "cancel" for _, intent, _ in options):
        # a question: the member's next typed message closes it (store/prompts.close_questions)
        prompts.note_question(session, member, set_id, now)
    return tuple(made)


@dataclass
class Context:
    session: Session
    team: models.Team
    member: models.Member
    now: datetime
    i18n: I18n
    index: CustomerIndex
    platform: str
    actor: Actor
    # runs another intent as this member in this transaction (a button's follow-on action)
    dispatch: Callable[[Intent], Awaitable[list[Reply]]]
    chat: ChatRef | None = None  # where the message came from
    # messages for other chats (the team's notification channel); the core hands them out
    # with the answer only once the change is committed
    announcements: list[Outgoing] = field(default_factory=list)
    attachment: Attachment | None = None  # the file or shared contact the message brought
    # whether a question asked of the member (`intents.prompts`) may be open: False when the
    # core read, with the member, that none is
    question_open: bool = True

    @property
    def locale(self) -> str:
        return self.member.locale

    @property
    def tz(self) -> str:
        return self.member.timezone

    # -- replies ---------------------------------------------------------------------------

    def render(self, template: str, **values: Any) -> str:
        return self.i18n.render(self.locale, template, self.tz, **values)

    def reply(self, template: str, *, buttons: tuple[Button, ...] = (), card: Card | None = None, **values: Any) -> Reply:
        return Reply(self.render(template, **values), buttons=buttons, card=card, kind=template, team_id=self.team.id)

    def asked(self, template: str, **values: Any) -> Asked:
        """A look-up's answer when it cannot give what was looked for: this one reply."""
        return Asked([self.reply(template, **values)])

    def announce(self, template: str, **values: Any) -> None:
        """Tell the team's notification chat (if one was chosen with /notify) about this change."""
        target = (self.team.settings or {}).get("notify")
        if target:
            chat = ChatRef(target["adapter"], target["chat_id"], target.get("thread"))
            self.announcements.append(Outgoing(chat, (self.reply(template, member=self.member, **values),)))

    async def tell(self, member_id: int, template: str, **values: Any) -> None:
        """Tell another member of the team, in their chat and their language, once this change
        is committed (kept for later when their platform is away)."""
        member = (await records.members_by_id(self.session, self.team.id)).get(member_id)
        chat = (await reach.chats_for(self.session, {member_id})).get(member_id)
        if member is None or not member.active or chat is None:
            return
        text = self.i18n.render(member.locale, template, member.timezone, **values)
        self.announcements.append(Outgoing(chat, (Reply(text, kind=template, team_id=self.team.id),)))

    def formats(self) -> Formats:
        """Babel formats in this member's language and time zone, for labels made in code."""
        return Formats(self.i18n, self.locale, self.tz)

    def t(self, key: str, **values: Any) -> str:
        return self.i18n.string(self.locale, key, **values)

    async def buttons(self, options: list[tuple[str, str, dict[str, Any]]]) -> tuple[Button, ...]:
        """Buttons whose meaning is stored server-side: (label, intent, slots) each. Pressing one
        runs that intent as this member; the others of the set are spent with it."""
        return offer(self.session, self.member, self.now, options)

    # -- audited writes ------------------------------------------------------------------------

    async def create(self, row: models.Base) -> models.Base:
        return await changes.create(self.session, self.actor, self.now, row)

    async def create_all(self, rows: list[models.Base]) -> list[models.Base]:
        """Several new rows, written and audited together (in the order given)."""
        return await changes.create_all(self.session, self.actor, self.now, rows)

    async def update(self, row: models.Base, **values: Any) -> models.Base:
        return await changes.update(self.session, self.actor, self.now, row, **values)

    def may_edit(self, customer: models.Customer) -> bool:
        """A rep changes what is theirs or nobody's; managers and admins the team's."""
        return self.member.role in ("manager", "admin") or customer.owner_id in (None, self.member.id)

    # -- customers -------------------------------------------------------------------------------

    async def search(self, text: str, limit: int = MAX_CHOICES, about_deal: bool = False,
                     gender: GenderCue | None = None) -> list[Match]:
        return await self.index.search(self.session, self.team.id, text, limit, about_deal, gender)

    async def search_for(self, intent: Intent, mention: str | None = None) -> list[Match]:
        """The customers an intent's mention may mean, read as the intent reads it: a deal move
        settles a company named alone by its open deals, a title or case ending the gender."""
        return await self.search(intent.mention if mention is None else mention, about_deal=intent.name in DEAL_MOVES,
                                 gender=gender_cue(intent.slots))

    async def customer(self, intent: Intent, *, required: bool = True, slot: str = "customer_id",
                       offer_create: bool = True) -> models.Customer | Asked | None:
        """The customer an intent is about, or the question (or refusal) to answer with. None
        only when not `required` and no customer was named clearly enough. The choice is kept
        in `slot` (an intent about two customers keeps the second in another); `offer_create=False`
        offers no "create them" button for a name nobody has (a merge needs two who exist)."""
        chosen = intent.slots.get(slot)
        if chosen is not None:
            return await self._live_customer(int(chosen))
        region = PHONE_REGION.get(self.locale)
        mention = intent.mention or contact_in(intent.slots.get("text", ""), region)
        if not mention:
            return self.asked("ask_customer", intent=intent.name) if required else None
        matches = await self.search_for(intent, mention)
        by_contact = contact_in(mention, region) == mention.strip()  # a phone number or address alone
        if by_contact and not EMAIL.search(mention):
            matches = await self._same_number(mention, matches)
        if not required and (not matches or matches[0].score < ACCEPT):
            return None
        if not matches and by_contact:
            return self.asked("contact_not_found")
        if not matches and not offer_create:
            return self.asked("customer_unknown", mention=mention)
        if not matches:
            create = await self.buttons([(self.t("button.create", name=mention.title()), "add_customer", {"name": mention.title(), "then": intent.name, "then_slots": slot_json.to_json(intent.slots)})])
            return self.asked("customer_not_found", mention=mention, buttons=create)
        winner = clear_winner(matches)
        if winner is not None:
            return await self._live_customer(winner.customer_id)
        best = matches[0]
        shown = [m for m in matches if m.score >= max(SUGGEST, best.score - 15)] or [best]
        options = [(m.display, intent.name, {**intent.slots, slot: m.customer_id}) for m in shown[:MAX_CHOICES]]
        return self.asked("customer_which", mention=mention, matches=shown, buttons=await self.buttons(options))

    async def _same_number(self, typed: str, matches: list[Match]) -> list[Match]:
        """The look-up's phone matches that really hold the number as typed (country code too)."""
        kept = []
        for match in matches:
            found = await customers.get(self.session, self.team.id, match.customer_id)
            if found is not None and any(same_number(typed, str(p), None) for p in found.phones or ()):
                kept.append(match)
        return kept

    async def _live_customer(self, customer_id: int) -> models.Customer | Asked:
        # a button or the index may name someone erased since
        found = await customers.get(self.session, self.team.id, customer_id)
        return self.asked("customer_gone") if found is None else found
