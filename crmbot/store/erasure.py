"""Erasure of a person: their personal data removed everywhere, the fact of erasure kept.

Erasure is the one change undo cannot reverse — that is its point — so it is only reachable
with a confirmation (chat) or an explicit command (shell).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, shared_index, snapshot, tags, teams
from crmbot.store.audit import Actor

M = models
ERASED = "(erased)"


async def erase_customer(session: AsyncSession, actor: Actor, customer: M.Customer, now: datetime) -> dict[str, int]:
    """Wipe one customer's personal data in every table; returns how many rows were touched."""
    team_id, customer_id = actor.team_id, customer.id
    counts: dict[str, int] = {}

    async def wipe(model, values, *where) -> None:
        result = await session.execute(update(model).where(model.team_id == team_id, *where).values(**values))
        counts[model.__tablename__] = result.rowcount or 0

    await wipe(M.Interaction, {"summary": ERASED, "deleted_at": now}, M.Interaction.customer_id == customer_id)
    await wipe(M.Complaint, {"text": ERASED, "product": None, "resolution": None, "deleted_at": now}, M.Complaint.customer_id == customer_id)
    await wipe(M.FollowUp, {"note": ERASED, "state": "cancelled", "deleted_at": now}, M.FollowUp.customer_id == customer_id)
    await wipe(M.CustomerFact, {"value": ERASED, "detail": "", "month": None, "day": None, "year": None, "deleted_at": now},
               M.CustomerFact.customer_id == customer_id)
    deal_ids = list(await session.scalars(select(M.Deal.id).where(M.Deal.team_id == team_id, M.Deal.customer_id == customer_id)))
    await wipe(M.Deal, {"title": ERASED, "lost_reason": None, "competitor": None, "deleted_at": now}, M.Deal.customer_id == customer_id)
    if deal_ids:
        await wipe(M.DealStageChange, {"reason": None}, M.DealStageChange.deal_id.in_(deal_ids))
    counts[M.CustomerTag.__tablename__] = await tags.forget_customer(session, team_id, customer_id, now)
    # the audit trail keeps that things happened, not what they said
    await wipe(M.AuditEntry, {"before": None, "after": None}, M.AuditEntry.customer_id == customer_id)
    choices = await session.scalars(select(M.Choice).where(M.Choice.team_id == team_id))
    stale = [c for c in choices if (c.slots or {}).get("customer_id") == customer_id]
    for choice in stale:
        await session.delete(choice)
    counts["choices"] = len(stale)
    counts["pending_replies"] = await _forget_kept_replies(session, team_id, customer)

    customer.name, customer.company = ERASED, None
    customer.emails, customer.phones = [], []
    customer.address = customer.website = customer.notes = customer.lead_source = customer.preferred_channel = None
    customer.deleted_at, customer.updated_at = now, now
    customer.rev = await teams.bump_customer_rev(session, team_id)
    await snapshot.forget(session, team_id)  # a kept index still holds the name
    await shared_index.forget_customer(session, team_id, customer_id)  # and the index in the database
    session.add(
        M.AuditEntry(
            team_id=team_id, member_id=actor.member_id, platform=actor.platform, at=now, group_id=actor.group_id,
            action="erase", entity="customer", entity_id=customer_id, customer_id=customer_id, before=None, after=None,
        )
    )
    await session.flush()
    return counts


async def _forget_kept_replies(session: AsyncSession, team_id: int, customer: M.Customer) -> int:
    """Replies kept for a platform that was down (the outbox) are deleted when they name the
    customer: unsent, they would show what was just erased. Only this team's are read."""
    needles = [n for n in (customer.name, customer.company, *customer.emails, *customer.phones) if n and n.strip()]
    if not needles:
        return 0
    # a whole name, an address or a number, as written or HTML-escaped, never part of a longer word
    names = re.compile("|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for n in needles for v in {n.strip(), html.escape(n.strip())}),
                       re.IGNORECASE)
    rows = await session.execute(select(M.PendingReply.id, M.PendingReply.replies).where(M.PendingReply.team_id == team_id))
    doomed = [row_id for row_id, replies in rows.all() if any(names.search(text) for text in _words(replies))]
    if doomed:
        await session.execute(delete(M.PendingReply).where(M.PendingReply.team_id == team_id, M.PendingReply.id.in_(doomed)))
    return len(doomed)


def _words(stored: object) -> Iterator[str]:
    """Every string in kept replies as stored (texts, card fields, button labels), but images."""
    if isinstance(stored, str):
        yield stored
    elif isinstance(stored, list):
        for item in stored:
            yield from _words(item)
    elif isinstance(stored, dict):
        for key, value in stored.items():
            if key != "image":
                yield from _words(value)


async def history(session: AsyncSession, team_id: int, customer_id: int) -> list[M.AuditEntry]:
    """Everything the audit trail holds about one customer, oldest first."""
    return list(
        await session.scalars(
            select(M.AuditEntry)
            .where(M.AuditEntry.team_id == team_id, M.AuditEntry.customer_id == customer_id)
            .order_by(M.AuditEntry.at, M.AuditEntry.id)
        )
    )
