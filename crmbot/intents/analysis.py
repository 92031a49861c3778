"""The manager's analysis in the chat: the funnel, why deals are lost, the forecast, and who is
at risk, with buttons to act on each customer at risk. Managers see the team's (or a rep's,
named: "funnel for bob"); a rep sees their own. The numbers are `insights`'."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from crmbot.i18n import Formats, I18n
from crmbot.intents import insights, summary
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router, allowed
from crmbot.messages import Bars, Chart, Reply
from crmbot.store import Session, models, records

router = Router()

DEFAULT_PERIOD = {"funnel": "this_month", "lost_analysis": "this_quarter"}
RISK_BUTTONS = 5  # customers at risk offered with buttons, one message each
RISK_NAMED = 10  # ... and after them this many more by name; the rest are counted
RANKED = 8  # lost reasons and competitors shown, most frequent first


def money_text(f: Formats, money: insights.Money, rates: insights.Rates | None) -> str:
    """"€5,000.00 · US$500.00", or one sum in the team's currency when it set exchange rates."""
    shown = rates.total(money) if rates else money
    return " · ".join(f.money(v, c or None) for c, v in sorted(shown.items()) if v)


async def whose(ctx: Context, intent: Intent) -> tuple[int | None, models.Member | None] | list[Reply]:
    """Whose numbers: (owner to count, the rep a manager named). A manager's are the team's
    (owner None), or a rep's they name; a rep's are their own, and a colleague's are refused."""
    manager = allowed(ctx.member.role, "manager")
    rep = await summary.named_rep(ctx, intent.slots.get("text", ""))
    if rep is not None and not manager:
        return [ctx.reply("not_allowed")]
    if manager:
        return (rep.id if rep else None), rep
    return ctx.member.id, None


def _period(intent: Intent) -> str:
    period = intent.slots.get("period")
    return period if period in summary.PERIODS else DEFAULT_PERIOD.get(intent.name, summary.DEFAULT_PERIOD)


@router.intent("funnel")
async def funnel(ctx: Context, intent: Intent) -> list[Reply]:
    scope = await whose(ctx, intent)
    if isinstance(scope, list):
        return scope
    owner, rep = scope
    period = _period(intent)
    since, until = summary.period_span(ctx.now, ctx.tz, period)
    found = await insights.funnel(ctx.session, ctx.team.id, since, until, ctx.now, owner)
    f = Formats(ctx.i18n, ctx.locale, ctx.tz)
    average = money_text(f, found.average_won, None)  # an average per currency: averages do not add up
    values = dict(period=period, since=since, whole_team=owner is None, rep=rep, funnel=found, average=average,
                  stages=models.OPEN_STAGES, customers=sorted(found.customer_share.items()))
    reply = ctx.reply("funnel", **values)
    _ = ctx.i18n.translator(ctx.locale)
    bars = Bars(_("Deals that got this far"), tuple(
        (f.stage(stage), (found.reached[stage],), f.number(found.reached[stage]))
        for stage in (*models.OPEN_STAGES, "won")))
    title = _("Funnel") + f.colon + ctx.t(f"period.{period}")
    return [replace(reply, chart=Chart(title, (bars,), f"funnel-{period}.png"))]


@router.intent("lost_analysis")
async def lost_analysis(ctx: Context, intent: Intent) -> list[Reply]:
    scope = await whose(ctx, intent)
    if isinstance(scope, list):
        return scope
    owner, rep = scope
    period = _period(intent)
    since, until = summary.period_span(ctx.now, ctx.tz, period)
    reasons, competitors = await insights.lost_reasons(ctx.session, ctx.team.id, since, until, owner)
    f, rates = Formats(ctx.i18n, ctx.locale, ctx.tz), insights.Rates.of(ctx.team)

    def rows(ranked: list[insights.LostReason]) -> list[tuple[str, int, str]]:
        return [(r.reason, r.count, money_text(f, r.value, rates)) for r in ranked[:RANKED]]

    return [ctx.reply("lost_analysis", period=period, since=since, whole_team=owner is None, rep=rep,
                      reasons=rows(reasons), competitors=rows(competitors))]


@router.intent("forecast")
async def forecast(ctx: Context, intent: Intent) -> list[Reply]:
    scope = await whose(ctx, intent)
    if isinstance(scope, list):
        return scope
    owner, rep = scope
    months = await insights.forecast(ctx.session, ctx.team, ctx.now, owner_id=owner, tz=ctx.tz)
    members = await records.members_by_id(ctx.session, ctx.team.id)
    f, rates = Formats(ctx.i18n, ctx.locale, ctx.tz), insights.Rates.of(ctx.team)
    shown = [{"month": m.month, "total": money_text(f, m.team, rates),
              "reps": sorted((members[r].name if r in members else "?", money_text(f, v, rates)) for r, v in m.by_rep.items())
              if owner is None else []}
             for m in months]
    chances = insights.probabilities(ctx.team)
    return [ctx.reply("forecast", whole_team=owner is None, rep=rep, months=shown,
                      chances=[(stage, float(chances[stage])) for stage in models.OPEN_STAGES])]


@router.intent("at_risk")
async def at_risk(ctx: Context, intent: Intent) -> list[Reply]:
    scope = await whose(ctx, intent)
    if isinstance(scope, list):
        return scope
    owner, rep = scope
    risk = await insights.at_risk(ctx.session, ctx.team, ctx.now, owner_id=owner)
    reasons = await risk_reasons(ctx.session, ctx.team.id, risk, ctx.now)
    ordered = [customer for customer, _ in reasons]
    why = {customer.id: said for customer, said in reasons}
    others = [c.display_name for c in ordered[RISK_BUTTONS:RISK_BUTTONS + RISK_NAMED]]
    header = ctx.reply("at_risk", whole_team=owner is None, rep=rep, totals=risk.totals, days=risk.days,
                       shown=min(len(ordered), RISK_BUTTONS), others=others,
                       more=max(0, len(ordered) - RISK_BUTTONS - RISK_NAMED))
    replies = [header]
    for customer in ordered[:RISK_BUTTONS]:
        buttons = await ctx.buttons(risk_buttons(ctx.i18n, ctx.locale, customer, why[customer.id]))
        replies.append(ctx.reply("at_risk_customer", customer=customer, reasons=why[customer.id], buttons=buttons))
    return replies


def risk_buttons(i18n: I18n, code: str, customer: models.Customer, reasons: list[dict] = ()) -> list[tuple[str, str, dict]]:
    """What a customer at risk is offered with, in the member's language: log a call (the next
    message is what was said), or a follow-up tomorrow 9:00 — about the deal, when one stalled
    deal is why they are at risk (deleting that deal cancels it)."""
    stalled = [r["deal_id"] for r in reasons if r.get("kind") == "deal" and r.get("deal_id") is not None]
    about = {"deal_id": stalled[0]} if len(stalled) == 1 else {}
    return [(i18n.string(code, "button.log_a_call"), "log_call", {"customer_id": customer.id, "ask": True}),
            (i18n.string(code, "button.follow_up_tomorrow"), "remind",
             {"customer_id": customer.id, "how": "tomorrow", "text": i18n.string(code, "risk.follow_up_note"), **about})]


async def risk_reasons(session: Session, team_id: int, risk: insights.AtRisk, now: datetime,
                       ) -> list[tuple[models.Customer, list[dict]]]:
    """Each customer at risk once, with every reason they are: an old complaint first, then a
    stalled deal, then silence (the order a manager would call them back in)."""
    people = await records.customers_by_id(session, team_id, {c.customer_id for c in risk.old_complaints}
                                           | {d.customer_id for d, _ in risk.stalled_deals})
    reasons: dict[int, list[dict]] = {}
    customers: dict[int, models.Customer] = {}
    for complaint in risk.old_complaints:
        if complaint.customer_id in people:
            customers[complaint.customer_id] = people[complaint.customer_id]
            reasons.setdefault(complaint.customer_id, []).append({"kind": "complaint", "since": complaint.created_at, "what": complaint.text})
    for deal, since in risk.stalled_deals:
        if deal.customer_id in people:
            customers[deal.customer_id] = people[deal.customer_id]
            reasons.setdefault(deal.customer_id, []).append({"kind": "deal", "since": since, "what": deal.title, "stage": deal.stage,
                                                                   "deal_id": deal.id})
    for customer, last in risk.quiet_customers:
        customers[customer.id] = customer
        reasons.setdefault(customer.id, []).append({"kind": "quiet", "since": last, "days": _days(now, last)})
    return [(customer, reasons[customer.id]) for customer in customers.values()]


def _days(now: datetime, since: datetime | None) -> int | None:
    return None if since is None else (now - since).days
