"""Erasure from a chat: admins only, and only after pressing a confirmation button."""

from __future__ import annotations

from crmbot.intents import prompts
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import erasure

router = Router()


@router.intent("forget", role="admin")
async def forget(ctx: Context, intent: Intent) -> list[Reply]:
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    if not intent.slots.get("confirmed"):
        buttons = await ctx.buttons([
            (ctx.t("button.forget_confirm"), "forget", {"customer_id": customer.id, "confirmed": True}),
            (ctx.t("button.cancel"), "cancel", {}),
        ])
        return [ctx.reply("forget_confirm", customer=customer, buttons=buttons)]
    name = customer.display_name
    await erasure.erase_customer(ctx.session, ctx.actor, customer, ctx.now)
    return [ctx.reply("forgotten", name=name)]


@router.intent("cancel")
async def cancel(ctx: Context, intent: Intent) -> list[Reply]:
    await prompts.drop(ctx)  # a question waiting for the next message is cancelled too
    return [ctx.reply("cancelled")]
