"""The analysis a manager acts on: the funnel, why deals are lost, the forecast, who is drifting
away. Plain arithmetic over the team's deals and their stage history (`store.analytics`);
money stays per currency unless the team set exchange rates (`crmbot rates set`)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from crmbot.store import Session, analytics, models
from crmbot.text import fold

OPEN = models.OPEN_STAGES
# how likely a deal at each open stage is to be won: a team may set its own ("stage_probability")
DEFAULT_PROBABILITY = {"lead": Decimal("0.1"), "qualified": Decimal("0.25"), "proposal": Decimal("0.5"),
                       "negotiation": Decimal("0.75")}
# after how many days quiet a customer, an open complaint or a deal counts as at risk ("risk_days")
DEFAULT_RISK_DAYS = {"customer": 30, "complaint": 7, "deal": 21}
RISK_LIST = 20  # the longest-quiet first: a list a manager reads to the end
RISK_KINDS = tuple(DEFAULT_RISK_DAYS)

Money = dict[str, Decimal]  # currency -> amount ("" when a deal has none)


@dataclass(frozen=True)
class Rates:
    """Exchange rates to one currency, as a team set them: 1 EUR = 25.2 CZK is {"EUR": 25.2}."""

    base: str
    per_unit: dict[str, Decimal]

    @classmethod
    def of(cls, team: models.Team) -> Rates | None:
        stored = (team.settings or {}).get("rates")
        if not stored or not stored.get("base"):
            return None
        return cls(stored["base"], {c: Decimal(str(r)) for c, r in stored.get("per_unit", {}).items()})

    def total(self, money: Money) -> Money:
        """One sum in the base currency, or the money as it was when a currency has no rate."""
        if any(c and c != self.base and c not in self.per_unit for c in money):
            return money
        return {self.base: sum((v if c in ("", self.base) else v * self.per_unit[c] for c, v in money.items()), Decimal(0))}


def risk_days(team: models.Team) -> dict[str, int]:
    """After how many days each kind counts as at risk: the team's own, else the defaults."""
    return {**DEFAULT_RISK_DAYS, **{k: int(v) for k, v in ((team.settings or {}).get("risk_days") or {}).items() if k in DEFAULT_RISK_DAYS}}


def probabilities(team: models.Team) -> dict[str, Decimal]:
    """How likely a deal at each open stage is to be won: the team's own, else the defaults."""
    own = (team.settings or {}).get("stage_probability") or {}
    return {**DEFAULT_PROBABILITY, **{s: Decimal(str(p)) for s, p in own.items() if s in DEFAULT_PROBABILITY}}


def add(money: Money, deal: analytics.DealFacts, weight: Decimal = Decimal(1)) -> None:
    if deal.amount is not None:
        money[deal.currency or ""] = money.get(deal.currency or "", Decimal(0)) + deal.amount * weight


@dataclass
class Funnel:
    reached: dict[str, int]  # deals of the period that got at least this far
    conversion: dict[str, float | None]  # stage -> share that went on to the next stage
    open_share: dict[str, float]  # open deals now, share at each stage
    customer_share: dict[str, float]  # customers by status
    days_in_stage: dict[str, float | None]  # mean days a deal spent at each open stage, over the stays that ended
    win_rate: float | None  # of the deals closed in the period
    average_won: Money  # per currency
    won: int = 0
    lost: int = 0


@dataclass
class LostReason:
    reason: str
    count: int = 0
    value: Money = field(default_factory=dict)


@dataclass
class Forecast:
    """Weighted open pipeline expected to close in a month, per rep and for the team."""

    month: datetime
    team: Money
    by_rep: dict[int, Money]


@dataclass
class AtRisk:
    quiet_customers: list[tuple[models.Customer, datetime | None]]  # and when last contacted
    old_complaints: list[models.Complaint]
    stalled_deals: list[tuple[models.Deal, datetime]]  # and since when at their stage
    totals: dict[str, int]  # how many of each there are, beyond the lists
    days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_RISK_DAYS))  # the thresholds used


def _reached(history: list[analytics.StageChange], deal: analytics.DealFacts) -> set[str]:
    """Every stage a deal was recorded at, its current one included."""
    return {change.to_stage for change in history} | {deal.stage}


async def funnel(session: Session, team_id: int, since: datetime, until: datetime, now: datetime,
                 owner_id: int | None = None, deals: list[analytics.DealFacts] | None = None) -> Funnel:
    """`deals`: the team's (or the owner's) deals when the caller read them already."""
    if deals is None:
        deals = await analytics.deals(session, team_id, owner_id)
    history = await analytics.stage_changes(session, team_id, {d.id for d in deals})
    cohort = [d for d in deals if since <= d.created_at < until]
    reached: Counter[str] = Counter()
    for deal in cohort:
        got = _reached(history.get(deal.id, []), deal)
        furthest = max((OPEN.index(s) for s in got if s in OPEN), default=-1)
        if "won" in got:
            furthest = len(OPEN) - 1
        for index in range(furthest + 1):
            reached[OPEN[index]] += 1  # getting to proposal means having been a lead and qualified
        for closed in ("won", "lost"):
            reached[closed] += closed in got
    steps = [*OPEN, "won"]
    conversion = {a: (reached[b] / reached[a] if reached[a] else None) for a, b in zip(steps, steps[1:])}
    open_now = Counter(d.stage for d in deals if d.stage in OPEN)
    total_open = sum(open_now.values())
    statuses = await analytics.customer_statuses(session, team_id, owner_id)
    customer_count = sum(statuses.values())
    durations: dict[str, list[float]] = defaultdict(list)
    for deal in deals:
        changes = history.get(deal.id, [])
        for change, after in zip(changes, [*changes[1:], None]):
            # a stay still going has no length yet: counting it so far would pull the mean down
            ended = after.changed_at if after is not None else deal.closed_at
            if change.to_stage in OPEN and ended is not None:
                durations[change.to_stage].append((ended - change.changed_at).total_seconds() / 86400)
    closed = [d for d in deals if d.closed_at is not None and since <= d.closed_at < until and d.stage in ("won", "lost")]
    won = [d for d in closed if d.stage == "won"]
    sizes: dict[str, list[Decimal]] = defaultdict(list)
    for deal in won:
        if deal.amount is not None:
            sizes[deal.currency or ""].append(deal.amount)
    return Funnel(
        reached={s: reached[s] for s in [*OPEN, "won", "lost"]}, conversion=conversion,
        open_share={s: (open_now[s] / total_open if total_open else 0.0) for s in OPEN},
        customer_share={s: n / customer_count for s, n in statuses.items()} if customer_count else {},
        days_in_stage={s: (statistics.fmean(durations[s]) if durations[s] else None) for s in OPEN},
        win_rate=len(won) / len(closed) if closed else None,
        average_won={c: sum(v, Decimal(0)) / len(v) for c, v in sizes.items()},
        won=len(won), lost=len(closed) - len(won),
    )


async def lost_reasons(session: Session, team_id: int, since: datetime, until: datetime,
                       owner_id: int | None = None, deals: list[analytics.DealFacts] | None = None,
                       ) -> tuple[list[LostReason], list[LostReason]]:
    """Why deals were lost in the period and to whom, most often first: (reasons, competitors)."""
    if deals is None:
        deals = await analytics.deals(session, team_id, owner_id)
    lost = [d for d in deals if d.stage == "lost" and d.closed_at is not None and since <= d.closed_at < until]

    def ranked(key) -> list[LostReason]:
        groups: dict[str, LostReason] = {}
        for deal in lost:
            label = (key(deal) or "").strip()
            if not label:
                continue
            group = groups.setdefault(fold(label), LostReason(label))
            group.count += 1
            add(group.value, deal)
        return sorted(groups.values(), key=lambda g: (-g.count, fold(g.reason)))

    return ranked(lambda d: d.lost_reason), ranked(lambda d: d.competitor)


def month_start(moment: datetime, ahead: int = 0, tz: str = "UTC") -> datetime:
    """The first instant of the month `ahead` months after `moment`'s, in the time zone `tz`."""
    first = moment.astimezone(ZoneInfo(tz)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(ahead):
        first = (first + timedelta(days=32)).replace(day=1)
    return first


async def forecast(session: Session, team: models.Team, now: datetime, months: int = 2,
                   owner_id: int | None = None, tz: str = "UTC", deals: list[analytics.DealFacts] | None = None,
                   ) -> list[Forecast]:
    """This month's and next month's weighted pipeline: each open deal expected to close in the
    month counts at its stage's probability."""
    chance = probabilities(team)
    if deals is None:
        deals = await analytics.deals(session, team.id, owner_id)
    deals = [d for d in deals if d.stage in OPEN and d.expected_close]
    out = []
    for ahead in range(months):
        start, end = month_start(now, ahead, tz), month_start(now, ahead + 1, tz)
        month = Forecast(start, {}, defaultdict(dict))
        for deal in deals:
            if start <= deal.expected_close < end:
                add(month.team, deal, chance[deal.stage])
                add(month.by_rep[deal.owner_id], deal, chance[deal.stage])
        month.by_rep = dict(month.by_rep)
        out.append(month)
    return out


async def at_risk(session: Session, team: models.Team, now: datetime, owner_id: int | None = None,
                  limit: int = RISK_LIST) -> AtRisk:
    """The longest quiet customers, the oldest open complaints and the longest stalled deals,
    at most `limit` of each (with how many there are in all); a rep's own (`owner_id`)."""
    days = risk_days(team)
    quiet, quiet_total = await analytics.quiet_customers(session, team.id, now - timedelta(days=days["customer"]), owner_id, limit)
    complaints, complaints_total = await analytics.old_complaints(
        session, team.id, now - timedelta(days=days["complaint"]), owner_id, limit)
    stalled, stalled_total = await analytics.stalled_deals(session, team.id, now - timedelta(days=days["deal"]), owner_id, limit)
    return AtRisk(quiet, complaints, stalled,
                  {"customers": quiet_total, "complaints": complaints_total, "deals": stalled_total}, days)
