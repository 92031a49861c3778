"""The audit trail: who changed what, when, through which platform — and undo, which reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import driver_inserts, models, teams
from crmbot.store.types import UTCDateTime

ENTITIES: dict[str, type[models.Base]] = {
    "customer": models.Customer,
    "customer_fact": models.CustomerFact,
    "interaction": models.Interaction,
    "deal": models.Deal,
    "deal_stage_change": models.DealStageChange,
    "complaint": models.Complaint,
    "followup": models.FollowUp,
    "member": models.Member,
    "route": models.Route,
    "team": models.Team,
    "tag": models.Tag,
    "customer_tag": models.CustomerTag,
}
ENTITY_OF = {model: name for name, model in ENTITIES.items()}

# Delivery bookkeeping is the reminder loop's, not the user's: undo must not rewind it.
NOT_RESTORED = {"turn", "claimed_by", "claim_expires_at", "delivered_at", "attempts", "next_attempt_at", "last_error", "rev"}


@dataclass(frozen=True)
class Actor:
    """Who is making a change: recorded on every audit entry."""

    team_id: int
    member_id: int | None
    platform: str
    group_id: str  # one user action; undo reverses a whole group


def snapshot(row: models.Base) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, datetime):
            value = value.isoformat()
        data[column.key] = value
    return data


def recreate(model: type[models.Base], data: dict[str, Any]) -> models.Base:
    """A hard-deleted row as its snapshot holds it, with its old id: undo of a delete."""
    row = model()
    for column in row.__table__.columns:
        value = data.get(column.key)
        if value is not None and isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
        setattr(row, column.key, value)
    return row


def restore(row: models.Base, data: dict[str, Any]) -> None:
    for column in row.__table__.columns:
        if column.key not in data or column.primary_key or column.key in NOT_RESTORED:
            continue
        value = data[column.key]
        if value is not None and isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
        setattr(row, column.key, value)


def _entry(actor: Actor, now: datetime, action: str, row: models.Base, before: dict | None,
           customer_id: int | None) -> dict[str, Any]:
    """An audit entry's columns: who, when, what, and the row before and after."""
    return {"team_id": actor.team_id, "member_id": actor.member_id, "platform": actor.platform, "at": now,
            "group_id": actor.group_id, "action": action, "entity": ENTITY_OF[type(row)], "entity_id": row.id,
            "customer_id": customer_id, "before": before, "after": None if action == "delete" else snapshot(row)}


def record(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    action: str,
    row: models.Base,
    before: dict | None,
    *,
    customer_id: int | None = None,
) -> models.AuditEntry:
    entry = models.AuditEntry(**_entry(actor, now, action, row, before, customer_id))
    session.add(entry)
    return entry


_INSERT = insert(models.AuditEntry.__table__)


async def record_created(session: AsyncSession, actor: Actor, now: datetime, rows: list[models.Base],
                         customer_ids: list[int | None]) -> None:
    """`record` of rows just created, as one statement of plain values on the session's
    connection (not an ORM object and a flush each); the entries in the order given."""
    entries = [{**_entry(actor, now, "create", row, None, customer_id), "undone_at": None}
               for row, customer_id in zip(rows, customer_ids)]
    connection = await session.connection()
    if driver_inserts.applies(connection):
        await driver_inserts.insert_many(connection, models.AuditEntry.__table__, entries)
    else:
        await connection.execute(_INSERT, entries)


async def last_group(session: AsyncSession, team_id: int, member_id: int) -> list[models.AuditEntry]:
    """The member's most recent change that has not been undone, newest entry first."""
    latest = await session.scalar(
        select(models.AuditEntry.group_id)
        .where(
            models.AuditEntry.team_id == team_id,
            models.AuditEntry.member_id == member_id,
            models.AuditEntry.undone_at.is_(None),
            models.AuditEntry.action != "undo",
        )
        .order_by(models.AuditEntry.id.desc())
        .limit(1)
    )
    if latest is None:
        return []
    rows = await session.scalars(
        select(models.AuditEntry)
        .where(models.AuditEntry.team_id == team_id, models.AuditEntry.group_id == latest)
        .order_by(models.AuditEntry.id.desc())
    )
    return list(rows)


def _changes(team_id: int, member_id: int | None = None):
    """Audit entries that are changes a member may still undo: not undone, not undos."""
    where = [models.AuditEntry.team_id == team_id, models.AuditEntry.undone_at.is_(None), models.AuditEntry.action != "undo"]
    if member_id is not None:
        where.append(models.AuditEntry.member_id == member_id)
    return where


async def recent_groups(session: AsyncSession, team_id: int, member_id: int, limit: int) -> list[list[models.AuditEntry]]:
    """The member's latest changes not undone, newest first; each change is its group's
    entries, newest first (as `last_group` gives them)."""
    latest = await session.execute(
        select(models.AuditEntry.group_id, func.max(models.AuditEntry.id).label("last"))
        .where(*_changes(team_id, member_id))
        .group_by(models.AuditEntry.group_id)
        .order_by(func.max(models.AuditEntry.id).desc())
        .limit(limit)
    )
    order = [group_id for group_id, _ in latest.all()]
    if not order:
        return []
    rows = await session.scalars(
        select(models.AuditEntry)
        .where(models.AuditEntry.team_id == team_id, models.AuditEntry.group_id.in_(order))
        .order_by(models.AuditEntry.id.desc())
    )
    groups: dict[str, list[models.AuditEntry]] = {group_id: [] for group_id in order}
    for row in rows:
        groups[row.group_id].append(row)
    return [groups[group_id] for group_id in order]


async def group(session: AsyncSession, team_id: int, group_id: str) -> list[models.AuditEntry]:
    """One change's entries, newest first (undone or not)."""
    rows = await session.scalars(
        select(models.AuditEntry)
        .where(models.AuditEntry.team_id == team_id, models.AuditEntry.group_id == group_id, models.AuditEntry.action != "undo")
        .order_by(models.AuditEntry.id.desc())
    )
    return list(rows)


async def later_dependents(session: AsyncSession, team_id: int, entries: list[models.AuditEntry]) -> list[models.AuditEntry]:
    """Changes made after this group, by anyone, that undoing it would overwrite or strand:
    a later change to a row the group changed (undo would put back what that change replaced),
    or anything recorded on a customer the group created (undo would delete them from under
    it). Oldest first."""
    if not entries:
        return []
    touched: dict[str, set[int]] = {}
    for entry in entries:
        touched.setdefault(entry.entity, set()).add(entry.entity_id)
    created = {e.entity_id for e in entries if e.entity == "customer" and e.action == "create"}
    same_rows = [and_(models.AuditEntry.entity == entity, models.AuditEntry.entity_id.in_(ids)) for entity, ids in touched.items()]
    if created:
        same_rows.append(models.AuditEntry.customer_id.in_(created))
    group_ids = {e.group_id for e in entries}
    rows = await session.scalars(
        select(models.AuditEntry)
        .where(*_changes(team_id), models.AuditEntry.id > max(e.id for e in entries),
               models.AuditEntry.group_id.not_in(group_ids), or_(*same_rows))
        .order_by(models.AuditEntry.id)
    )
    return list(rows)


async def undo_group(session: AsyncSession, actor: Actor, now: datetime, entries: list[models.AuditEntry]) -> None:
    """Reverse each entry of one group, newest first, and record the undo itself."""
    for entry in entries:
        model = ENTITIES[entry.entity]
        row = await session.get(model, entry.entity_id)
        recreated = row is None and entry.action == "delete" and (entry.before or {}).get("team_id") == actor.team_id
        if recreated:
            row = recreate(model, entry.before)  # a row the change deleted outright comes back as it was
            session.add(row)
            await session.flush()
        if row is None or getattr(row, "team_id", actor.team_id) != actor.team_id:
            continue
        before = None if recreated else snapshot(row)
        if entry.action == "delete":
            pass  # brought back above; a soft delete is recorded as an update
        elif entry.action == "create":
            if hasattr(row, "deleted_at"):
                row.deleted_at = now
            else:
                await session.delete(row)
        elif entry.before is not None:
            restore(row, entry.before)
        entry.undone_at = now
        await session.flush()
        if isinstance(row, models.Customer):
            row.rev = await teams.bump_customer_rev(session, actor.team_id)
        session.add(
            models.AuditEntry(
                team_id=actor.team_id,
                member_id=actor.member_id,
                platform=actor.platform,
                at=now,
                group_id=actor.group_id,
                action="undo",
                entity=entry.entity,
                entity_id=entry.entity_id,
                customer_id=entry.customer_id,
                before=before,
                after=None if entry.action == "create" and not hasattr(row, "deleted_at") else snapshot(row),
            )
        )

