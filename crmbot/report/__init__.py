"""`crmbot report`: one self-contained HTML page a manager can open or forward: the summary's
chart (embedded as PNG), the funnel, why deals were lost, the forecast and who is at risk.

The page is in the chosen language: its words are msgids of the locales' catalogs (like the
chat's replies), numbers, money and dates are that language's formats (Babel). The team's deals
are read once for the funnel, the lost reasons and the forecast."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime
from importlib.resources import files

from jinja2 import Environment, select_autoescape

from crmbot import charts
from crmbot.i18n import Formats, I18n, ResourceLoader
from crmbot.intents import insights, summary
from crmbot.intents.analysis import money_text
from crmbot.store import Session, analytics, models, records

PERIODS = {"today": "today", "week": "this_week", "last-week": "last_week", "month": "this_month",
           "last-month": "last_month", "quarter": "this_quarter"}
# the same gettext settings as the replies' environment, so `pybabel extract` finds the same msgids
PAGE = Environment(loader=ResourceLoader(files("crmbot") / "report"), autoescape=select_autoescape(default=True),
                   extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
PAGE.newstyle_gettext = True  # type: ignore[attr-defined]


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
    deals = await analytics.deals(session, team.id)  # once, for the funnel, the lost reasons and the forecast
    funnel = await insights.funnel(session, team.id, since, until, now, deals=deals)
    reasons, competitors = await insights.lost_reasons(session, team.id, since, until, deals=deals)
    months = await insights.forecast(session, team, now, tz=tz, deals=deals)
    risk = await insights.at_risk(session, team, now)
    members = await records.members_by_id(session, team.id)
    people = await records.customers_by_id(session, team.id, {c.customer_id for c in risk.old_complaints}
                                           | {d.customer_id for d, _ in risk.stalled_deals})
    chance = insights.probabilities(team)

    def named(customer_id: int) -> str:
        return people[customer_id].display_name if customer_id in people else "?"

    return PAGE.get_template("page.html.j2").render(
        **i18n.language(lang).gettext, f=f,
        lang=i18n.language(lang).code, team=team.name, title=title.capitalize(), made=f.when(now),
        span=f"{f.day(since)} – {f.day(min(until, now))}", rates=rates,
        chart=base64.b64encode(png).decode(), chart_alt=picture.description,
        funnel=funnel, win_rate=f.share(funnel.win_rate),
        funnel_rows=[{"stage": f.stage(s), "reached": f.number(funnel.reached[s]), "conversion": f.share(funnel.conversion.get(s)),
                      "open": f.share(funnel.open_share[s]),
                      "days": "—" if funnel.days_in_stage[s] is None else f.days(funnel.days_in_stage[s])}
                     for s in models.OPEN_STAGES],
        average_won=money_text(f, funnel.average_won, None),
        customer_share=f.comma.join(f"{i18n.string(lang, f'status.{status}')} {f.share(share)}"
                                    for status, share in sorted(funnel.customer_share.items())),
        reasons=[{"reason": r.reason, "count": f.number(r.count), "value": money_text(f, r.value, rates)} for r in reasons],
        competitors=[{"reason": r.reason, "count": f.number(r.count), "value": money_text(f, r.value, rates)} for r in competitors],
        probabilities=f.comma.join(f"{f.stage(s)} {f.share(float(chance[s]))}" for s in models.OPEN_STAGES),
        forecast=[{"name": f.month(m.month), "team": money_text(f, m.team, rates),
                   "reps": sorted((members[r].name if r in members else "?", money_text(f, v, rates)) for r, v in m.by_rep.items())}
                  for m in months],
        totals=risk.totals, days=risk.days,
        quiet=[(c.display_name, f.day(last) if last else None) for c, last in risk.quiet_customers],
        complaints=[(named(c.customer_id), f.day(c.created_at)) for c in risk.old_complaints],
        stalled=[(f"{d.title}{f.paren(named(d.customer_id))}", f.day(since)) for d, since in risk.stalled_deals],
    )
