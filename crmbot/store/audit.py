"""The audit trail: who changed what, when, through which platform — and undo, which reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, teams
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


def restore(row: models.Base, data: dict[str, Any]) -> None:
    for column in row.__table__.columns:
        if column.key not in data or column.primary_key or column.key in NOT_RESTORED:
            continue
        value = data[column.key]
        if value is not None and isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
        setattr(row, column.key, value)


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
    entry = models.AuditEntry(
        team_id=actor.team_id,
        member_id=actor.member_id,
        platform=actor.platform,
        at=now,
        group_id=actor.group_id,
        action=action,
        entity=ENTITY_OF[type(row)],
        entity_id=row.id,
        customer_id=customer_id,
        before=before,
        after=None if action == "delete" else snapshot(row),
    )
    session.add(entry)
    return entry


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


async def undo_group(session: AsyncSession, actor: Actor, now: datetime, entries: list[models.AuditEntry]) -> None:
    """Reverse each entry of one group, newest first, and record the undo itself."""
    for entry in entries:
        model = ENTITIES[entry.entity]
        row = await session.get(model, entry.entity_id)
        if row is None or getattr(row, "team_id", actor.team_id) != actor.team_id:
            continue
        before = snapshot(row)
        if entry.action == "create":
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

