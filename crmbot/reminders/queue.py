"""Follow-up rows used as a delivery queue: claim with a lease, mark delivered, record failures.

Every state change is one conditional UPDATE, so two workers can't both win a row: on
PostgreSQL the pick is `FOR UPDATE SKIP LOCKED` (concurrent workers take different rows
instead of queueing), on SQLite the database has one writer and the UPDATE re-checks the
conditions it picked on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models

F = models.FollowUp
log = logging.getLogger(__name__)


def waiting() -> list:
    """Pending follow-ups nobody has delivered yet (due or not)."""
    return [F.state == "pending", F.deleted_at.is_(None), F.delivered_at.is_(None)]


def claimable(now: datetime) -> list:
    return [
        *waiting(),
        F.due_at <= now,
        or_(F.next_attempt_at.is_(None), F.next_attempt_at <= now),
        or_(F.claim_expires_at.is_(None), F.claim_expires_at <= now),
    ]


def reachable_members(platforms: Iterable[str]):
    """Members this worker can deliver to: an identity with a chat on one of its platforms."""
    return (
        select(models.Identity.member_id)
        .join(models.Member, models.Member.id == models.Identity.member_id)
        .where(models.Identity.platform.in_(list(platforms)), models.Identity.chat_id.is_not(None), models.Member.active)
    )


async def claim(session: AsyncSession, *, worker: str, now: datetime, lease: timedelta, limit: int,
                platforms: Iterable[str], postgres: bool) -> list[int]:
    """Take up to `limit` due rows for `worker` until now + lease, all in one UPDATE; returns
    their ids. Rows taken over from a worker whose lease ran out (it crashed, most likely) are
    logged."""
    pick = (
        select(F.id, F.claimed_by, F.claim_expires_at)
        .where(*claimable(now), F.member_id.in_(reachable_members(platforms)))
        .order_by(F.due_at, F.id)
        .limit(limit)
    )
    if postgres:
        # Lock the picked rows first, skipping rows another worker is claiming right now; a
        # LIMIT inside `UPDATE … WHERE id IN (…)` may be re-evaluated by the planner and take more.
        picked = (await session.execute(pick.with_for_update(of=F, skip_locked=True))).all()
        if not picked:
            return []
        target = F.id.in_([row.id for row in picked])
        lapsed = {row.id: row for row in picked if row.claim_expires_at is not None}
    else:
        # SQLite has one writer: the UPDATE picks the rows itself once it holds the file, so a
        # second worker claiming at the same moment takes the rows after the first one's
        target = F.id.in_(pick.with_only_columns(F.id).scalar_subquery())
        # what the claim takes over from a lapsed lease, for the log (read first: RETURNING
        # gives the new values); rarely any row
        lapsed = {row.id: row for row in (await session.execute(
            select(F.id, F.claimed_by, F.claim_expires_at).where(target, F.claim_expires_at.is_not(None)))).all()}
    result = await session.execute(
        update(F)
        .where(target, *claimable(now))
        .values(claimed_by=worker, claim_expires_at=now + lease)
        .returning(F.id)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(result.scalars().all())
    taken_over = [lapsed[i] for i in ids if i in lapsed]
    if taken_over:
        log.info("reminder(s) %s taken over: the lease of %s ran out %.1f s ago",
                 ",".join(str(row.id) for row in taken_over), ",".join(sorted({str(row.claimed_by) for row in taken_over})),
                 max((now - row.claim_expires_at).total_seconds() for row in taken_over))
    return ids


async def renew(session: AsyncSession, *, worker: str, followup_id: int, until: datetime) -> bool:
    """A fresh lease on a row `worker` still holds, undelivered; False when it holds it no more."""
    return followup_id in await renew_many(session, worker=worker, ids=[followup_id], until=until)


# The statements a reminder pass runs for every row, built once: building one costs more than
# running it. Plain table statements (no ORM bookkeeping: nothing here is loaded in a session).
T = F.__table__
_STILL_WAITING = (T.c.state == "pending", T.c.deleted_at.is_(None), T.c.delivered_at.is_(None))
_RENEW = (
    update(T)
    .where(T.c.id.in_(bindparam("ids", expanding=True)), T.c.claimed_by == bindparam("worker"),
           T.c.claim_expires_at.is_not(None), *_STILL_WAITING)
    .values(claim_expires_at=bindparam("until"))
    .returning(T.c.id)
)


def _mark(*which) -> object:
    return (
        update(T)
        .where(*which, T.c.claimed_by == bindparam("worker"), *_STILL_WAITING)
        .values(delivered_at=bindparam("now"), claim_expires_at=None, attempts=T.c.attempts + 1, next_attempt_at=None,
                last_error=None, late=case((T.c.due_at < bindparam("late_before", type_=T.c.due_at.type), True), else_=False))
        .returning(T.c.id, T.c.every_year)
    )


_MARK = _mark(T.c.id.in_(bindparam("ids", expanding=True)))
_MARK_ONE = _mark(T.c.id == bindparam("row_id"))  # what the loop runs: one row, just accepted


async def renew_many(session: AsyncSession, *, worker: str, ids: list[int], until: datetime) -> set[int]:
    """Fresh leases, in one statement, on those of these rows `worker` still holds undelivered;
    returns their ids."""
    if not ids:
        return set()
    result = await session.execute(_RENEW, {"ids": ids, "worker": worker, "until": until})
    return set(result.scalars().all())


RATE_LIMITED = ("rate limit", "ratelimited")  # how the adapters' DeliveryFailed names a 429


async def retry_now(session: AsyncSession, *, platform: str, now: datetime) -> int:
    """Reminders of `platform`'s members waiting out a backoff become due now, but those a
    rate limit deferred (the platform said how long to wait)."""
    result = await session.execute(
        update(F).where(*waiting(), F.next_attempt_at > now, F.member_id.in_(reachable_members([platform])),
                        *(F.last_error.not_like(f"%{words}%") for words in RATE_LIMITED))
        .values(next_attempt_at=now).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def mark_delivered(session: AsyncSession, *, worker: str, ids: list[int], now: datetime,
                         late_after: timedelta) -> dict[int, str | None]:
    """The platform took these: record it in the same rows. Returns the ids still ours (a row
    snoozed or re-claimed meanwhile is left alone), each with its `every_year` (a reminder that
    comes back every year, or None)."""
    values = {"worker": worker, "now": now, "late_before": now - late_after}
    ids = list(ids)
    if len(ids) == 1:
        result = await session.execute(_MARK_ONE, {**values, "row_id": ids[0]})
    else:
        result = await session.execute(_MARK, {**values, "ids": ids})
    return {row[0]: row[1] for row in result}


async def record_failure(session: AsyncSession, *, worker: str, followup_id: int, attempts: int, now: datetime,
                         error: str, retry_at: datetime | None) -> bool:
    """One failed attempt: retry at `retry_at`, or give up (state failed) when it is None."""
    values: dict = dict(attempts=attempts, last_error=error[:500], claim_expires_at=None, claimed_by=None)
    if retry_at is None:
        values.update(state="failed", next_attempt_at=None)
    else:
        values.update(next_attempt_at=retry_at)
    result = await session.execute(
        update(F).where(F.id == followup_id, F.claimed_by == worker, *waiting()).values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def next_wakeup(session: AsyncSession, now: datetime, platforms: Iterable[str]) -> datetime | None:
    """The earliest moment after `now` at which some row becomes claimable."""
    mine = F.member_id.in_(reachable_members(platforms))
    due = select(func.min(F.due_at)).where(*waiting(), mine, F.due_at > now, F.next_attempt_at.is_(None))
    retry = select(func.min(F.next_attempt_at)).where(*waiting(), mine, F.next_attempt_at > now)
    lease = select(func.min(F.claim_expires_at)).where(*waiting(), mine, F.claim_expires_at > now)
    moments = [await session.scalar(q) for q in (due, retry, lease)]
    found = [m for m in moments if m is not None]
    return min(found) if found else None


async def counts(session: AsyncSession, now: datetime, late_after: timedelta) -> dict[str, int]:
    """For `crmbot doctor`: how the queue looks right now."""
    async def n(*where) -> int:
        return await session.scalar(select(func.count()).select_from(F).where(*where)) or 0

    return {
        "pending": await n(*waiting()),
        "overdue": await n(*waiting(), F.due_at < now - late_after),
        "retrying": await n(*waiting(), F.next_attempt_at.is_not(None)),
        "in_flight": await n(*waiting(), F.claim_expires_at > now),
        "failed": await n(F.state == "failed", F.deleted_at.is_(None)),
        "delivered_late": await n(F.delivered_at.is_not(None), F.late, F.deleted_at.is_(None)),
    }


async def ended(session: AsyncSession, limit: int = 10) -> list[tuple[str, models.FollowUp]]:
    """For `crmbot doctor`: reminders that ended undelivered (refused for good, or retried for
    too long), latest first, with their member's name."""
    rows = await session.execute(
        select(models.Member.name, F).join(models.Member, models.Member.id == F.member_id)
        .where(F.state == "failed", F.deleted_at.is_(None)).order_by(F.due_at.desc(), F.id.desc()).limit(limit)
    )
    return [(name, row) for name, row in rows.all()]


async def unreachable_members(session: AsyncSession) -> list[str]:
    """Active members no adapter can reach: their reminders wait until they get a chat."""
    reachable = select(models.Identity.member_id).where(models.Identity.chat_id.is_not(None))
    rows = await session.scalars(select(models.Member.name).where(models.Member.active, models.Member.id.not_in(reachable)))
    return list(rows)
