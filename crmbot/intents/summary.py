"""Summaries for a period: the member's own for reps, the team's for managers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from crmbot.i18n import Formats, I18n, Translated
from crmbot.intents.context import Context
from crmbot.intents.insights import Rates
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router, allowed
from crmbot.messages import Bars, Chart, Reply
from crmbot.store import Session, models, records
from crmbot.text import fold, words

router = Router()


# the periods a summary covers (the parser's names, bench/corpora/SCHEMA.md); others read as this week
PERIODS = ("today", "this_week", "last_week", "this_month", "last_month", "this_quarter")
DEFAULT_PERIOD = "this_week"
ENDED = frozenset({"last_week", "last_month"})  # periods over before today: named with their days


def period_span(now: datetime, tz: str, period: str) -> tuple[datetime, datetime]:
    """[since, until) of a period in the member's time zone; a current period ends now."""
    local = now.astimezone(ZoneInfo(tz)).date()
    monday = local - timedelta(days=local.weekday())
    first = local.replace(day=1)
    start, end = {
        "today": (local, None),
        "last_week": (monday - timedelta(days=7), monday),
        "this_month": (first, None),
        "last_month": ((first - timedelta(days=1)).replace(day=1), first),
        "this_quarter": (first.replace(month=(first.month - 1) // 3 * 3 + 1), None),
    }.get(period, (monday, None))
    until = datetime.combine(end, time(0), ZoneInfo(tz)) if end else now + timedelta(seconds=1)
    return datetime.combine(start, time(0), ZoneInfo(tz)), until


def days_span(now: datetime, tz: str, first: date, last: date) -> tuple[datetime, datetime]:
    """[since, until) of the days first..last in the member's time zone, ending now at the latest."""
    zone = ZoneInfo(tz)
    until = datetime.combine(last + timedelta(days=1), time(0), zone)
    return datetime.combine(first, time(0), zone), min(until, now + timedelta(seconds=1))


def named_days(slots: dict) -> tuple[date, date] | None:
    """The first and last day a message named ("summary 1.11.-15.11."), or None."""
    days = slots.get("days")
    try:
        first, last = (date.fromisoformat(str(d)) for d in days)
    except (TypeError, ValueError):
        return None
    return (first, last) if first <= last else (last, first)


async def build(ctx: Context, period: str, whole_team: bool, rep: models.Member | None = None,
                days: tuple[date, date] | None = None) -> dict:
    """The team's numbers, or one member's: `rep`'s when a manager named one, else the asker's;
    over `days` when the message named them, else over the period."""
    since, until = days_span(ctx.now, ctx.tz, *days) if days else period_span(ctx.now, ctx.tz, period)
    owner = None if whole_team else (rep or ctx.member).id
    data = await gather(ctx.session, ctx.team.id, owner, since, until, ctx.now)
    return {"period": period, "days": days, "whole_team": whole_team, "rep": rep, **in_one_currency(data, Rates.of(ctx.team))}


async def named_rep(ctx: Context, text: str) -> models.Member | None:
    """A colleague a message names by first or full name ("summary for bob"), never the asker."""
    said = set(words(fold(text)))
    for member in (await records.members_by_id(ctx.session, ctx.team.id)).values():
        name = words(fold(member.name))
        if member.active and member.id != ctx.member.id and name and (name[0] in said or " ".join(name) in fold(text)):
            return member
    return None


def in_one_currency(data: dict, rates: Rates | None) -> dict:
    """With the team's exchange rates, each stage's value becomes one sum (the chart's won and
    lost values follow `data["rates"]`); without, money stays per currency."""
    if rates is not None:
        for row in data["pipeline"].values():
            row["values"] = rates.total(dict(row["values"]))
    return {**data, "rates": rates}


async def open_pipeline(session: Session, team_id: int, owner: int | None) -> dict[str, dict]:
    """The open deals by stage: how many, and their value per currency (the team's, or `owner`'s)."""
    pipeline: dict[str, dict] = {s: {"count": 0, "values": defaultdict(Decimal)} for s in models.OPEN_STAGES}
    for stage, currency, count, minor in await records.pipeline(session, team_id, owner):
        pipeline[stage]["count"] += count
        if minor:
            pipeline[stage]["values"][currency or ""] += Decimal(minor) / 100
    return pipeline


async def gather(session: Session, team_id: int, owner: int | None, since: datetime, until: datetime, now: datetime) -> dict:
    """A summary's numbers for [since, until): the team's, or one member's (`owner`)."""
    members = await records.members_by_id(session, team_id)
    pipeline = await open_pipeline(session, team_id, owner)
    closed = await records.closed_deals(session, team_id, since, until, owner)
    counts = await records.interaction_counts(session, team_id, since, until, owner)
    activity: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (member_id, kind), n in counts.items():
        activity[members[member_id].name if member_id in members else "?"][kind] += n
    # a rep's own: the complaints they handle (see `records.handled_by`)
    new_complaints = await records.complaints_since(session, team_id, since, until, handler_id=owner)
    open_complaints = await records.open_complaints(session, team_id, handler_id=owner)
    overdue = await records.pending_followups(session, team_id, owner, now)
    customers = await records.customers_by_id(session, team_id, {d.customer_id for d in closed})
    return {
        "since": since, "until": until, "pipeline": pipeline,
        "won": [d for d in closed if d.stage == "won"], "lost": [d for d in closed if d.stage == "lost"],
        "activity": {k: dict(v) for k, v in sorted(activity.items())}, "new_complaints": new_complaints,
        "open_complaints": open_complaints, "overdue": overdue, "customers": customers, "members": members,
    }


def _totals(f: Formats, count: int, values: dict[str, Decimal]) -> str:
    """"3 · €12K · CZK 150K": a bar's count and its value in each currency (never added up)."""
    return " · ".join([f.number(count), *(f.compact_money(v, c) for c, v in sorted(values.items()) if v)])


def _converted(data: dict, values: dict[str, Decimal]) -> dict[str, Decimal]:
    rates = data.get("rates")
    return rates.total(values) if rates is not None else values


def _value_by_currency(deals: list[models.Deal]) -> dict[str, Decimal]:
    values: dict[str, Decimal] = defaultdict(Decimal)
    for deal in deals:
        if deal.amount:
            values[deal.currency or ""] += Decimal(deal.amount)
    return values


def chart(i18n: I18n, code: str, tz: str, title: str, data: dict, filename: str) -> Chart:
    """A summary as a picture: the open pipeline by stage (when `data` has it), won and lost in
    the period, activity per member by kind. Counts are the bars (currencies are not added up);
    values are the notes. Shared by the summary on request and the managers' weekly digest."""
    f = Formats(i18n, code, tz)
    _ = i18n.translator(code)  # only msgids the summary's templates use: the catalogs have them all
    panels = []
    if "pipeline" in data:
        panels.append(Bars(_("Pipeline"), tuple(
            (f.stage(stage), (row["count"],), _totals(f, row["count"], row["values"])) for stage, row in data["pipeline"].items())))
    panels.append(Bars(f"{f.stage('won')} · {f.stage('lost')}", tuple(
        (f.stage(stage), (len(data[stage]),), _totals(f, len(data[stage]), _converted(data, _value_by_currency(data[stage]))))
        for stage in ("won", "lost"))))
    kinds = sorted({kind for counts in data["activity"].values() for kind in counts})
    panels.append(Bars(_("Activity"), tuple(
        (name, tuple(counts.get(kind, 0) for kind in kinds), f.number(sum(counts.values())))
        for name, counts in data["activity"].items()), tuple(i18n.string(code, f"kind.{k}") for k in kinds)))
    return Chart(title.replace("**", ""), tuple(panels), filename)


def period_words(ctx: Context, data: dict) -> tuple[str, str | None]:
    """The period as the reply names it, and its days when the name alone does not say them:
    ("last week", "16 – 22 Nov 2026"), ("this month", "since 1 Nov 2026"), ("1 – 15 Nov 2026", None)."""
    f, _ = Formats(ctx.i18n, ctx.locale, ctx.tz), ctx.i18n.translator(ctx.locale)
    if data.get("days"):
        return f.span(*data["days"]), None
    name = ctx.t(f"period.{data['period']}")
    if data["period"] in ENDED:
        zone = ZoneInfo(ctx.tz)
        last = (data["until"].astimezone(zone) - timedelta(days=1)).date()
        return name, f.span(data["since"].astimezone(zone).date(), last)
    return name, _("since %(day)s", day=f.day(data["since"]))


def _title(ctx: Context, data: dict) -> Translated:
    f, _ = Formats(ctx.i18n, ctx.locale, ctx.tz), ctx.i18n.translator(ctx.locale)
    period, days = period_words(ctx, data)
    if data["whole_team"]:
        title = _("**Team summary: %(period)s**", period=period)
    elif data.get("rep"):
        title = _("**%(name)s's summary: %(period)s**", name=data["rep"].name, period=period)
    else:
        title = _("**Your summary: %(period)s**", period=period)
    return Translated(title + f.paren(days)) if days else title


@router.intent("summary")
async def summary(ctx: Context, intent: Intent) -> list[Reply]:
    period = intent.slots.get("period") if intent.slots.get("period") in PERIODS else DEFAULT_PERIOD
    manager = allowed(ctx.member.role, "manager")
    rep = await named_rep(ctx, intent.slots.get("text", ""))
    if rep is not None and not manager:
        return [ctx.reply("not_allowed")]  # a colleague's numbers are for managers
    days = named_days(intent.slots)
    data = await build(ctx, period, manager and rep is None, rep, days)
    title = _title(ctx, data)
    picture = chart(ctx.i18n, ctx.locale, ctx.tz, title, data, f"summary-{days[0].isoformat() if days else period}.png")
    return [replace(ctx.reply("summary", title=title, **data), chart=picture)]
