"""Lists a member asks for: deals, customers, open complaints and follow-ups, filtered, one page
at a time, scoped by who asks. A rep sees what is theirs (and customers nobody owns yet); a
manager the team's. Counts and money totals are over the whole list, not just the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models

M = models


@dataclass(frozen=True)
class Scope:
    """Whose records a list may show: a team's, or one member's (`member_id`)."""

    team_id: int
    member_id: int | None = None  # None: the whole team's


@dataclass(frozen=True)
class Window:
    """[since, until): either end may be open."""

    since: datetime | None = None
    until: datetime | None = None


@dataclass
class Page:
    rows: list
    total: int
    # deals only: the whole list's value per currency ("" for deals without one)
    totals: dict[str, Decimal] | None = None


def _within(column, window: Window | None) -> list:
    if window is None:
        return []
    found = [column.is_not(None)]
    if window.since is not None:
        found.append(column >= window.since)
    if window.until is not None:
        found.append(column < window.until)
    return found


async def _page(session: AsyncSession, query, order: list, offset: int, limit: int) -> tuple[list, int]:
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(await session.scalars(query.order_by(*order).offset(offset).limit(limit)))
    return rows, total


def _tagged(tag_id: int):
    return exists().where(M.CustomerTag.customer_id == M.Customer.id, M.CustomerTag.tag_id == tag_id,
                          M.CustomerTag.deleted_at.is_(None))


async def deals(session: AsyncSession, scope: Scope, *, stages: tuple[str, ...], owner_id: int | None = None,
                customer_id: int | None = None, closing: Window | None = None, closed: Window | None = None,
                offset: int = 0, limit: int = 10) -> Page:
    """Deals in `stages`: a member's (the scope's, or `owner_id` a manager named), one
    customer's, those expected to close within `closing` or closed within `closed`. Soonest
    to close first."""
    where = [M.Deal.team_id == scope.team_id, M.Deal.deleted_at.is_(None), M.Deal.stage.in_(stages),
             *_within(M.Deal.expected_close, closing), *_within(M.Deal.closed_at, closed)]
    for owner in {scope.member_id, owner_id} - {None}:
        where.append(M.Deal.owner_id == owner)
    if customer_id is not None:
        where.append(M.Deal.customer_id == customer_id)
    # a deal of an erased or removed customer is gone with them
    where.append(exists().where(M.Customer.id == M.Deal.customer_id, M.Customer.deleted_at.is_(None)))
    rows, total = await _page(session, select(M.Deal).where(*where),
                              [M.Deal.expected_close.is_(None), M.Deal.expected_close, M.Deal.updated_at.desc(), M.Deal.id.desc()],
                              offset, limit)
    sums = await session.execute(
        select(M.Deal.currency, func.sum(M.Deal.amount_minor)).where(*where, M.Deal.amount_minor.is_not(None)).group_by(M.Deal.currency))
    totals = {currency or "": Decimal(minor or 0) / 100 for currency, minor in sums.all()}
    return Page(rows, total, {c: v for c, v in sorted(totals.items()) if v})


async def customers(session: AsyncSession, scope: Scope, *, status: str | None = None, tag_id: int | None = None,
                    owner_id: int | None = None, offset: int = 0, limit: int = 10) -> Page:
    """Live customers by status and/or tag, by name. A rep's list holds theirs and nobody's."""
    where = [M.Customer.team_id == scope.team_id, M.Customer.deleted_at.is_(None)]
    if scope.member_id is not None:
        where.append(or_(M.Customer.owner_id == scope.member_id, M.Customer.owner_id.is_(None)))
    if owner_id is not None:
        where.append(M.Customer.owner_id == owner_id)
    if status is not None:
        where.append(M.Customer.status == status)
    if tag_id is not None:
        where.append(_tagged(tag_id))
    rows, total = await _page(session, select(M.Customer).where(*where), [M.Customer.name, M.Customer.id], offset, limit)
    return Page(rows, total)


async def open_complaints(session: AsyncSession, scope: Scope, *, customer_id: int | None = None,
                          owner_id: int | None = None, offset: int = 0, limit: int = 10) -> Page:
    """Open complaints, oldest first. A rep's: those they handle or reported, and those nobody
    handles about customers they own or nobody owns."""
    where = [M.Complaint.team_id == scope.team_id, M.Complaint.deleted_at.is_(None), M.Complaint.status == "open",
             M.Customer.id == M.Complaint.customer_id, M.Customer.deleted_at.is_(None)]
    for member in {scope.member_id, owner_id} - {None}:
        where.append(or_(
            M.Complaint.assignee_id == member, M.Complaint.member_id == member,
            and_(M.Complaint.assignee_id.is_(None), or_(M.Customer.owner_id == member, M.Customer.owner_id.is_(None)))))
    if customer_id is not None:
        where.append(M.Complaint.customer_id == customer_id)
    rows, total = await _page(session, select(M.Complaint).where(*where), [M.Complaint.created_at, M.Complaint.id], offset, limit)
    return Page(rows, total)


async def followups(session: AsyncSession, scope: Scope, window: Window, *, offset: int = 0, limit: int = 10) -> Page:
    """Pending follow-ups due within `window`, soonest first: a member's, or the team's."""
    where = [M.FollowUp.team_id == scope.team_id, M.FollowUp.deleted_at.is_(None), M.FollowUp.state == "pending",
             *_within(M.FollowUp.due_at, window)]
    if scope.member_id is not None:
        where.append(M.FollowUp.member_id == scope.member_id)
    rows, total = await _page(session, select(M.FollowUp).where(*where), [M.FollowUp.due_at, M.FollowUp.id], offset, limit)
    return Page(rows, total)
