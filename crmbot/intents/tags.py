"""Tags on customers: "tag eva vip", "untag eva vip". Audited and undone like any change; a rep
tags the customers that are theirs or nobody's, a manager any of the team's."""

from __future__ import annotations

from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router, allowed
from crmbot.messages import Reply
from crmbot.store import models, tags
from crmbot.text import fold, words

router = Router()


def may_change(ctx: Context, customer: models.Customer) -> bool:
    return allowed(ctx.member.role, "manager") or customer.owner_id in (None, ctx.member.id)


async def _target(ctx: Context, intent: Intent) -> tuple[list[str], models.Customer] | list[Reply]:
    """The tags named and the customer they go on, or the answer to give instead."""
    names = list(dict.fromkeys(tags.clean(n) for n in intent.slots.get("tags") or () if tags.usable(n)))
    if not names:
        return [ctx.reply("tag_needed", intent=intent.name)]
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    if intent.slots.get("tag_guessed") and set(map(fold, names)) & set(words(fold(customer.display_name))):
        # "untag eva kucerova": the last word was read as the tag, but it is her name
        return [ctx.reply("tag_needed", intent=intent.name)]
    if not may_change(ctx, customer):
        return [ctx.reply("not_allowed")]
    return names, customer


@router.intent("tag")
async def tag(ctx: Context, intent: Intent) -> list[Reply]:
    found = await _target(ctx, intent)
    if isinstance(found, list):
        return found
    names, customer = found
    added, already = [], []
    for name in names:
        made = await tags.attach(ctx.session, ctx.actor, ctx.now, customer.id, name)
        (added if made is not None else already).append(made.name if made is not None else name)
    carried = await tags.of_customer(ctx.session, ctx.team.id, customer.id)
    return [ctx.reply("tagged", customer=customer, added=added, already=already, tags=carried)]


@router.intent("untag")
async def untag(ctx: Context, intent: Intent) -> list[Reply]:
    found = await _target(ctx, intent)
    if isinstance(found, list):
        return found
    names, customer = found
    removed, missing = [], []
    for name in names:
        gone = await tags.detach(ctx.session, ctx.actor, ctx.now, customer.id, name)
        (removed if gone is not None else missing).append(gone.name if gone is not None else name)
    carried = await tags.of_customer(ctx.session, ctx.team.id, customer.id)
    return [ctx.reply("untagged", customer=customer, removed=removed, missing=missing, tags=carried)]
