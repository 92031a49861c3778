"""Follow-ups a team asks for once and gets every time: "every new lead gets a call in 2 days",
"a resolved complaint gets a check-in call after 7 days" (said by a manager in the chat, in
any of the six languages, or `crmbot auto-follow-up set`).

They are made in the same action as what triggers them, so undoing that undoes them too, and
are delivered like any other follow-up."""

from __future__ import annotations

import re
from datetime import timedelta

from crmbot.i18n import Language
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import models
from crmbot.text import fold

router = Router()

NEW_LEAD, RESOLVED_COMPLAINT = "new_lead", "resolved_complaint"
TRIGGERS = (NEW_LEAD, RESOLVED_COMPLAINT)
MAX_DAYS = 365


def read(language: Language, text: str) -> tuple[str | None, float | None]:
    """What a sentence asks for: (trigger, days after it), each None when it does not say.
    The words are the language's `[auto_followup]` table: regular expressions over the folded
    text; `days` and `weeks` capture a number (`n`), `a_week` means seven days."""
    table = language.data.get("auto_followup", {})
    folded = fold(text)

    def found(key: str) -> re.Match | None:
        return next((m for m in (re.search(p, folded) for p in table.get(key, ())) if m), None)

    trigger = RESOLVED_COMPLAINT if found("resolved_complaint") else NEW_LEAD if found("new_lead") else None
    days = None
    if (match := found("days")) is not None:
        days = float(match.group("n"))
    elif (match := found("weeks")) is not None:
        days = 7 * float(match.group("n"))
    elif found("a_week") is not None:
        days = 7.0
    return trigger, days


@router.intent("auto_followup_set", role="manager")
async def auto_followup_set(ctx: Context, intent: Intent) -> list[Reply]:
    """"every new lead gets a call follow-up in 2 days": the team's rule, changed at once (it is
    a setting, audited; "undo" takes it back)."""
    trigger, days = read(ctx.i18n.language(intent.locale), intent.slots.get("text", ""))
    if trigger is None or days is None or not 0 < days <= MAX_DAYS:
        return [ctx.reply("auto_followup_what")]
    settings = dict(ctx.team.settings or {})
    rules = {**(settings.get("auto_followups") or {}), trigger: {"days": int(days) if days == int(days) else days}}
    await ctx.update(ctx.team, settings={**settings, "auto_followups": rules})
    return [ctx.reply("auto_followup_saved", trigger=trigger, days=days, note=_default_note(ctx, ctx.member, trigger))]


def rule(team: models.Team, trigger: str) -> dict | None:
    return ((team.settings or {}).get("auto_followups") or {}).get(trigger)


def _default_note(ctx: Context, member: models.Member, trigger: str) -> str:
    _ = ctx.i18n.translator(member.locale)  # in the words of whoever will be reminded
    return _("Call the new lead") if trigger == NEW_LEAD else _("Check in after the resolved complaint")


async def follow_up(ctx: Context, trigger: str, customer: models.Customer, member: models.Member) -> list[Reply]:
    """The team's follow-up for `trigger` on `customer`, for `member`; the reply saying so."""
    wanted = rule(ctx.team, trigger)
    if not wanted:
        return []
    followup = await ctx.create(models.FollowUp(
        team_id=ctx.team.id, customer_id=customer.id, member_id=member.id,
        due_at=ctx.now + timedelta(days=float(wanted["days"])), note=wanted.get("note") or _default_note(ctx, member, trigger),
        state="pending", created_at=ctx.now, attempts=0, late=False))
    return [ctx.reply("reminder_set", followup=followup, customer=customer)]
