"""Scheduled digests: each member's morning digest, and the managers' weekly summary.

A digest is due once per *local* date: `DigestSent(member, kind, local_date)` is the key, so
a DST change can neither repeat it (the 02:30 that happens twice in autumn) nor skip it (the
02:30 that never happens in spring is reached at 03:00, still on the same local date).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.i18n import Formats, I18n
from crmbot.intents import analysis, insights, summary
from crmbot.intents.context import offer
from crmbot.messages import Chart, Reply
from crmbot.reminders.lease import Renewing, later
from crmbot.store import models, records

MORNING = "morning"
WEEKLY = "weekly"
WEEKLY_AT = time(9, 0)  # Monday, local
WEEKLY_RISKS = 3  # customers gone quiet, complaints open too long and stalled deals the weekly summary names
DEFAULT_DIGEST_AT = time(8, 30)
D = models.DigestSent


@dataclass(frozen=True)
class DueDigest:
    member_id: int
    team_id: int
    kind: str
    local_date: date

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.member_id, self.kind, self.local_date.isoformat())


def zone_of(member: models.Member) -> ZoneInfo:
    try:
        return ZoneInfo(member.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def digest_time(member: models.Member) -> time:
    try:
        hours, minutes = (member.digest_time or "").split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        return DEFAULT_DIGEST_AT


def scheduled(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant a local wall-clock time happens on a day. A time inside the spring gap
    (fold=0) resolves to the same wall time after the jump, i.e. later that morning."""
    return datetime.combine(day, at, zone)


def due(member: models.Member, now: datetime) -> list[DueDigest]:
    """The digests this member should have had by `now` on their current local date."""
    zone = zone_of(member)
    today = now.astimezone(zone).date()
    joined = member.created_at or now

    def fell_due(at: time) -> bool:
        # a member who joined after today's time has not missed today's digest: theirs starts tomorrow
        return joined <= scheduled(today, at, zone) <= now

    out = []
    if today.weekday() < 5 and fell_due(digest_time(member)):
        out.append(DueDigest(member.id, member.team_id, MORNING, today))
    if member.role in ("manager", "admin") and today.weekday() == 0 and fell_due(WEEKLY_AT):
        out.append(DueDigest(member.id, member.team_id, WEEKLY, today))
    return out


async def delivered_keys(session: AsyncSession, wanted: list[DueDigest]) -> set[tuple[int, str, str]]:
    if not wanted:
        return set()
    rows = await session.execute(
        select(D.member_id, D.kind, D.local_date).where(
            D.member_id.in_({d.member_id for d in wanted}), D.local_date.in_({d.local_date.isoformat() for d in wanted}),
            D.delivered_at.is_not(None),
        )
    )
    return {tuple(r) for r in rows.all()}


async def claim(sessions, digest: DueDigest, *, worker: str, now: datetime, lease: timedelta) -> bool:
    """Insert the row as our claim; or take over a claim whose holder died before marking it."""
    try:
        async with sessions() as session, session.begin():
            session.add(D(member_id=digest.member_id, kind=digest.kind, local_date=digest.local_date.isoformat(),
                          team_id=digest.team_id, sent_at=now, claimed_by=worker, claim_expires_at=now + lease))
        return True
    except IntegrityError:
        pass
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(D)
            .where(D.member_id == digest.member_id, D.kind == digest.kind, D.local_date == digest.local_date.isoformat(),
                   D.delivered_at.is_(None), D.claim_expires_at <= now)
            .values(claimed_by=worker, claim_expires_at=now + lease, sent_at=now)
        )
        return result.rowcount == 1


def extend(digest: DueDigest, worker: str):
    """A lease renewal (see `lease.Renewal`) of our claim on this digest while it is being sent."""

    def statement(until: datetime):
        return update(D).where(D.member_id == digest.member_id, D.kind == digest.kind, D.local_date == digest.local_date.isoformat(),
                               D.claimed_by == worker, D.delivered_at.is_(None)).values(claim_expires_at=later(D.claim_expires_at, until))

    return Renewing(statement)


async def finish(sessions, digest: DueDigest, *, worker: str, now: datetime, retry_at: datetime | None) -> None:
    """Mark delivered, or (retry_at given) keep the claim until then so anyone may try again."""
    values = dict(delivered_at=now, claim_expires_at=None) if retry_at is None else dict(claim_expires_at=retry_at)
    async with sessions() as session, session.begin():
        await session.execute(
            update(D).where(D.member_id == digest.member_id, D.kind == digest.kind,
                            D.local_date == digest.local_date.isoformat(), D.claimed_by == worker,
                            D.delivered_at.is_(None)).values(**values)
        )


# -- what a digest says -------------------------------------------------------------------------


async def morning_values(session: AsyncSession, member: models.Member, now: datetime) -> dict:
    zone = zone_of(member)
    end_of_day = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(0), zone)
    due_rows = await records.pending_followups(session, member.team_id, member.id, end_of_day)
    failed = list(await session.scalars(
        select(models.FollowUp).where(models.FollowUp.team_id == member.team_id, models.FollowUp.member_id == member.id,
                                      models.FollowUp.state == "failed", models.FollowUp.deleted_at.is_(None))
        .order_by(models.FollowUp.due_at)
    ))
    people = await records.customers_by_id(session, member.team_id, {f.customer_id for f in [*due_rows, *failed] if f.customer_id})
    return {
        "member": member, "overdue": [f for f in due_rows if f.due_at < now], "today": [f for f in due_rows if f.due_at >= now],
        "failed": failed, "customers": people,
        "morning": now.astimezone(zone).hour < 12,  # a digest set for the evening, or sent late, greets otherwise
    }


async def weekly_values(session: AsyncSession, member: models.Member, now: datetime) -> dict:
    team_id = member.team_id
    since = now - timedelta(days=7)
    members = await records.members_by_id(session, team_id)
    activity: dict[str, dict[str, int]] = defaultdict(dict)
    for (member_id, kind), n in (await records.interaction_counts(session, team_id, since, now, None)).items():
        activity[members[member_id].name if member_id in members else "?"][kind] = n
    closed = await records.closed_deals(session, team_id, since, now, None)
    overdue: dict[str, int] = defaultdict(int)
    for f in await records.pending_followups(session, team_id, None, now):
        overdue[members[f.member_id].name if f.member_id in members else "?"] += 1
    failed = await session.scalar(
        select(func.count()).select_from(models.FollowUp).where(
            models.FollowUp.team_id == team_id, models.FollowUp.state == "failed", models.FollowUp.deleted_at.is_(None))
    )
    team = await session.get(models.Team, team_id)
    risk = await insights.at_risk(session, team, now, limit=WEEKLY_RISKS)
    risky = await records.customers_by_id(session, team_id, {d.customer_id for d, _ in risk.stalled_deals}
                                          | {c.customer_id for c in risk.old_complaints})
    return {
        "member": member, "since": since, "activity": dict(sorted(activity.items())),
        "quiet": [customer for customer, _ in risk.quiet_customers],
        "stalled": [(deal, risky.get(deal.customer_id)) for deal, _ in risk.stalled_deals],
        "old_complaints": [(complaint, risky.get(complaint.customer_id)) for complaint in risk.old_complaints],
        "won": [d for d in closed if d.stage == "won"], "lost": [d for d in closed if d.stage == "lost"],
        "new_complaints": await records.complaints_since(session, team_id, since),
        "open_complaints": await records.open_complaints(session, team_id),
        "overdue": dict(sorted(overdue.items())), "failed": failed or 0,
        "at_risk": (await analysis.risk_reasons(session, team_id, risk, now))[:WEEKLY_RISKS],
        # for the chart: the open pipeline by stage, in one currency when the team set rates
        **summary.in_one_currency({"pipeline": await summary.open_pipeline(session, team_id, None)}, insights.Rates.of(team)),
    }


def weekly_risk_replies(i18n: I18n, session: AsyncSession, member: models.Member, values: dict, now: datetime) -> list[Reply]:
    """The top customers at risk, one message each with the buttons "who's at risk" offers: log
    a call, follow up tomorrow. The buttons are the manager's, kept in `session`'s transaction."""
    out = []
    for customer, reasons in values["at_risk"]:
        buttons = offer(session, member, now, analysis.risk_buttons(i18n, member.locale, customer, reasons))
        text = i18n.render(member.locale, "at_risk_customer", member.timezone, customer=customer, reasons=reasons)
        out.append(Reply(text, buttons=buttons, kind="at_risk_customer", team_id=member.team_id))
    return out


def weekly_chart(i18n: I18n, member: models.Member, values: dict) -> Chart:
    """The weekly summary's picture: the open pipeline by stage, won and lost this week, and
    each rep's activity."""
    f, _ = Formats(i18n, member.locale, member.timezone), i18n.translator(member.locale)
    title = _("**Your team's week** (since %(since)s)", since=f.day(values["since"]))  # the template's own words
    return summary.chart(i18n, member.locale, member.timezone, title, values, "weekly-summary.png")
