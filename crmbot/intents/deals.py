"""Deals through the pipeline: lead → qualified → proposal → negotiation → won/lost."""

from __future__ import annotations

from crmbot.i18n import Formats
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import models, records

router = Router()
MAX_AMOUNT = 10**12


def label(ctx: Context, deal: models.Deal) -> str:
    """A deal told apart from the customer's others: "Acme website · €50,000.00 · Proposal"."""
    f = Formats(ctx.i18n, ctx.locale, ctx.tz)
    parts = [deal.title, *([f.money(deal.amount, deal.currency)] if deal.amount is not None else []), f.stage(deal.stage)]
    return " · ".join(parts)


def _title(customer: models.Customer) -> str:
    return customer.company or customer.name


@router.intent("new_deal")
async def new_deal(ctx: Context, intent: Intent) -> list[Reply]:
    amount = intent.slots.get("amount")
    if intent.slots.get("amount_invalid") or (amount is not None and not 0 <= amount < MAX_AMOUNT):
        return [ctx.reply("amount_invalid")]
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    stage = intent.slots.get("stage") or "lead"
    currency = (intent.slots.get("currency") or (ctx.team.settings or {}).get("currency", "EUR")) if amount is not None else None
    deal = await ctx.create(
        models.Deal(
            team_id=ctx.team.id, customer_id=customer.id, owner_id=ctx.member.id, title=_title(customer),
            amount_minor=None if amount is None else int(amount * 100), currency=currency, stage=stage,
            expected_close=intent.slots.get("due"), created_at=ctx.now, updated_at=ctx.now,
            closed_at=ctx.now if stage in ("won", "lost") else None,
        )
    )
    await _record_move(ctx, deal, None, stage, None)
    return [ctx.reply("deal_created", deal=deal, customer=customer)]


@router.intent("move_deal")
async def move_deal(ctx: Context, intent: Intent) -> list[Reply]:
    stage = intent.slots.get("stage")
    if stage not in models.STAGES:
        return [ctx.reply("stage_needed")]
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    deal = await _deal_for(ctx, intent, customer)
    if isinstance(deal, Asked):
        return deal.replies
    if deal.stage == stage:
        return [ctx.reply("deal_already", deal=deal, customer=customer)]
    reason = intent.slots.get("reason") if stage == "lost" else None
    competitor = intent.slots.get("competitor") if stage == "lost" else None
    previous = deal.stage
    await _record_move(ctx, deal, previous, stage, reason)
    changes = {"stage": stage, "closed_at": ctx.now if stage in ("won", "lost") else None}
    if stage == "lost":
        changes.update(lost_reason=reason, competitor=competitor.title() if competitor else None)
    amount = intent.slots.get("amount")
    if amount is not None and 0 <= amount < MAX_AMOUNT:
        changes.update(amount_minor=int(amount * 100), currency=intent.slots.get("currency") or deal.currency)
    await ctx.update(deal, **changes)
    if stage in ("won", "lost"):
        ctx.announce("announce_deal", deal=deal, customer=customer)
    return [ctx.reply("deal_moved", deal=deal, customer=customer, previous=previous)]


async def _record_move(ctx: Context, deal: models.Deal, previous: str | None, stage: str, reason: str | None) -> None:
    await ctx.create(
        models.DealStageChange(team_id=ctx.team.id, deal_id=deal.id, member_id=ctx.member.id, from_stage=previous, to_stage=stage, reason=reason, changed_at=ctx.now)
    )


async def _deal_for(ctx: Context, intent: Intent, customer: models.Customer) -> models.Deal | Asked:
    """The deal a move means: the one picked by button, else the customer's only open deal;
    or which deal, when the customer has several."""
    chosen = intent.slots.get("deal_id")
    if chosen is not None:
        # locked and re-read: a move of this deal by another worker commits first, ours follows it
        deal = await records.lock_deal(ctx.session, ctx.team.id, int(chosen))
        return ctx.asked("no_open_deal", customer=customer) if deal is None else deal
    # Lock the customer's deals before choosing, so the choice below sees any move another
    # worker is making right now, just as if the two messages had come one after the other.
    await records.lock_customer_deals(ctx.session, ctx.team.id, customer.id)
    open_deals = await records.open_deals(ctx.session, ctx.team.id, customer.id)
    if len(open_deals) == 1:
        return open_deals[0]
    if not open_deals:
        latest = await records.latest_deal(ctx.session, ctx.team.id, customer.id, open_only=False)
        if latest is not None and intent.slots.get("stage") not in ("won", "lost"):
            return latest  # reopening a closed deal
        return ctx.asked("no_open_deal", customer=customer)
    options = [(label(ctx, d), "move_deal", {**intent.slots, "customer_id": customer.id, "deal_id": d.id}) for d in open_deals[:5]]
    return ctx.asked("deal_which", customer=customer, deals=open_deals, buttons=await ctx.buttons(options))
