"""What a handler receives besides the intent: who, where, when, and the tools to answer."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.i18n import I18n
from crmbot.intents import slots as slot_json
from crmbot.intents.parse import Intent
from crmbot.messages import Button, Card, ChatRef, Reply
from crmbot.store import changes, customers, models
from crmbot.store.audit import Actor
from crmbot.store.search import ACCEPT, SUGGEST, CustomerIndex, Match, clear_winner

MAX_CHOICES = 5


@dataclass
class Context:
    session: AsyncSession
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
    replies: list[Reply] = field(default_factory=list)
    # messages for other chats (the team's notification channel), sent once the change is committed
    outbox: list[tuple[ChatRef, Reply]] = field(default_factory=list)

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
        return Reply(self.render(template, **values), buttons=buttons, card=card)

    def announce(self, template: str, **values: Any) -> None:
        """Tell the team's notification chat (if one was chosen with /notify) about this change."""
        target = (self.team.settings or {}).get("notify")
        if target:
            chat = ChatRef(target["adapter"], target["chat_id"], target.get("thread"))
            self.outbox.append((chat, self.reply(template, member=self.member, **values)))

    def t(self, key: str, **values: Any) -> str:
        return self.i18n.string(self.locale, key, **values)

    async def buttons(self, options: list[tuple[str, str, dict[str, Any]]]) -> tuple[Button, ...]:
        """Buttons whose meaning is stored server-side: (label, intent, slots) each. Pressing one
        runs that intent as this member; the others of the set are spent with it."""
        set_id = secrets.token_hex(8)
        made = []
        for label, intent, slots in options:
            token = secrets.token_urlsafe(12)
            self.session.add(
                models.Choice(
                    token=token, set_id=set_id, team_id=self.team.id, member_id=self.member.id, intent=intent,
                    slots=slot_json.to_json(slots), label=label[:200], created_at=self.now,
                )
            )
            made.append(Button(label=label, action=f"c:{token}"))
        return tuple(made)

    # -- audited writes ------------------------------------------------------------------------

    async def create(self, row: models.Base) -> models.Base:
        return await changes.create(self.session, self.actor, self.now, row)

    async def update(self, row: models.Base, **values: Any) -> models.Base:
        return await changes.update(self.session, self.actor, self.now, row, **values)

    # -- customers -------------------------------------------------------------------------------

    async def search(self, text: str, limit: int = MAX_CHOICES) -> list[Match]:
        return await self.index.search(self.session, self.team.id, text, limit)

    async def customer(self, intent: Intent, *, required: bool = True) -> models.Customer | None:
        """The customer an intent is about, or None with a question or refusal in `replies`."""
        chosen = intent.slots.get("customer_id")
        if chosen is not None:
            found = await customers.get(self.session, self.team.id, int(chosen))
            if found is None:
                self.replies.append(self.reply("customer_gone"))
            return found
        mention = intent.mention
        if not mention:
            if required:
                self.replies.append(self.reply("ask_customer", intent=intent.name))
            return None
        matches = await self.search(mention)
        if not required and (not matches or matches[0].score < ACCEPT):
            return None
        if not matches:
            create = await self.buttons([(self.t("button.create", name=mention.title()), "add_customer", {"name": mention.title(), "then": intent.name, "then_slots": slot_json.to_json(intent.slots)})])
            self.replies.append(self.reply("customer_not_found", mention=mention, buttons=create))
            return None
        winner = clear_winner(matches)
        if winner is not None:
            return await customers.get(self.session, self.team.id, winner.customer_id)
        best = matches[0]
        shown = [m for m in matches if m.score >= max(SUGGEST, best.score - 15)] or [best]
        options = [(m.display, intent.name, {**intent.slots, "customer_id": m.customer_id}) for m in shown[:MAX_CHOICES]]
        self.replies.append(self.reply("customer_which", mention=mention, matches=shown, buttons=await self.buttons(options)))
        return None
