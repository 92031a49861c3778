"""Asking for an answer in the member's next message: "What was said on the call with Acme?"

The question is kept in the store (`store.prompts`), bound to the member. Their next typed
message is the answer when it reads like one: a slash command, or a message that clearly asks
for something else ("find nina", "summary", "undo", "cancel"), drops the question and does what
it says. What tells of a customer (a call, a note, a complaint, a deal's news) or reads as
nothing in particular is the answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crmbot.intents import doubts
from crmbot.intents import slots as slot_json
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.store import prompts
from crmbot.text import fold, words

LASTS = timedelta(minutes=30)  # an answer typed later than this is a new message, not the answer
# what the parser may read an answer as: words about what happened with the customer
ANSWERS = frozenset({"log_call", "add_note", "remind", "complaint", "new_deal", "move_deal", "unknown"})
# what the answer's own words may add to the question's slots: a follow-up asked for in it
# ("wants a quote, call her again Friday"), when it reads as a call or a reminder
FROM_ANSWER = ("due", "due_in_past", "due_unclear")
ASKS_LATER = frozenset({"log_call", "remind"})
SHORT_ANSWER_WORDS = 3  # "in euros please": an answer to "which currency?" is this short


async def ask(ctx: Context, intent: str, slots: dict[str, Any]) -> None:
    """The member's next message runs `intent` with `slots` and the message as its text."""
    await prompts.ask(ctx.session, ctx.member, intent, slot_json.to_json(slots), ctx.now)


async def answer(ctx: Context, text: str, parsed: Intent) -> Intent | None:
    """The intent an open question makes of this message, or None when nothing was asked (or
    the member steered elsewhere, which drops the question)."""
    if not ctx.question_open:  # the core read with the member that nothing is asked: no statement
        return None
    if not text.lstrip().startswith("/"):
        # "which currency?" answered in words ("mewn punnoedd"), whatever else the words may read as
        pending = await prompts.peek(ctx.session, ctx.member, ctx.now, LASTS)
        if pending is not None and "currency_asked" in (pending.slots or {}):
            settled = await _currency_answer(ctx, text, pending)
            if settled is not None and await prompts.take(ctx.session, ctx.member, ctx.now, LASTS) is not None:
                return settled
    if text.lstrip().startswith("/") or (parsed.name not in ANSWERS and not parsed.alternatives):
        await prompts.drop(ctx.session, ctx.member.id, ctx.now)
        return None
    asked = await prompts.take(ctx.session, ctx.member, ctx.now, LASTS)
    if asked is None:
        return None
    if "currency_asked" in (asked.slots or {}):
        return None  # not an answer to "which currency?" (read above): a new message
    said = {key: parsed.slots[key] for key in FROM_ANSWER if key in parsed.slots} if parsed.name in ASKS_LATER else {}
    return Intent(asked.intent, ctx.locale, {**slot_json.from_json(asked.slots), **said, "text": text.strip()})


async def _currency_answer(ctx: Context, text: str, asked) -> Intent | None:
    """"v korunách", "in euros", "欧元", "manatla": a short message naming one currency answers
    "which currency?" while none of its buttons was pressed; anything else is a new message."""
    slots = slot_json.from_json(asked.slots)
    token = slots.pop("question_token", "")
    slots.pop("currency_asked", None)
    if await prompts.button_spent(ctx.session, ctx.member, token):
        return None
    language = ctx.i18n.language(ctx.locale)
    others = tuple(ctx.i18n.language(c) for c in ctx.i18n.codes if c != language.code)
    folded = fold(text)
    named = doubts.currencies_named(language, others, folded)
    if len(named) != 1 or len(words(folded)) > SHORT_ANSWER_WORDS:
        return None
    return Intent(asked.intent, ctx.locale, {**slots, "currency": named[0]})


async def drop(ctx: Context) -> None:
    await prompts.drop(ctx.session, ctx.member.id, ctx.now)
