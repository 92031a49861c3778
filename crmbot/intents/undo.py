"""Undo: reverse the member's last change, read from the audit trail."""

from __future__ import annotations

from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.i18n import Formats
from crmbot.store import audit, models

router = Router()
DETAILS = frozenset({"deal_stage_change", "tag"})


async def details(ctx: Context, entry: models.AuditEntry) -> list[str]:
    """What the undone change was about, in a few words: whose, which deal, how much, which
    stage, when due. Never the raw text a member typed, beyond a follow-up's own note."""
    row = await ctx.session.get(audit.ENTITIES[entry.entity], entry.entity_id)
    if row is None or getattr(row, "team_id", None) != ctx.team.id:
        return []
    f = Formats(ctx.i18n, ctx.locale, ctx.tz)
    if isinstance(row, models.Member):
        return [row.name]
    customer_id = row.id if isinstance(row, models.Customer) else getattr(row, "customer_id", None)
    customer = await ctx.session.get(models.Customer, customer_id) if customer_id else None
    parts = [customer.display_name] if customer is not None else []
    if isinstance(row, models.Deal):
        parts += [row.title, *([f.money(row.amount, row.currency)] if row.amount is not None else []), f.stage(row.stage)]
    elif isinstance(row, models.Interaction):
        parts.append(ctx.t(f"kind.{row.kind}"))
    elif isinstance(row, models.FollowUp):
        parts += [row.note, f.when(row.due_at)]
    elif isinstance(row, (models.CustomerTag, models.Tag)):
        tag = row if isinstance(row, models.Tag) else await ctx.session.get(models.Tag, row.tag_id)
        parts.append(f"#{tag.name}")
    return [part for part in parts if part]


@router.intent("undo")
async def undo(ctx: Context, intent: Intent) -> list[Reply]:
    entries = await audit.last_group(ctx.session, ctx.team.id, ctx.member.id)
    if not entries:
        return [ctx.reply("nothing_to_undo")]
    # the group's first change names the action best; a stage move's history row and a new
    # tag's word are details of it
    what = next((e for e in reversed(entries) if e.entity not in DETAILS), entries[-1])
    await audit.undo_group(ctx.session, ctx.actor, ctx.now, entries)
    return [ctx.reply("undone", entity=what.entity, action=what.action, at=what.at, details=await details(ctx, what))]
