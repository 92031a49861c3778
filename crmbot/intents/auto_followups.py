"""Follow-ups a team asks for once and gets every time: "every new lead gets a call in 2 days",
"a resolved complaint gets a check-in call after 7 days" (`crmbot auto-follow-up set`).

They are made in the same action as what triggers them, so undoing that undoes them too, and
are delivered like any other follow-up."""

from __future__ import annotations

from datetime import timedelta

from crmbot.intents.context import Context
from crmbot.messages import Reply
from crmbot.store import models

NEW_LEAD, RESOLVED_COMPLAINT = "new_lead", "resolved_complaint"
TRIGGERS = (NEW_LEAD, RESOLVED_COMPLAINT)


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
