"""Which deal a follow-up is about, so that deleting the deal cancels it.

A follow-up is tied to a deal only when that is clear: a button made for the deal says so
("follow up tomorrow" on a stalled deal), or the message speaks of a deal (a word of the
language's `[edits] deal` list: "remind me to chase the acme website deal on Friday") and
names one of the customer's open deals by its title, or the customer has only one open deal.
Otherwise the follow-up is about the customer alone."""

from __future__ import annotations

from crmbot.intents import edit_readings
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.store import deal_lookup, models
from crmbot.text import fold, words

MIN_TITLE_WORD = 3  # shorter words of a title ("s.r.o", "&") do not name it


async def deal_meant(ctx: Context, intent: Intent, customer: models.Customer | None) -> int | None:
    """The id of the open deal of `customer` a follow-up is about, or None."""
    if customer is None:
        return None
    chosen = intent.slots.get("deal_id")
    text = fold(intent.slots.get("text") or "")
    if chosen is None and edit_readings.said(ctx.i18n.language(intent.locale), "deal", text) is None:
        return None  # no deal named nor spoken of (most follow-ups): no need to read the deals
    open_deals = [d for d in await deal_lookup.live_deals(ctx.session, ctx.team.id, customer.id) if d.stage in models.OPEN_STAGES]
    if chosen is not None:
        return next((d.id for d in open_deals if d.id == int(chosen)), None)
    if not open_deals:
        return None
    said = set(words(text))
    titled = [d for d in open_deals
              if (title := [w for w in words(fold(d.title)) if len(w) >= MIN_TITLE_WORD]) and all(w in said for w in title)]
    if len(titled) == 1:
        return titled[0].id
    return open_deals[0].id if len(open_deals) == 1 else None
