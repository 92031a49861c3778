"""Changing a deal by chat: its amount (with currency), title and expected close date; closing it
(won or lost is asked) or deleting it (soft: "undo" brings it back).

Which deal: one whose title the message names ("the acme website deal"), else the named
customer's; when several fit, crmbot asks with buttons that tell them apart by title, amount
and stage. A rep changes the deals they own; managers any of the team's.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from crmbot.i18n import Formats
from crmbot.intents import ownership
from crmbot.intents.context import Asked, Context
from crmbot.intents.customer_edits import Change, not_yours
from crmbot.intents.deals import MAX_AMOUNT, label
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router, allowed
from crmbot.messages import Reply
from crmbot.store import customers, deal_lookup, models, records
from crmbot.text import fold, words

router = Router()
TITLE_WORD = 85  # how close a typed word must be to a word of a deal's title
MAX_CHOICES = 5


@router.intent("edit_deal")
async def edit_deal(ctx: Context, intent: Intent) -> list[Reply]:
    slots = intent.slots
    amount = slots.get("amount")
    if slots.get("amount_invalid") or (amount is not None and not 0 <= amount < MAX_AMOUNT):
        return [ctx.reply("amount_invalid")]
    if slots.get("due_unclear"):
        return [ctx.reply("due_needed")]
    found = await _deal(ctx, intent)
    if isinstance(found, Asked):
        return found.replies
    deal, customer = found
    if not ownership.may_change_deal(ctx.member, deal):
        return [await not_yours(ctx, deal.title, deal.owner_id)]
    if slots.get("close"):
        # closing is winning or losing: which, the member says
        about = {"customer_id": customer.id, "deal_id": deal.id}
        buttons = await ctx.buttons([
            (ctx.t("button.won"), "move_deal", {**about, "stage": "won"}),
            (ctx.t("button.lost"), "move_deal", {**about, "stage": "lost"}),
            (ctx.t("button.cancel"), "cancel", {}),
        ])
        return [ctx.reply("deal_close_how", deal=deal, customer=customer, buttons=buttons)]
    f = Formats(ctx.i18n, ctx.locale, ctx.tz)
    values: dict = {}
    lines: list[Change] = []
    if amount is not None:
        currency = slots.get("currency") or deal.currency or (ctx.team.settings or {}).get("currency", "EUR")
        minor = int(amount * 100)
        if (minor, currency) != (deal.amount_minor, deal.currency):
            values.update(amount_minor=minor, currency=currency)
            lines.append(Change(ctx.t("deal_field.amount"), f.money(deal.amount, deal.currency) if deal.amount is not None else None,
                                f.money(amount, currency)))
    title = (slots.get("title") or "").strip()
    if title and title != deal.title:
        values["title"] = title
        lines.append(Change(ctx.t("deal_field.title"), deal.title, title))
    due = slots.get("due")
    if due is not None:
        if slots.get("due_in_past") or due < ctx.now:
            return [ctx.reply("due_in_past", due=due)]
        if due != deal.expected_close:
            values["expected_close"] = due
            lines.append(Change(ctx.t("deal_field.expected_close"), f.day(deal.expected_close) if deal.expected_close else None, f.day(due)))
    if not values:
        if amount is not None or title or due is not None:
            return [ctx.reply("nothing_changed", customer=customer)]
        return [ctx.reply("deal_edit_what", deal=deal, customer=customer)]
    await ctx.update(deal, **values)
    return [ctx.reply("deal_changed", deal=deal, customer=customer, changes=lines)]


@router.intent("delete_deal")
async def delete_deal(ctx: Context, intent: Intent) -> list[Reply]:
    found = await _deal(ctx, intent)
    if isinstance(found, Asked):
        return found.replies
    deal, customer = found
    if not ownership.may_change_deal(ctx.member, deal):
        return [await not_yours(ctx, deal.title, deal.owner_id)]
    await ctx.update(deal, deleted_at=ctx.now)  # soft: undo clears it again
    # its open follow-ups go with it, in the same change: undo brings them back with the deal
    cancelled = await records.open_followups_of_deal(ctx.session, ctx.team.id, deal.id)
    for followup in cancelled:
        await ctx.update(followup, state="cancelled")
    return [ctx.reply("deal_deleted", deal=deal, customer=customer, cancelled=len(cancelled))]


async def _deal(ctx: Context, intent: Intent) -> tuple[models.Deal, models.Customer] | Asked:
    """The deal a change means: the one a button picked, one whose title the message names, or
    the named customer's; the question with buttons when several fit, or why there is none."""
    chosen = intent.slots.get("deal_id")
    if chosen is not None:
        deal = await records.lock_deal(ctx.session, ctx.team.id, int(chosen))
        customer = await customers.get(ctx.session, ctx.team.id, deal.customer_id) if deal is not None else None
        if deal is None or customer is None:
            return ctx.asked("deal_gone")
        return deal, customer
    mine = None if allowed(ctx.member.role, "manager") else ctx.member.id
    titled = _titled(intent.mention, await deal_lookup.live_deals(ctx.session, ctx.team.id)) if intent.mention else []
    if titled:
        return await _one_of(ctx, intent, titled, mine, None)
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer
    held = await deal_lookup.live_deals(ctx.session, ctx.team.id, customer.id)
    if not held:
        return ctx.asked("no_deal", customer=customer)
    return await _one_of(ctx, intent, held, mine, customer)


async def _one_of(ctx: Context, intent: Intent, deals: list[models.Deal], mine: int | None,
                  customer: models.Customer | None) -> tuple[models.Deal, models.Customer] | Asked:
    # a rep is offered their own deals; with none of theirs, they hear whose it is
    offered = [d for d in deals if mine is None or ownership.may_change(ctx.member, d.owner_id)] or deals
    if len(offered) == 1:
        deal = await records.lock_deal(ctx.session, ctx.team.id, offered[0].id)
        owner = customer if customer is not None and deal is not None and customer.id == deal.customer_id else (
            await customers.get(ctx.session, ctx.team.id, deal.customer_id) if deal is not None else None)
        if deal is None or owner is None:
            return ctx.asked("deal_gone")
        return deal, owner
    people = await records.customers_by_id(ctx.session, ctx.team.id, {d.customer_id for d in offered})
    options = []
    for deal in offered[:MAX_CHOICES]:
        who = people.get(deal.customer_id)
        shown = label(ctx, deal) + (f" · {who.name}" if who is not None and customer is None else "")
        options.append((shown, intent.name, {**intent.slots, "deal_id": deal.id, "customer_id": deal.customer_id}))
    options.append((ctx.t("button.cancel"), "cancel", {}))
    return ctx.asked("deal_pick", customer=customer, deals=offered, buttons=await ctx.buttons(options))


def _titled(mention: str, deals: list[models.Deal]) -> list[models.Deal]:
    """The deals whose title has every word of the mention in it ("acme website", "horvat"),
    typos allowed: a deal named by its title, whoever its customer is."""
    said = [w for w in words(fold(mention)) if len(w) >= 2]
    if not said:
        return []
    found = []
    for deal in deals:
        title = words(fold(deal.title))
        if all(any(fuzz.ratio(w, t) >= TITLE_WORD for t in title) for w in said):
            found.append(deal)
    return found
