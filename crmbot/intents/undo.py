"""Undo: reverse the member's last change, read from the audit trail."""

from __future__ import annotations

from crmbot.intents import profile_view
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.i18n import Formats
from crmbot.store import audit, models

router = Router()


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
    if isinstance(row, models.Customer) and entry.action == "update":
        parts += await _restored(ctx, entry, row)
    elif isinstance(row, models.CustomerFact):
        parts += [f"{profile_view.fact_label(ctx, row)}{f.colon}{profile_view.fact_value(ctx, row)}"]
    elif isinstance(row, models.Deal):
        parts += [row.title, *([f.money(row.amount, row.currency)] if row.amount is not None else []), f.stage(row.stage)]
        if entry.action == "update" and "expected_close" in _changed(entry):
            parts.append(f"{ctx.t('deal_field.expected_close')}{f.colon}{f.day(row.expected_close)}")
    if entry.action == "update" and "deleted_at" in _changed(entry) and getattr(row, "deleted_at", None) is None:
        parts.append(ctx.t("undo_back"))  # a deletion undone: it is back
    elif isinstance(row, models.Interaction):
        parts.append(ctx.t(f"kind.{row.kind}"))
    elif isinstance(row, models.FollowUp):
        parts += [row.note, f.when(row.due_at)]
    return [part for part in parts if part]


# a customer's columns a member changes by chat, and the label each is shown with
CUSTOMER_FIELDS = {"phones": "phone", "emails": "email", "website": "website", "company": "company", "address": "address",
                   "status": "status", "preferred_channel": "channel", "owner_id": "owner"}


def _changed(entry: models.AuditEntry) -> set[str]:
    before, after = entry.before or {}, entry.after or {}
    return {key for key in after if key in before and before[key] != after[key]}


async def _restored(ctx: Context, entry: models.AuditEntry, row: models.Customer) -> list[str]:
    """What an undone change of a customer put back: "Phone: +420 777 123 457"."""
    f = Formats(ctx.i18n, ctx.locale, ctx.tz)
    shown = []
    for column, field in CUSTOMER_FIELDS.items():
        if column not in _changed(entry):
            continue
        if column == "owner_id":
            owner = await ctx.session.get(models.Member, row.owner_id) if row.owner_id else None
            value = owner.name if owner is not None else "—"
        else:
            value = profile_view.field_value(ctx, column, getattr(row, column)) or "—"
        shown.append(f"{profile_view.label(ctx, f'field.{field}')}{f.colon}{value}")
    return shown


@router.intent("undo")
async def undo(ctx: Context, intent: Intent) -> list[Reply]:
    entries = await audit.last_group(ctx.session, ctx.team.id, ctx.member.id)
    if not entries:
        return [ctx.reply("nothing_to_undo")]
    # the group's first change names the action best; a stage move's history row is its detail
    what = next((e for e in reversed(entries) if e.entity != "deal_stage_change"), entries[-1])
    await audit.undo_group(ctx.session, ctx.actor, ctx.now, entries)
    return [ctx.reply("undone", entity=what.entity, action=what.action, at=what.at, details=await details(ctx, what))]
