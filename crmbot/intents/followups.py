"""Follow-ups: setting reminders, the member's agenda, and what reminder buttons do."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from crmbot.intents import deal_links, notes, periods, yearly_reminders
from crmbot.intents.context import Asked, Context
from crmbot.intents.lists import PAGE, paged, pager, shown
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router, allowed
from crmbot.messages import Reply
from crmbot.store import lists, models, records

router = Router()
SNOOZE_MORNING = time(9, 0)


@router.intent("remind")
async def remind(ctx: Context, intent: Intent) -> list[Reply]:
    slots = intent.slots
    if slots.get("occasion") and (slots.get("month") is not None or (slots.get("due") is None and slots.get("delay") is None)):
        # "remind me of petr's birthday": every year on that day; but "remind me to buy her a
        # birthday present on Friday" is a reminder for Friday
        return await yearly_reminders.remind_yearly(ctx, intent)
    due = intent.slots.get("due")
    delay = intent.slots.get("delay")
    if due is None and delay is not None:
        due = ctx.now + delay
    if due is None and intent.slots.get("how"):
        due = snooze_until(ctx, intent.slots["how"])  # a button's "tomorrow 9:00", counted when pressed
    if due is None:
        return [ctx.reply("due_needed")]
    if intent.slots.get("due_in_past") or due < ctx.now:
        return [ctx.reply("due_in_past", due=due)]
    customer = await ctx.customer(intent, required=False)
    if isinstance(customer, Asked):
        return customer.replies
    note = notes.stored(ctx, intent, customer)
    followup = await ctx.create(
        models.FollowUp(
            team_id=ctx.team.id, customer_id=customer.id if customer else None, member_id=ctx.member.id, due_at=due,
            note=note, state="pending", created_at=ctx.now, attempts=0, late=False,
            deal_id=await deal_links.deal_meant(ctx, intent, customer),
        )
    )
    return [ctx.reply("reminder_set", followup=followup, customer=customer)]


@router.intent("agenda")
async def agenda(ctx: Context, intent: Intent) -> list[Reply]:
    """What is due: today's and what is overdue, or tomorrow's, this week's, this month's, a
    named day's, or only what is overdue. The member's own follow-ups; a manager who asks for
    the team's ("team's overdue follow-ups") gets everyone's."""
    whole_team = intent.slots.get("scope") == "team" and allowed(ctx.member.role, "manager")
    scope = lists.Scope(ctx.team.id, None if whole_team else ctx.member.id)
    span, window = _agenda_window(ctx, intent.slots.get("period"), intent.slots.get("day"))

    async def fetch(offset: int, limit: int) -> lists.Page:
        return await lists.followups(ctx.session, scope, window, offset=offset, limit=limit)

    page, found = await paged(intent, fetch)
    people = await records.customers_by_id(ctx.session, ctx.team.id, {f.customer_id for f in found.rows if f.customer_id})
    kept = {k: v for k, v in intent.slots.items() if k in ("period", "day", "scope") and v is not None}
    buttons = await pager(ctx, "agenda", kept, page, found.total)
    reply = ctx.reply("agenda", sections=_sections(ctx, found.rows), customers=people, span=span, day=window.since,
                      members=await records.members_by_id(ctx.session, ctx.team.id) if whole_team else {},
                      total=found.total, first=page * PAGE + 1, shown=len(found.rows), buttons=buttons)
    return [shown(reply, intent)]


def _agenda_window(ctx: Context, period: str | None, day: datetime | None) -> tuple[str, lists.Window]:
    """The span an agenda covers and its name: a named period, else a named day, else today
    (with what is overdue, as "this week" and "this month" have it too)."""
    today = periods.local_day(ctx.now, ctx.tz)
    if period == "overdue":
        return "overdue", lists.Window(None, ctx.now)
    if period == "tomorrow":
        return "tomorrow", periods.day_window(today + timedelta(days=1), ctx.tz)
    if period in ("this_week", "this_month"):
        return period, lists.Window(None, periods.window(ctx.now, ctx.tz, period).until)
    if day is not None and periods.local_day(day, ctx.tz) != today:
        wanted = periods.local_day(day, ctx.tz)
        return ("tomorrow" if wanted == today + timedelta(days=1) else "day"), periods.day_window(wanted, ctx.tz)
    return "today", lists.Window(None, periods.day_window(today, ctx.tz).until)


def _sections(ctx: Context, due: list[models.FollowUp]) -> list[dict]:
    """The page's follow-ups under headings: overdue, today, tomorrow, then each later day."""
    today = periods.local_day(ctx.now, ctx.tz)
    sections: list[dict] = []
    for followup in due:
        local = periods.local_day(followup.due_at, ctx.tz)
        kind = ("overdue" if followup.due_at < ctx.now else "today" if local == today
                else "tomorrow" if local == today + timedelta(days=1) else "day")
        if not sections or sections[-1]["kind"] != kind or (kind == "day" and sections[-1]["date"] != local):
            sections.append({"kind": kind, "date": local, "at": followup.due_at, "items": []})
        sections[-1]["items"].append(followup)
    return sections


async def _own_followup(ctx: Context, intent: Intent) -> models.FollowUp | Asked:
    """The follow-up a button names, or — for a typed "done" / "snooze 2h" — the member's
    reminder delivered last."""
    chosen = intent.slots.get("followup_id")
    if chosen is None:
        found = await records.last_delivered_followup(ctx.session, ctx.team.id, ctx.member.id)
    else:
        found = await ctx.session.get(models.FollowUp, int(chosen))
    if found is None or found.team_id != ctx.team.id or found.member_id != ctx.member.id or found.deleted_at is not None:
        return ctx.asked("followup_gone")
    return found


@router.intent("followup_done")
async def followup_done(ctx: Context, intent: Intent) -> list[Reply]:
    followup = await _own_followup(ctx, intent)
    if isinstance(followup, Asked):
        return followup.replies
    if followup.state == "done":
        return [ctx.reply("followup_already_done", followup=followup)]
    await ctx.update(followup, state="done")
    if followup.customer_id:
        await ctx.create(
            models.Interaction(
                team_id=ctx.team.id, customer_id=followup.customer_id, member_id=ctx.member.id, kind="note",
                summary=ctx.t("followup_done_note", note=followup.note), happened_at=ctx.now, created_at=ctx.now,
            )
        )
    return [ctx.reply("followup_done", followup=followup)]


def snooze_until(ctx: Context, how: str) -> datetime:
    """'1h', 'tomorrow' (9:00 local) or 'week' (next Monday 9:00 local)."""
    zone = ZoneInfo(ctx.tz)
    local = ctx.now.astimezone(zone)
    if how == "tomorrow":
        return datetime.combine(local.date() + timedelta(days=1), SNOOZE_MORNING, zone)
    if how == "week":
        return datetime.combine(local.date() + timedelta(days=7 - local.weekday()), SNOOZE_MORNING, zone)
    return ctx.now + timedelta(hours=1)


@router.intent("followup_snooze")
async def followup_snooze(ctx: Context, intent: Intent) -> list[Reply]:
    followup = await _own_followup(ctx, intent)
    if isinstance(followup, Asked):
        return followup.replies
    until = intent.slots.get("due") or (ctx.now + intent.slots["delay"] if intent.slots.get("delay") else snooze_until(ctx, intent.slots.get("how", "1h")))
    await ctx.update(
        followup, due_at=until, state="pending", delivered_at=None, claimed_by=None, claim_expires_at=None,
        attempts=0, next_attempt_at=None, late=False,
    )
    return [ctx.reply("followup_snoozed", followup=followup)]
