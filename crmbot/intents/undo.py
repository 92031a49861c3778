"""Undo: reverse the member's last change, or one they pick from their history, read from the
audit trail; refused when a later change builds on it (undoing it would corrupt that one)."""

from __future__ import annotations

from typing import Any

from crmbot.intents import profile_view
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.i18n import Formats
from crmbot.store import audit, models, records

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
    if isinstance(row, models.Customer):
        named = [_as_recorded(row, entry.after)]
        return named + (await _restored(ctx, entry, row) if entry.action == "update" else [])
    customer_id = getattr(row, "customer_id", None)
    customer = await ctx.session.get(models.Customer, customer_id) if customer_id else None
    parts = [customer.display_name] if customer is not None else []
    if isinstance(row, models.CustomerFact):
        parts += [f"{profile_view.fact_label(ctx, row)}{f.colon}{profile_view.fact_value(ctx, row)}"]
    elif isinstance(row, models.Deal):
        parts += [row.title, *([f.money(row.amount, row.currency)] if row.amount is not None else []), f.stage(row.stage)]
        if entry.action == "update" and "expected_close" in _changed(entry):
            parts.append(f"{ctx.t('deal_field.expected_close')}{f.colon}{f.day(row.expected_close)}")
    elif isinstance(row, models.Interaction):
        parts.append(ctx.t(f"kind.{row.kind}"))
    elif isinstance(row, models.FollowUp):
        parts += [row.note, f.when(row.due_at)]
    elif isinstance(row, (models.CustomerTag, models.Tag)):
        tag = row if isinstance(row, models.Tag) else await ctx.session.get(models.Tag, row.tag_id)
        parts.append(f"#{tag.name}")
    if isinstance(row, models.Deal) and entry.action == "update" and "deleted_at" in _changed(entry) \
            and row.deleted_at is None:
        parts.append(ctx.t("undo_back"))  # a deletion undone: it is back
    return [part for part in parts if part]


def _as_recorded(customer: models.Customer, snapshot: dict | None) -> str:
    """A customer's name as a change left it (a later merge or edit may have renamed them)."""
    if snapshot and snapshot.get("name"):
        company = snapshot.get("company")
        return f"{snapshot['name']} ({company})" if company else snapshot["name"]
    return customer.display_name


async def described(ctx: Context, entries: list[models.AuditEntry]) -> dict[str, Any]:
    """One change (a group's entries, newest first) as the undo reply and the history name it:
    what kind of row, what was done, when, and the few words of `details`."""
    # the group's first change names the action best; a stage move's history row and a new
    # tag's word are details of it
    what = next((e for e in reversed(entries) if e.entity not in DETAILS), entries[-1])
    if what.action == "merge":  # both customers as they were before, the one kept first
        found = []
        for entry in reversed(entries):
            if entry.action == "merge" and entry.entity == "customer":
                customer = await ctx.session.get(models.Customer, entry.entity_id)
                if customer is not None and customer.team_id == ctx.team.id:
                    found.append(_as_recorded(customer, entry.before))
    else:
        found = await details(ctx, what)
    return {"entity": what.entity, "action": what.action, "at": what.at, "details": found}


async def undo_entries(ctx: Context, entries: list[models.AuditEntry]) -> list[Reply]:
    """Undo one change, or say why not: a later change (anyone's) that builds on it."""
    if any(e.action == "erase" for e in entries):
        return [ctx.reply("undo_erased")]  # erasure is the one change that stays done
    later = await audit.later_dependents(ctx.session, ctx.team.id, entries)
    if later:
        blocking = [e for e in await audit.group(ctx.session, ctx.team.id, later[0].group_id) if e.undone_at is None]
        who = (await records.members_by_id(ctx.session, ctx.team.id)).get(later[0].member_id)
        return [ctx.reply("undo_blocked", later=await described(ctx, blocking or later[:1]), by=who,
                          yours=later[0].member_id == ctx.member.id)]
    await audit.undo_group(ctx.session, ctx.actor, ctx.now, entries)
    return [ctx.reply("undone", **await described(ctx, entries))]  # the rows as the undo left them
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
    group_id = intent.slots.get("group_id")  # a change picked from "what did I change"
    if group_id:
        entries = [e for e in await audit.group(ctx.session, ctx.team.id, str(group_id)) if e.member_id == ctx.member.id]
        if entries and all(e.undone_at is not None for e in entries):
            return [ctx.reply("undo_already")]
        entries = [e for e in entries if e.undone_at is None]
    else:
        entries = await audit.last_group(ctx.session, ctx.team.id, ctx.member.id)
    if not entries:
        return [ctx.reply("nothing_to_undo")]
    return await undo_entries(ctx, entries)
