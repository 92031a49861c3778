"""Merging two records of one customer: "merge karel and karel maly". Both must be the
member's to change; a press says which record survives; one undo puts both back."""

from __future__ import annotations

from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import merges, models, records

router = Router()


async def _pair(ctx: Context, intent: Intent) -> tuple[models.Customer, models.Customer] | Asked:
    """The two customers named, each asked about with buttons when unclear: the first's choice
    is kept in `customer_id`, the second's in `other_id`."""
    mentions = list(intent.slots.get("mentions") or [])
    chosen = intent.slots.get("customer_id") is not None and intent.slots.get("other_id") is not None
    if len(mentions) < 2 and not chosen:
        return ctx.asked("merge_needs_two")
    mentions += [""] * (2 - len(mentions))
    first = await ctx.customer(Intent(intent.name, intent.locale, {**intent.slots, "mention": mentions[0]}), offer_create=False)
    if isinstance(first, Asked):
        return first
    second = await ctx.customer(Intent(intent.name, intent.locale, {**intent.slots, "customer_id": first.id, "mention": mentions[1]}),
                                slot="other_id", offer_create=False)
    if isinstance(second, Asked):
        return second
    return first, second


def _richness(customer: models.Customer, counts: dict[str, int]) -> tuple[int, int]:
    """Which record holds more: rows first, then filled-in details."""
    details = sum(bool(getattr(customer, f)) for f in (*merges.TEXT_FIELDS, "emails", "phones", "notes"))
    return sum(counts.values()), details


def _note(ctx: Context, absorbed: models.Customer, conflicts: tuple[tuple[str, str], ...]) -> str:
    """What the survivor could not take over, in the member's words, for its notes."""
    details = "; ".join(f"{ctx.t(f'field.{field}')}: {value}" for field, value in conflicts)
    return ctx.t("merge_note", name=absorbed.display_name, details=details)


@router.intent("merge_customers")
async def merge_customers(ctx: Context, intent: Intent) -> list[Reply]:
    pair = await _pair(ctx, intent)
    if isinstance(pair, Asked):
        return pair.replies
    first, second = pair
    if first.id == second.id:
        return [ctx.reply("merge_same", customer=first)]
    for customer in (first, second):
        if not ctx.may_edit(customer):
            owner = (await records.members_by_id(ctx.session, ctx.team.id)).get(customer.owner_id)
            return [ctx.reply("merge_not_yours", customer=customer, owner=owner)]
    survivor_id = intent.slots.get("survivor_id")
    if survivor_id not in (first.id, second.id):
        return [await _confirm(ctx, intent, first, second)]
    locked = await merges.lock_pair(ctx.session, ctx.team.id, first.id, second.id)
    if len(locked) < 2:  # merged or erased since the question was asked
        return [ctx.reply("customer_gone")]
    survivor, absorbed = locked[survivor_id], locked[second.id if survivor_id == first.id else first.id]
    plan = merges.plan(survivor, absorbed)
    values = dict(plan.values)
    if plan.conflicts:
        note = _note(ctx, absorbed, plan.conflicts)
        values["notes"] = "\n".join(n for n in (values.get("notes", survivor.notes), note) if n)
    names = {"survivor_name": survivor.display_name, "absorbed_name": absorbed.display_name}  # as the member knew them
    moved = await merges.merge(ctx.session, ctx.actor, ctx.now, survivor, absorbed, values)
    fields = [ctx.t(f"field.{field}") for field, _ in plan.conflicts]
    merged = ctx.reply("merged", moved=moved, conflicts=fields, **names)
    return [merged, *await ctx.dispatch(Intent("find_customer", ctx.locale, {"customer_id": survivor.id}))]  # the card as it is now


async def _confirm(ctx: Context, intent: Intent, first: models.Customer, second: models.Customer) -> Reply:
    """Which record survives? The one holding more is offered first."""
    counts = {c.id: await merges.holdings(ctx.session, ctx.team.id, c.id) for c in (first, second)}
    ordered = sorted((first, second), key=lambda c: _richness(c, counts[c.id]), reverse=True)
    slots = {**intent.slots, "customer_id": first.id, "other_id": second.id}
    buttons = await ctx.buttons([
        *((ctx.t("button.keep", name=c.display_name), "merge_customers", {**slots, "survivor_id": c.id}) for c in ordered),
        (ctx.t("button.cancel"), "cancel", {}),
    ])
    return ctx.reply("merge_confirm", customers=ordered, counts=counts, buttons=buttons)
