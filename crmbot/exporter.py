"""JSON export of a team's data, or of everything held about one person."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, tags

M = models


def row_json(row: M.Base, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        if column.key in drop:
            continue
        value = getattr(row, column.key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        out[column.key] = value
    return out


# what each exported kind leaves out of its rows: bookkeeping of the store, not the team's data
DROPPED = {"deals": ("amount_minor",), "customers": ("rev",),
           "followups": ("claimed_by", "claim_expires_at", "attempts", "next_attempt_at", "last_error")}
MODELS = {"customers": M.Customer, "interactions": M.Interaction, "deals": M.Deal, "complaints": M.Complaint,
          "followups": M.FollowUp}


def columns(entity: str) -> list[str]:
    """The keys of an exported row of `entity` (one of MODELS), in order: a CSV of none has its header."""
    keys = [c.key for c in MODELS[entity].__table__.columns if c.key not in DROPPED.get(entity, ())]
    return keys + {"deals": ["amount"], "customers": ["tags"]}.get(entity, [])


def _deal(row: M.Deal) -> dict[str, Any]:
    data = row_json(row, drop=DROPPED["deals"])
    data["amount"] = float(row.amount) if row.amount is not None else None
    return data


async def export_team(session: AsyncSession, team_id: int, customer_ids: set[int] | None = None) -> dict[str, list]:
    """Every live entity of a team (or only those about `customer_ids`), as JSON-ready lists."""

    async def rows(model, *extra):
        query = select(model).where(model.team_id == team_id, *extra)
        if hasattr(model, "deleted_at"):
            query = query.where(model.deleted_at.is_(None))
        if customer_ids is not None:
            key = model.id if model is M.Customer else model.customer_id
            query = query.where(key.in_(customer_ids))
        return list(await session.scalars(query.order_by(model.id)))

    deals = await rows(M.Deal)
    history = []
    if deals:
        history = list(await session.scalars(
            select(M.DealStageChange).where(M.DealStageChange.team_id == team_id, M.DealStageChange.deal_id.in_([d.id for d in deals])).order_by(M.DealStageChange.id)
        ))
    people = await rows(M.Customer)
    carried = await tags.of_customers(session, team_id, [c.id for c in people])
    return {
        "customers": [{**row_json(c, drop=DROPPED["customers"]), "tags": carried.get(c.id, [])} for c in people],
        "interactions": [row_json(i) for i in await rows(M.Interaction)],
        "deals": [_deal(d) for d in deals],
        "deal_stage_changes": [row_json(h) for h in history],
        "complaints": [row_json(c) for c in await rows(M.Complaint)],
        "followups": [
            row_json(f, drop=DROPPED["followups"]) for f in await rows(M.FollowUp)
        ],
        # the personal profile: birthdays, anniversaries, family, hobbies, memberships
        "customer_facts": [row_json(f) for f in await rows(M.CustomerFact)],
    }
