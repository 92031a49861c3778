"""Queries over what happened with customers: interactions, deals, complaints, follow-ups."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, upsert

M = models


async def recent_interactions(session: AsyncSession, team_id: int, customer_id: int, limit: int = 3) -> list[M.Interaction]:
    return list(
        await session.scalars(
            select(M.Interaction)
            .where(M.Interaction.team_id == team_id, M.Interaction.customer_id == customer_id, M.Interaction.deleted_at.is_(None))
            .order_by(M.Interaction.happened_at.desc(), M.Interaction.id.desc())
            .limit(limit)
        )
    )


async def open_deals(session: AsyncSession, team_id: int, customer_id: int | None = None, owner_id: int | None = None) -> list[M.Deal]:
    query = select(M.Deal).where(M.Deal.team_id == team_id, M.Deal.deleted_at.is_(None), M.Deal.stage.in_(M.OPEN_STAGES))
    if customer_id is not None:
        query = query.where(M.Deal.customer_id == customer_id)
    if owner_id is not None:
        query = query.where(M.Deal.owner_id == owner_id)
    return list(await session.scalars(query.order_by(M.Deal.updated_at.desc(), M.Deal.id.desc())))


async def latest_deal(session: AsyncSession, team_id: int, customer_id: int, *, open_only: bool) -> M.Deal | None:
    query = select(M.Deal).where(M.Deal.team_id == team_id, M.Deal.customer_id == customer_id, M.Deal.deleted_at.is_(None))
    if open_only:
        query = query.where(M.Deal.stage.in_(M.OPEN_STAGES))
    return await session.scalar(query.order_by(M.Deal.updated_at.desc(), M.Deal.id.desc()).limit(1))


async def lock_deal(session: AsyncSession, team_id: int, deal_id: int) -> M.Deal | None:
    """A live deal, locked until the transaction ends and re-read from the database.

    FOR UPDATE makes a second worker moving the same deal wait for the first to commit;
    populate_existing then replaces any stale copy in the session with the committed row.
    SQLite ignores FOR UPDATE: there one writer holds the whole file anyway.
    """
    return await session.scalar(
        select(M.Deal)
        .where(M.Deal.team_id == team_id, M.Deal.id == deal_id, M.Deal.deleted_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_customer_deals(session: AsyncSession, team_id: int, customer_id: int) -> list[M.Deal]:
    """Every deal of a customer, locked and re-read as in `lock_deal`; in id order, so two
    workers locking the same deals always take them in the same order (no deadlock)."""
    return list(
        await session.scalars(
            select(M.Deal)
            .where(M.Deal.team_id == team_id, M.Deal.customer_id == customer_id)
            .order_by(M.Deal.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def handled_by(team_id: int, member_id: int):
    """A rep's complaints: assigned to them, or assigned to nobody and about a customer of theirs."""
    theirs = select(M.Customer.id).where(M.Customer.team_id == team_id, M.Customer.owner_id == member_id)
    return (M.Complaint.assignee_id == member_id) | (M.Complaint.assignee_id.is_(None) & M.Complaint.customer_id.in_(theirs))


async def open_complaints(session: AsyncSession, team_id: int, customer_id: int | None = None,
                          handler_id: int | None = None) -> list[M.Complaint]:
    """The team's open complaints, or one customer's; only those `handler_id` handles when given."""
    query = select(M.Complaint).where(M.Complaint.team_id == team_id, M.Complaint.deleted_at.is_(None), M.Complaint.status == "open")
    if customer_id is not None:
        query = query.where(M.Complaint.customer_id == customer_id)
    if handler_id is not None:
        query = query.where(handled_by(team_id, handler_id))
    return list(await session.scalars(query.order_by(M.Complaint.created_at, M.Complaint.id)))


async def next_followup(session: AsyncSession, team_id: int, customer_id: int) -> M.FollowUp | None:
    return await session.scalar(
        select(M.FollowUp)
        .where(M.FollowUp.team_id == team_id, M.FollowUp.customer_id == customer_id, M.FollowUp.deleted_at.is_(None), M.FollowUp.state == "pending")
        .order_by(M.FollowUp.due_at)
        .limit(1)
    )


async def open_followups_of_deal(session: AsyncSession, team_id: int, deal_id: int) -> list[M.FollowUp]:
    """The follow-ups about a deal still to be reminded of: what deleting the deal cancels."""
    return list(await session.scalars(
        select(M.FollowUp)
        .where(M.FollowUp.team_id == team_id, M.FollowUp.deal_id == deal_id, M.FollowUp.deleted_at.is_(None), M.FollowUp.state == "pending")
        .order_by(M.FollowUp.due_at, M.FollowUp.id)
    ))


async def pending_followups(session: AsyncSession, team_id: int, member_id: int | None, until: datetime) -> list[M.FollowUp]:
    query = select(M.FollowUp).where(
        M.FollowUp.team_id == team_id, M.FollowUp.deleted_at.is_(None), M.FollowUp.state == "pending", M.FollowUp.due_at <= until
    )
    if member_id is not None:
        query = query.where(M.FollowUp.member_id == member_id)
    return list(await session.scalars(query.order_by(M.FollowUp.due_at, M.FollowUp.id)))


async def last_delivered_followup(session: AsyncSession, team_id: int, member_id: int) -> M.FollowUp | None:
    return await session.scalar(
        select(M.FollowUp)
        .where(M.FollowUp.team_id == team_id, M.FollowUp.member_id == member_id, M.FollowUp.deleted_at.is_(None),
               M.FollowUp.state == "pending", M.FollowUp.delivered_at.is_not(None))
        .order_by(M.FollowUp.delivered_at.desc(), M.FollowUp.id.desc())
        .limit(1)
    )


async def customers_by_id(session: AsyncSession, team_id: int, ids: set[int]) -> dict[int, M.Customer]:
    if not ids:
        return {}
    rows = await session.scalars(select(M.Customer).where(M.Customer.team_id == team_id, M.Customer.id.in_(ids)))
    return {c.id: c for c in rows}


async def members_by_id(session: AsyncSession, team_id: int) -> dict[int, M.Member]:
    rows = await session.scalars(select(M.Member).where(M.Member.team_id == team_id))
    return {m.id: m for m in rows}


async def interaction_counts(session: AsyncSession, team_id: int, since: datetime, until: datetime, member_id: int | None) -> dict[tuple[int, str], int]:
    query = (
        select(M.Interaction.member_id, M.Interaction.kind, func.count())
        .where(M.Interaction.team_id == team_id, M.Interaction.deleted_at.is_(None), M.Interaction.happened_at >= since, M.Interaction.happened_at < until)
        .group_by(M.Interaction.member_id, M.Interaction.kind)
    )
    if member_id is not None:
        query = query.where(M.Interaction.member_id == member_id)
    return {(m, k): n for m, k, n in (await session.execute(query)).all()}


async def pipeline(session: AsyncSession, team_id: int, owner_id: int | None) -> list[tuple[str, str | None, int, int]]:
    """(stage, currency, deal count, amount in minor units) for open deals."""
    query = (
        select(M.Deal.stage, M.Deal.currency, func.count(), func.coalesce(func.sum(M.Deal.amount_minor), 0))
        .where(M.Deal.team_id == team_id, M.Deal.deleted_at.is_(None), M.Deal.stage.in_(M.OPEN_STAGES))
        .group_by(M.Deal.stage, M.Deal.currency)
    )
    if owner_id is not None:
        query = query.where(M.Deal.owner_id == owner_id)
    return [tuple(r) for r in (await session.execute(query)).all()]


async def closed_deals(session: AsyncSession, team_id: int, since: datetime, until: datetime, owner_id: int | None) -> list[M.Deal]:
    query = select(M.Deal).where(
        M.Deal.team_id == team_id, M.Deal.deleted_at.is_(None), M.Deal.stage.in_(("won", "lost")),
        M.Deal.closed_at >= since, M.Deal.closed_at < until,
    )
    if owner_id is not None:
        query = query.where(M.Deal.owner_id == owner_id)
    return list(await session.scalars(query.order_by(M.Deal.closed_at)))


async def complaints_since(session: AsyncSession, team_id: int, since: datetime, until: datetime | None = None,
                           handler_id: int | None = None) -> list[M.Complaint]:
    query = select(M.Complaint).where(M.Complaint.team_id == team_id, M.Complaint.deleted_at.is_(None), M.Complaint.created_at >= since)
    if until is not None:
        query = query.where(M.Complaint.created_at < until)
    if handler_id is not None:
        query = query.where(handled_by(team_id, handler_id))
    return list(await session.scalars(query))


async def mark_processed(session: AsyncSession, platform: str, message_id: str, now: datetime) -> bool:
    """Record a platform message id; False when it was already handled (a redelivery).

    The insert skips a conflicting id instead of failing, so an IntegrityError while handling a
    message is never a redelivery. On PostgreSQL it waits for a concurrent handler of the same id:
    False once that one committed, True (ours to handle) if it rolled back."""
    inserted = await session.execute(
        upsert.insert(session, M.ProcessedMessage)
        .values(platform=platform, message_id=message_id, processed_at=now)
        .on_conflict_do_nothing(index_elements=["platform", "message_id"])
        .returning(M.ProcessedMessage.message_id)
    )
    return inserted.first() is not None
