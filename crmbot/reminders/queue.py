"""Follow-up rows used as a delivery queue: claim with a lease, mark delivered, record failures.

Every state change is one conditional UPDATE, so two workers can't both win a row: on
PostgreSQL the pick is `FOR UPDATE SKIP LOCKED` (concurrent workers take different rows
instead of queueing), on SQLite the database has one writer and the UPDATE re-checks the
conditions it picked on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, Text, and_, bindparam, case, cast, column, func, literal_column, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models
from crmbot.store.types import UTCDateTime

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


@dataclass(frozen=True, slots=True)
class Reader:
    """The member a claimed reminder goes to: what rendering it needs."""

    id: int
    team_id: int
    locale: str
    timezone: str


@dataclass(frozen=True, slots=True)
class About:
    """The customer a claimed reminder is about (alive, in the reminder's team)."""

    id: int
    name: str
    company: str | None

    @property
    def display_name(self) -> str:
        return f"{self.name} ({self.company})" if self.company else self.name


def _with_reader(claimed) -> Any:
    """Claimed follow-up rows (a table or a CTE of its columns) with their member's language
    and time zone and their customer's name, in one SELECT; the customer only while alive and
    in the reminder's team."""
    M, C = models.Member.__table__, models.Customer.__table__
    return (
        select(claimed, M.c.locale.label("reader_locale"), M.c.timezone.label("reader_timezone"),
               C.c.id.label("about_id"), C.c.name.label("about_name"), C.c.company.label("about_company"))
        .join_from(claimed, M, M.c.id == claimed.c.member_id)
        .outerjoin(C, and_(C.c.id == claimed.c.customer_id, C.c.deleted_at.is_(None), C.c.team_id == claimed.c.team_id))
        .order_by(claimed.c.due_at, claimed.c.id)
    )


def reader(row: Row) -> Reader:
    return Reader(row.member_id, row.team_id, row.reader_locale, row.reader_timezone)


def about(row: Row) -> About | None:
    return About(row.about_id, row.about_name, row.about_company) if row.about_id is not None else None


_CLAIM_PG = None


def _claim_pg():
    """The PostgreSQL claim of `claim_loaded`, built once (building and keying a statement this
    size cost more than running it): pick (locked, skipping rows being claimed elsewhere; a
    materialised CTE is evaluated once, so its LIMIT holds), claim (UPDATE … RETURNING) and
    join what rendering needs."""
    global _CLAIM_PG
    if _CLAIM_PG is None:
        T = F.__table__
        now = bindparam("now", type_=UTCDateTime())
        picked = (
            select(T.c.id, T.c.claimed_by, T.c.claim_expires_at)
            # 'pending' written in the statement, not bound: a prepared statement's generic plan
            # can then still use the partial index of what waits (ix_followups_waiting_due)
            .where(T.c.state == literal_column("'pending'"), T.c.deleted_at.is_(None), T.c.delivered_at.is_(None), T.c.due_at <= now,
                   or_(T.c.next_attempt_at.is_(None), T.c.next_attempt_at <= now),
                   or_(T.c.claim_expires_at.is_(None), T.c.claim_expires_at <= now),
                   T.c.member_id.in_(
                       select(models.Identity.member_id)
                       .join(models.Member, models.Member.id == models.Identity.member_id)
                       .where(models.Identity.platform.in_(bindparam("platforms", expanding=True)),
                              models.Identity.chat_id.is_not(None), models.Member.active)))
            .order_by(T.c.due_at, T.c.id)
            .limit(bindparam("limit", type_=Integer()))
            .with_for_update(of=T, skip_locked=True)
            .cte("picked")
            .prefix_with("MATERIALIZED")
        )
        claimed = (
            update(T)
            # the picked rows are locked (their conditions re-checked on their latest versions as
            # they were locked): checking them again here only misleads the planner
            .where(T.c.id == picked.c.id)
            .values(claimed_by=bindparam("worker"), claim_expires_at=bindparam("until", type_=UTCDateTime()))
            .returning(*T.c, picked.c.claimed_by.label("was_claimed_by"), picked.c.claim_expires_at.label("was_expiring"))
            .cte("claimed")
        )
        _CLAIM_PG = _with_reader(claimed)
    return _CLAIM_PG


async def claim_loaded(session: AsyncSession, *, worker: str, now: datetime, lease: timedelta, limit: int,
                       platforms: Iterable[str], postgres: bool) -> list[Row]:
    """`claim`, returning the claimed rows with what rendering them needs (`reader`, `about`),
    oldest due first. On PostgreSQL one statement picks (`FOR UPDATE SKIP LOCKED`, in a
    materialised CTE: evaluated once, so its LIMIT holds), claims (UPDATE … RETURNING) and joins
    the member and the customer; on SQLite the claim's UPDATE is followed by one joined SELECT."""
    T = F.__table__
    if not postgres:
        ids = await claim(session, worker=worker, now=now, lease=lease, limit=limit, platforms=platforms, postgres=False)
        if not ids:
            return []
        return list((await session.execute(_with_reader(T).where(T.c.id.in_(ids), T.c.claimed_by == worker))).all())
    rows = list((await session.execute(_claim_pg(), {"now": now, "until": now + lease, "worker": worker, "limit": limit,
                                                      "platforms": list(platforms)})).all())
    taken_over = [row for row in rows if row.was_expiring is not None]
    if taken_over:
        log.info("reminder(s) %s taken over: the lease of %s ran out %.1f s ago",
                 ",".join(str(row.id) for row in taken_over), ",".join(sorted({str(row.was_claimed_by) for row in taken_over})),
                 max((now - row.was_expiring).total_seconds() for row in taken_over))
    return rows


_CHOICES_PG = None


def _choices_pg():
    """INSERT … SELECT FROM json_to_recordset(:rows): a batch's buttons in one statement of
    fixed text, bound with one JSON text (encoded in C; arrays a column cost the driver more
    than the insert), the batch's created_at beside it."""
    global _CHOICES_PG
    if _CHOICES_PG is None:
        C = models.Choice.__table__
        given = func.json_to_recordset(cast(bindparam("rows", type_=Text()), JSON)).table_valued(
            column("token", Text()), column("set_id", Text()), column("team_id", Integer()), column("member_id", Integer()),
            column("intent", Text()), column("slots", JSON()), column("label", Text())).render_derived(name="given", with_types=True)
        names = ["token", "set_id", "team_id", "member_id", "intent", "slots", "label"]
        _CHOICES_PG = C.insert().from_select([*names, "created_at"], select(*(given.c[n] for n in names),
                                                                                bindparam("created_at", type_=UTCDateTime())))
    return _CHOICES_PG


def _null(value: Any) -> None:
    return None


async def store_choices(session: AsyncSession, rows: list[dict[str, Any]], *, postgres: bool) -> None:
    """The buttons' Choice rows of a batch of reminders (all made at one moment)."""
    if not rows:
        return
    created_at = rows[0]["created_at"]
    if not postgres or any(row["created_at"] != created_at for row in rows):
        await session.execute(models.Choice.__table__.insert(), rows)
        return
    # the rows as they are: json_to_recordset reads the columns it names and ignores the rest
    # (the times, written as null here, are the statement's created_at and the column's null)
    given = json.dumps(rows, default=_null)
    await session.execute(_choices_pg(), {"rows": given, "created_at": created_at})


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
# the same, only for reminders that don't come back every year (nothing else to write with them)
_MARK_PLAIN = _mark(T.c.id.in_(bindparam("ids", expanding=True)), T.c.every_year.is_(None))
_MARK_ONE_PLAIN = _mark(T.c.id == bindparam("row_id"), T.c.every_year.is_(None))


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
                         late_after: timedelta, yearly: bool = True) -> dict[int, str | None]:
    """The platform took these: record it in the same rows. Returns the ids still ours (a row
    snoozed or re-claimed meanwhile is left alone), each with its `every_year` (a reminder that
    comes back every year, or None). `yearly=False`: only the rows that don't come back every
    year are recorded (those that do are left for a transaction that writes next year's)."""
    values = {"worker": worker, "now": now, "late_before": now - late_after}
    ids = list(ids)
    if len(ids) == 1:
        result = await session.execute(_MARK_ONE if yearly else _MARK_ONE_PLAIN, {**values, "row_id": ids[0]})
    else:
        result = await session.execute(_MARK if yearly else _MARK_PLAIN, {**values, "ids": ids})
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
    # one round trip for the three
    moments = (await session.execute(select(due.scalar_subquery(), retry.scalar_subquery(), lease.scalar_subquery()))).one()
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
