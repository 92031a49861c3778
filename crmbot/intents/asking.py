"""Asking back before acting (crmbot/intents/doubts.py decides when).

Each question shows what crmbot understood, so a person checks it at a glance — the customer,
the amount with its currency, the day with its weekday — and offers the likely readings as
buttons, plus "cancel". Nothing is changed until a button is pressed; a press runs the reading
it names with the doubt settled (the intent chosen, the currency or the day picked).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.numbers import get_territory_currencies

from crmbot.intents import prompts
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.messages import Reply
from crmbot.store.search import clear_winner

MAX_CURRENCIES = 3
MAX_READINGS = 3
# what a settled doubt leaves out of the slots a button carries
DOUBTS = ("currency_unclear", "due_unclear", "due_odd")


async def question(ctx: Context, intent: Intent) -> list[Reply] | None:
    """The question to answer with instead of acting on `intent`, or None when it is clear."""
    if intent.alternatives:
        return await which(ctx, intent)
    if "currency_unclear" in intent.slots:
        return await currency(ctx, intent)
    if intent.slots.get("due_odd") is not None:
        return await day(ctx, intent)
    return None


async def understood(ctx: Context, intent: Intent) -> dict[str, Any]:
    """What crmbot read in the message, for the question to show: the customer (when the name
    is clear: who it is; otherwise the name as typed), amount, currency and due."""
    slots = intent.slots
    customer, customer_id = None, slots.get("customer_id")
    if customer_id is None and intent.mention:
        winner = clear_winner(await ctx.search_for(intent))
        customer, customer_id = (winner.display, winner.customer_id) if winner else (intent.mention, None)
    return {"customer": customer, "customer_id": customer_id, "amount": slots.get("amount"),
            "currency": slots.get("currency"), "due": slots.get("due") or slots.get("due_odd")}


async def which(ctx: Context, intent: Intent) -> list[Reply]:
    """Two readings alike ("did you mean a call or a note?"): one button each, and cancel."""
    seen = await understood(ctx, intent)
    slots = dict(intent.slots)
    if seen["customer_id"] is not None:
        slots["customer_id"] = seen["customer_id"]  # the customer was clear: a press does not ask again
    readings = [name for name in (intent.name, *intent.alternatives) if name != "cancel"]
    options = [(ctx.t(f"intent.{name}"), name, slots) for name in readings][:MAX_READINGS]
    if seen["customer_id"] is not None and "find_customer" not in readings:
        # the customer is clear, what to do is not: their card is one of the useful answers
        options.append((ctx.t("button.open"), "find_customer", {"customer_id": seen["customer_id"]}))
    options.append((ctx.t("button.cancel"), "cancel", {}))
    return [ctx.reply("intent_which", seen=seen, buttons=await ctx.buttons(options))]


def _currencies(ctx: Context, named: list[str]) -> list[str]:
    """The currencies to offer: those the message named, else the team's and the member's."""
    if named:
        return named[:MAX_CURRENCIES]
    team = (ctx.team.settings or {}).get("currency", "EUR")
    territory = Locale.parse(ctx.i18n.language(ctx.locale).babel).territory
    local = get_territory_currencies(territory, tender=True) if territory else []
    return list(dict.fromkeys([team, *local[:1], "EUR", "USD"]))[:MAX_CURRENCIES]


async def currency(ctx: Context, intent: Intent) -> list[Reply]:
    """"40k, chf or eur?": the amount in each currency it may be, and cancel."""
    seen = await understood(ctx, intent)
    settled = {k: v for k, v in intent.slots.items() if k != "currency_unclear"}
    if seen["customer_id"] is not None:
        settled["customer_id"] = seen["customer_id"]
    f = ctx.formats()
    options = [(f.money(intent.slots["amount"], code), intent.name, {**settled, "currency": code})
               for code in _currencies(ctx, intent.slots["currency_unclear"])]
    options.append((ctx.t("button.cancel"), "cancel", {}))
    buttons = await ctx.buttons(options)
    # the answer may be typed too ("v korunách", "欧元", "manatla"): the next message settles it
    # while no button was pressed (crmbot/intents/prompts.py)
    await prompts.ask(ctx, intent.name, {**settled, "currency_asked": [code for _, _, s in options[:-1] for code in [s["currency"]]],
                                         "question_token": buttons[0].action[2:]})
    # the amount is the question's own words: the lines under it show the rest
    return [ctx.reply("currency_which", amount=intent.slots["amount"], seen={**seen, "amount": None}, buttons=buttons)]


def _next_such_day(odd: datetime, now: datetime, tz: str) -> datetime | None:
    """The same day and time of the year, next time it comes: "15.12.2115" → 15 December 2026."""
    zone = ZoneInfo(tz)
    local, today = odd.astimezone(zone), now.astimezone(zone)
    for year in (today.year, today.year + 1):
        try:
            candidate = local.replace(year=year)
        except ValueError:  # 29 February
            continue
        if candidate >= today:
            return None if candidate == local else candidate.astimezone(ZoneInfo("UTC"))
    return None


async def day(ctx: Context, intent: Intent) -> list[Reply]:
    """A day far off, or not on the weekday named: the day as read, the nearer one, and cancel."""
    seen = await understood(ctx, intent)
    odd = intent.slots["due_odd"]
    settled = {k: v for k, v in intent.slots.items() if k not in DOUBTS}
    if seen["customer_id"] is not None:
        settled["customer_id"] = seen["customer_id"]
    f = ctx.formats()
    days = [moment for moment in (_next_such_day(odd, ctx.now, ctx.tz), odd) if moment is not None]
    options = [(f.when_day(moment), intent.name, {**settled, "due": moment, "due_in_past": moment < ctx.now})
               for moment in days]
    options.append((ctx.t("button.cancel"), "cancel", {}))
    return [ctx.reply("day_which", seen=seen, buttons=await ctx.buttons(options))]
