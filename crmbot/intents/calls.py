"""Logging calls, meetings and notes against a customer."""

from __future__ import annotations

from crmbot.intents import customer_edits, deal_links, notes, prompts
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import models

router = Router()


async def _log(ctx: Context, intent: Intent, kind: str) -> list[Reply]:
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    if intent.slots.get("ask"):
        # a button said "log a call" but not what was said: that is the member's next message
        await prompts.ask(ctx, intent.name, {"customer_id": customer.id, "kind": kind})
        cancel = await ctx.buttons([(ctx.t("button.cancel"), "cancel", {})])
        return [ctx.reply("call_what", kind=kind, customer=customer, buttons=cancel)]
    if intent.slots.get("due_unclear"):
        # "ring back 12/15/2115": a follow-up that far off is a slip; ask before keeping anything
        return [ctx.reply("due_needed")]
    due = intent.slots.get("due")
    if due is not None and intent.slots.get("due_in_past"):
        return [ctx.reply("due_in_past", due=due)]
    summary = notes.stored(ctx, intent, customer)
    interaction = models.Interaction(
        team_id=ctx.team.id, customer_id=customer.id, member_id=ctx.member.id, kind=kind,
        summary=summary, happened_at=ctx.now, created_at=ctx.now,
    )
    followup = None
    if due is not None:
        followup = models.FollowUp(
            team_id=ctx.team.id, customer_id=customer.id, member_id=ctx.member.id, due_at=due,
            note=summary, state="pending", created_at=ctx.now, attempts=0, late=False,
            deal_id=await deal_links.deal_meant(ctx, intent, customer),
        )
    # the call and its follow-up written together: one flush, audited in that order
    await ctx.create_all([interaction] if followup is None else [interaction, followup])
    return [ctx.reply("logged", kind=kind, customer=customer, interaction=interaction, followup=followup)]


@router.intent("log_call")
async def log_call(ctx: Context, intent: Intent) -> list[Reply]:
    return await _log(ctx, intent, intent.slots.get("kind") or "call")


@router.intent("add_note")
async def add_note(ctx: Context, intent: Intent) -> list[Reply]:
    if intent.slots.get("field"):
        # a note that says a fact ("eva new email …", "petr's birthday is 12 March") is kept in
        # the fact's own field, not as text
        customer = await ctx.customer(intent)
        if isinstance(customer, Asked):
            return customer.replies
        return await customer_edits.keep(ctx, intent, customer)
    return await _log(ctx, intent, "note")
