""""Remind me of petr's birthday": a follow-up on the day the profile holds, every year, at the
start of the member's day in their time zone. The reminder loop writes next year's when this
year's is delivered (crmbot.store.profile.schedule_next_years)."""

from __future__ import annotations

from crmbot import yearly
from crmbot.intents import customer_edits, profile_view
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.messages import Reply
from crmbot.store import models, profile


async def remind_yearly(ctx: Context, intent: Intent) -> list[Reply]:
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    kind = intent.slots["occasion"]
    detail = str(intent.slots.get("occasion_detail") or "")
    fact = await _day_of(ctx, customer, kind, detail)
    replies: list[Reply] = []
    if fact is None and intent.slots.get("month") is not None:
        # "remind me of petr's birthday on 12 March": the day is kept first
        said = Intent("add_note", intent.locale, {"field": kind, "detail": detail, "month": intent.slots["month"],
                                                   "day": intent.slots.get("day"), "year": intent.slots.get("year")})
        replies = await customer_edits.keep(ctx, said, customer)
        if not replies or replies[0].kind != "customer_changed":
            return replies
        fact = await _day_of(ctx, customer, kind, detail)
    if fact is None:
        return [ctx.reply("fact_needs_day", customer=customer, kind=kind, occasion=profile_view.occasion_word(ctx, kind, detail))]
    occasion = profile_view.occasion_word(ctx, kind, fact.detail)
    for held in await profile.yearly_followups(ctx.session, ctx.team.id, fact.id):
        if held.member_id == ctx.member.id:
            return replies + [ctx.reply("yearly_set", customer=customer, occasion=occasion, followup=held, already=True)]
    note = ctx.t("yearly_note", name=customer.name, occasion=profile_view.fact_label(ctx, fact))
    followup = await ctx.create(models.FollowUp(
        team_id=ctx.team.id, customer_id=customer.id, member_id=ctx.member.id,
        due_at=yearly.first_after(fact.month, fact.day, ctx.now, ctx.tz), note=note, state="pending",
        created_at=ctx.now, attempts=0, late=False, every_year=yearly.anchor(fact.month, fact.day), fact_id=fact.id,
    ))
    return replies + [ctx.reply("yearly_set", customer=customer, occasion=occasion, followup=followup, already=False)]


async def _day_of(ctx: Context, customer: models.Customer, kind: str, detail: str) -> models.CustomerFact | None:
    """The customer's birthday, or their anniversary of this occasion (any, when none is named)."""
    held = [f for f in await profile.facts_of(ctx.session, ctx.team.id, customer.id)
            if f.kind == kind and f.month is not None and f.day is not None]
    if kind == "anniversary" and detail not in ("", "other"):
        held = [f for f in held if f.detail == detail] or held
    return held[0] if held else None
