"""Complaints and their resolution."""

from __future__ import annotations

from crmbot.intents import auto_followups, notes
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import models, records, routes

router = Router()


@router.intent("complaint")
async def complaint(ctx: Context, intent: Intent) -> list[Reply]:
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    if intent.slots.get("due_unclear"):
        return [ctx.reply("due_needed")]  # a follow-up a century away is a slip: asked, nothing kept
    due = intent.slots.get("due")
    if due is not None and intent.slots.get("due_in_past"):
        return [ctx.reply("due_in_past", due=due)]
    text = notes.stored(ctx, intent, customer)
    row = models.Complaint(
        team_id=ctx.team.id, customer_id=customer.id, member_id=ctx.member.id, text=text,
        product=intent.slots.get("product"), severity=intent.slots.get("severity", "normal"), status="open",
        created_at=ctx.now,
    )
    # the team's routing rules pick who handles it (audited with it, so undone with it)
    row.assignee_id = await routes.assignee_for(ctx.session, ctx.team.id, customer, row)
    # "… remind me to call the courier Monday": the reporter's follow-up, written and undone with it
    followup = None if due is None else models.FollowUp(
        team_id=ctx.team.id, customer_id=customer.id, member_id=ctx.member.id, due_at=due, note=text,
        state="pending", created_at=ctx.now, attempts=0, late=False)
    await ctx.create_all([row] if followup is None else [row, followup])
    ctx.announce("announce_complaint", complaint=row, customer=customer)
    assignee = (await records.members_by_id(ctx.session, ctx.team.id)).get(row.assignee_id) if row.assignee_id else None
    if assignee is not None and assignee.id != ctx.member.id:
        await ctx.tell(assignee.id, "complaint_assigned", complaint=row, customer=customer, reporter=ctx.member)
    return [ctx.reply("complaint_recorded", complaint=row, customer=customer, assignee=assignee, followup=followup)]


@router.intent("resolve_complaint")
async def resolve_complaint(ctx: Context, intent: Intent) -> list[Reply]:
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    chosen = intent.slots.get("complaint_id")
    open_ones = await records.open_complaints(ctx.session, ctx.team.id, customer.id)
    if chosen is not None:
        open_ones = [c for c in open_ones if c.id == int(chosen)]
    if not open_ones:
        return [ctx.reply("no_open_complaint", customer=customer)]
    if len(open_ones) > 1:
        options = [(c.text[:40] or f"#{c.id}", "resolve_complaint", {**intent.slots, "customer_id": customer.id, "complaint_id": c.id}) for c in open_ones[:5]]
        return [ctx.reply("complaint_which", customer=customer, complaints=open_ones, buttons=await ctx.buttons(options))]
    row = open_ones[0]
    await ctx.update(row, status="resolved", resolution=notes.stored(ctx, intent, customer), resolved_at=ctx.now)
    # the check-in call goes to whoever handled the complaint
    handler = (await records.members_by_id(ctx.session, ctx.team.id)).get(row.assignee_id or row.member_id)
    if handler is None or not handler.active:  # who handled it has left: whoever resolved it
        handler = ctx.member
    return [ctx.reply("complaint_resolved", complaint=row, customer=customer),
            *await auto_followups.follow_up(ctx, auto_followups.RESOLVED_COMPLAINT, customer, handler)]
