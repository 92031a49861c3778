"""App Home as data: what a person sees on a platform's home surface, made by the core.

A member sees their follow-ups that are overdue or due today and their open deals; a manager
also sees the team pipeline by stage. A stranger sees how to join, or the refusal, and no data.
Everything is already in the viewer's language; an adapter only draws it (Slack: Block Kit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from crmbot import membership
from crmbot.i18n import Formats, I18n
from crmbot.intents.router import allowed
from crmbot.messages import UserRef
from crmbot.store import models, records
from crmbot.store.db import Database

LIST_LIMIT = 15  # rows per list; the rest is counted ("… and 3 more")


@dataclass(frozen=True)
class Line:
    """One row: `text` as written, after `label` (a stage name) shown strong when there is one."""

    text: str
    label: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[Line, ...] = ()
    note: str = ""  # under the lines: that there are none, or how many more were left out


@dataclass(frozen=True)
class HomeView:
    """Plain text throughout, user text unescaped: the adapter escapes for its format. `notice`
    is the exception, a rendered reply template whose `**bold**` marker is drawn like a reply's."""

    title: str = ""
    updated: str = ""
    sections: tuple[Section, ...] = ()
    notice: str = ""


async def home_for(db: Database, i18n: I18n, user: UserRef, now: datetime) -> HomeView:
    async with db.sessions() as session:
        member = await membership.member_for(session, user)
        if member is None:
            return await _stranger_home(session, i18n, user)
        return await _member_home(session, i18n, member, now)


async def _stranger_home(session: AsyncSession, i18n: I18n, user: UserRef) -> HomeView:
    code = i18n.pick(user.language)
    if await membership.open_team(session, user.workspace) is not None:
        return HomeView(notice=i18n.string(code, "slack.join"))  # their first message makes them a member
    return HomeView(notice=i18n.render(code, "stranger"))


async def _member_home(session: AsyncSession, i18n: I18n, member: models.Member, now: datetime) -> HomeView:
    code, zone = member.locale, ZoneInfo(member.timezone)
    f = Formats(i18n, code, member.timezone)

    def t(key: str, **values: object) -> str:
        return i18n.string(code, f"slack.{key}", **values)

    start_of_day = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    followups = await records.pending_followups(session, member.team_id, member.id, start_of_day + timedelta(days=1))
    deals = await records.open_deals(session, member.team_id, owner_id=member.id)
    customers = await records.customers_by_id(
        session, member.team_id, {x.customer_id for x in followups if x.customer_id} | {d.customer_id for d in deals}
    )

    def who(customer_id: int | None) -> str:
        customer = customers.get(customer_id) if customer_id else None
        return customer.display_name if customer else "—"

    def section(key: str, lines: list[Line], empty: str = "") -> Section:
        more = t("more", count=len(lines) - LIST_LIMIT) if len(lines) > LIST_LIMIT else ""
        return Section(t(key), tuple(lines[:LIST_LIMIT]), more or ("" if lines else empty))

    def agenda_line(followup: models.FollowUp) -> Line:
        note = f" — {followup.note}" if followup.note else ""
        return Line(f"{f.when(followup.due_at)} · {who(followup.customer_id)}{note}")

    sections = []
    overdue = [agenda_line(x) for x in followups if x.due_at < start_of_day]
    today = [agenda_line(x) for x in followups if x.due_at >= start_of_day]
    if overdue:
        sections.append(section("overdue", overdue))
    if today or not overdue:
        sections.append(section("today", today, t("no_followups")))
    deal_lines = [Line(f"{d.title} ({who(d.customer_id)}): {f.money(d.amount, d.currency)} · {f.stage(d.stage)}") for d in deals]
    sections.append(section("deals", deal_lines, t("no_deals")))
    if allowed(member.role, "manager"):
        rows = await records.pipeline(session, member.team_id, None)
        sections.append(Section(t("pipeline"), _pipeline_lines(rows, f, lambda n: t("pipeline_line", count=n))))
    return HomeView(title=t("home_title"), updated=t("updated", when=f.when(now)), sections=tuple(sections))


def _pipeline_lines(rows: list[tuple[str, str | None, int, int]], f: Formats,
                    deals_label: Callable[[int], str]) -> tuple[Line, ...]:
    """One line per open stage, in pipeline order: how many deals, and their sum per currency."""
    by_stage: dict[str, list[tuple[str | None, int, int]]] = {}
    for stage, currency, count, amount_minor in rows:
        by_stage.setdefault(stage, []).append((currency, count, amount_minor))
    lines = []
    for stage in models.OPEN_STAGES:
        found = by_stage.get(stage, [])
        count = sum(c for _, c, _ in found)
        money = " + ".join(f.money(Decimal(a) / 100, cur) for cur, _, a in sorted(found, key=lambda r: r[0] or ""))
        lines.append(Line(deals_label(count) + (f" · {money}" if count else ""), label=f.stage(stage)))
    return tuple(lines)
