"""Summaries for a period: the member's own for reps, the team's for managers."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router, allowed
from crmbot.messages import Reply
from crmbot.store import models, records

router = Router()


# the periods a summary covers (the parser's names, bench/corpora/SCHEMA.md); others read as this week
PERIODS = ("today", "this_week", "last_week", "this_month", "last_month", "this_quarter")
DEFAULT_PERIOD = "this_week"


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


async def build(ctx: Context, period: str, whole_team: bool) -> dict:
    team_id = ctx.team.id
    owner = None if whole_team else ctx.member.id
    since, until = period_span(ctx.now, ctx.tz, period)
    members = await records.members_by_id(ctx.session, team_id)
    pipeline: dict[str, dict] = {s: {"count": 0, "values": defaultdict(Decimal)} for s in models.OPEN_STAGES}
    for stage, currency, count, minor in await records.pipeline(ctx.session, team_id, owner):
        pipeline[stage]["count"] += count
        if minor:
            pipeline[stage]["values"][currency or ""] += Decimal(minor) / 100
    closed = await records.closed_deals(ctx.session, team_id, since, until, owner)
    counts = await records.interaction_counts(ctx.session, team_id, since, until, owner)
    activity: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (member_id, kind), n in counts.items():
        activity[members[member_id].name if member_id in members else "?"][kind] += n
    new_complaints = await records.complaints_since(ctx.session, team_id, since)
    open_complaints = await records.open_complaints(ctx.session, team_id)
    overdue = await records.pending_followups(ctx.session, team_id, owner, ctx.now)
    customers = await records.customers_by_id(ctx.session, team_id, {d.customer_id for d in closed})
    return {
        "period": period, "since": since, "whole_team": whole_team, "pipeline": pipeline,
        "won": [d for d in closed if d.stage == "won"], "lost": [d for d in closed if d.stage == "lost"],
        "activity": {k: dict(v) for k, v in sorted(activity.items())}, "new_complaints": new_complaints,
        "open_complaints": open_complaints, "overdue": overdue, "customers": customers, "members": members,
    }


@router.intent("summary")
async def summary(ctx: Context, intent: Intent) -> list[Reply]:
    period = intent.slots.get("period") if intent.slots.get("period") in PERIODS else DEFAULT_PERIOD
    whole_team = allowed(ctx.member.role, "manager")
    return [ctx.reply("summary", **await build(ctx, period, whole_team))]
