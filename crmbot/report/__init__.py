"""`crmbot report`: one self-contained HTML page a manager can open or forward: the summary's
chart (embedded as PNG), the funnel, why deals were lost, the forecast and who is at risk.

Numbers, money and dates use the chosen language's formats (Babel); the page's own headings
are English, like the rest of the command line."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime
from decimal import Decimal
from importlib.resources import files

from jinja2 import Environment, select_autoescape

from crmbot import charts
from crmbot.i18n import Formats, I18n, ResourceLoader
from crmbot.intents import insights, summary
from crmbot.store import Session, models, records

PERIODS = {"today": "today", "week": "this_week", "last-week": "last_week", "month": "this_month",
           "last-month": "last_month", "quarter": "this_quarter"}
PAGE = Environment(loader=ResourceLoader(files("crmbot") / "report"), autoescape=select_autoescape(default=True))


def _money(f: Formats, money: insights.Money, rates: insights.Rates | None) -> str:
    shown = rates.total(money) if rates else money
    return " · ".join(f.money(v, c or None) for c, v in sorted(shown.items()) if v) or ""


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


async def page(session: Session, i18n: I18n, team: models.Team, period: str, now: datetime,
               lang: str = "en", tz: str = "UTC") -> str:
    f = Formats(i18n, lang, tz)
    since, until = summary.period_span(now, tz, period)
    rates = insights.Rates.of(team)
    gathered = await summary.gather(session, team.id, None, since, until, now)
    data = {"period": period, "whole_team": True, **summary.in_one_currency(gathered, rates)}
    title = i18n.string(lang, f"period.{period}")
    picture = summary.chart(i18n, lang, tz, f"{team.name}: {title}", data, "report.png")
    png = await asyncio.to_thread(charts.draw, picture)  # off the event loop, as for a chat reply
    funnel = await insights.funnel(session, team.id, since, until, now)
    reasons, competitors = await insights.lost_reasons(session, team.id, since, until)
    months = await insights.forecast(session, team, now, tz=tz)
    risk = await insights.at_risk(session, team, now)
    members = await records.members_by_id(session, team.id)
    people = await records.customers_by_id(session, team.id, {c.customer_id for c in risk.old_complaints}
                                           | {d.customer_id for d, _ in risk.stalled_deals})
    chance = {**insights.DEFAULT_PROBABILITY, **(team.settings or {}).get("stage_probability", {})}
    return PAGE.get_template("page.html.j2").render(
        lang=lang, team=team.name, title=title.capitalize(), made=f.when(now),
        span=f"{f.day(since)} – {f.day(min(until, now))}", rates=rates,
        chart=base64.b64encode(png).decode(), chart_alt=picture.description,
        funnel=funnel, win_rate=_share(funnel.win_rate),
        funnel_rows=[{"stage": f.stage(s), "reached": funnel.reached[s], "conversion": _share(funnel.conversion.get(s)),
                      "open": _share(funnel.open_share[s]),
                      "days": "—" if funnel.days_in_stage[s] is None else f.number(round(funnel.days_in_stage[s], 1))}
                     for s in models.OPEN_STAGES],
        average_won=_money(f, funnel.average_won, None),
        customer_share=", ".join(f"{status} {_share(share)}" for status, share in sorted(funnel.customer_share.items())),
        reasons=[{"reason": r.reason, "count": r.count, "value": _money(f, r.value, rates)} for r in reasons],
        competitors=[{"reason": r.reason, "count": r.count, "value": _money(f, r.value, rates)} for r in competitors],
        probabilities=", ".join(f"{f.stage(s)} {_share(float(Decimal(str(chance[s]))))}" for s in models.OPEN_STAGES),
        forecast=[{"name": f.month(m.month), "team": _money(f, m.team, rates),
                   "reps": sorted((members[r].name if r in members else "?", _money(f, v, rates)) for r, v in m.by_rep.items())}
                  for m in months],
        totals=risk.totals,
        quiet=[(c.display_name, f.day(last) if last else "never") for c, last in risk.quiet_customers],
        complaints=[(people[c.customer_id].display_name if c.customer_id in people else "?", f.day(c.created_at))
                    for c in risk.old_complaints],
        stalled=[(f"{d.title} ({people[d.customer_id].display_name if d.customer_id in people else '?'})", f.day(since))
                 for d, since in risk.stalled_deals],
    )
