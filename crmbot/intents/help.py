"""Help, acknowledgements, the unknown message, and the member's language setting."""

from __future__ import annotations

from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import customers
from crmbot.store.search import clear_winner
from crmbot.text import PHONE_REGION, contact_in, words

router = Router()
LOOKUP_SCORE = 85  # how sure a bare message must be to be read as a customer's name


@router.intent("help")
async def help_(ctx: Context, intent: Intent) -> list[Reply]:
    return [ctx.reply("help", member=ctx.member)]


@router.intent("ack")
async def ack(ctx: Context, intent: Intent) -> list[Reply]:
    """"thanks", "ok", "👍": nothing to do, but a person expects to be heard."""
    return [ctx.reply("ack")]


@router.intent("unknown")
async def unknown(ctx: Context, intent: Intent) -> list[Reply]:
    reason = intent.slots.get("reason")
    if reason == "too_long":
        return [ctx.reply("too_long")]
    if reason == "empty":
        return [ctx.reply("empty")]
    # a bare phone number or e-mail address is a look-up by it ("who is 731 222 333")
    contact = contact_in(intent.slots.get("text", ""), PHONE_REGION.get(ctx.locale))
    if contact and not intent.mention:
        return await ctx.dispatch(Intent("find_customer", ctx.locale, {**intent.slots, "mention": contact}))
    # a bare name is a look-up: "novak" shows Novák's card, or asks which Novák
    if intent.mention:
        matches = await ctx.search_for(intent)
        if matches and matches[0].score >= LOOKUP_SCORE:
            # more words than the name: something was said about them ("eva prefers mornings")
            text = intent.slots.get("text", "")
            winner = clear_winner(matches)
            if winner is not None and len(words(text)) > len(words(winner.span)):
                return await what_to_do(ctx, winner.customer_id, text)
            return await ctx.dispatch(Intent("find_customer", ctx.locale, intent.slots))
    return [ctx.reply("unknown", text=intent.slots.get("text", ""), mention=intent.mention)]


async def what_to_do(ctx: Context, customer_id: int, text: str) -> list[Reply]:
    """"eva prefers mornings": the customer is clear, what to do is not. The useful actions
    as buttons, never a silent guess (and not just the card, which looks as if it was kept)."""
    customer = await customers.get(ctx.session, ctx.team.id, customer_id)
    if customer is None:
        return [ctx.reply("customer_gone")]
    about = {"customer_id": customer.id, "text": text}
    buttons = await ctx.buttons([
        (ctx.t("button.log_call"), "log_call", about), (ctx.t("button.keep_note"), "add_note", about),
        (ctx.t("button.open"), "find_customer", {"customer_id": customer.id}),
        (ctx.t("button.new_deal"), "new_deal", {"customer_id": customer.id}), (ctx.t("button.cancel"), "cancel", {}),
    ])
    return [ctx.reply("customer_what", customer=customer, buttons=buttons)]


@router.intent("set_language")
async def set_language(ctx: Context, intent: Intent) -> list[Reply]:
    # "switch to Welsh" names it; "/language cy" gives the code itself
    wanted = intent.slots.get("language") or (intent.slots.get("text") or "").strip().lower()
    if not wanted:  # "/lang" alone: the languages, one button each
        buttons = await ctx.buttons([(f"{language.name} ({code})", "set_language", {"text": code})
                                     for code, language in ctx.i18n.languages.items()])
        return [ctx.reply("language_choose", current=ctx.i18n.language(ctx.locale), buttons=buttons)]
    if wanted not in ctx.i18n.languages:
        return [ctx.reply("language_unknown", wanted=wanted, languages=ctx.i18n.languages)]
    await ctx.update(ctx.member, locale=wanted)
    return [ctx.reply("language_set", language=ctx.i18n.languages[wanted])]
