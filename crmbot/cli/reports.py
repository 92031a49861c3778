"""Reports and the numbers behind them: `crmbot report`, `crmbot rates`."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from babel.numbers import list_currencies

from crmbot import app as app_module
from crmbot.cli.common import DbOption, NowOption, TeamOption, cli, cli_actor, fail, parse_now, rates_cli, run_app, team_named
from crmbot.store import changes


@cli.command()
def report(
    period: Annotated[str, typer.Option("--period", help="today, week, last-week, month, last-month or quarter.")] = "month",
    output: Annotated[Path, typer.Option("--output", help="The HTML file to write.")] = Path("report.html"),
    lang: Annotated[str, typer.Option("--lang", help="Formats of numbers, money and dates: en, cs, sl, zh, cy or az.")] = "en",
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone the period is counted in.")] = "UTC",
    db: DbOption = None,
    team: TeamOption = None,
    now: NowOption = None,
) -> None:
    """Write a self-contained HTML report (chart embedded): funnel, lost deals, forecast, customers at risk."""
    from crmbot.report import PERIODS, page

    if period not in PERIODS:
        fail(f"--period must be one of: {', '.join(PERIODS)}")
    try:
        ZoneInfo(tz)
    except (ValueError, ZoneInfoNotFoundError):
        fail(f"--tz must be a time zone such as Europe/Prague, not {tz!r}")
    moment = parse_now(now) or datetime.now(timezone.utc)

    async def main(app: app_module.App) -> None:
        if lang not in app.i18n.languages:
            fail(f"--lang must be one of: {', '.join(app.i18n.codes)}")
        async with app.db.sessions() as session:
            team_row = await team_named(session, team)
            html = await page(session, app.i18n, team_row, PERIODS[period], moment, lang, tz)
        output.write_text(html, encoding="utf-8")
        print(f"Report for {team_row.name!r} written to {output}")

    run_app(db, main)


@rates_cli.command("set")
def rates_set(
    rates: Annotated[list[str], typer.Argument(help="CUR=RATE: what one unit of CUR is worth in the base currency, e.g. EUR=25.2.")],
    base: Annotated[Optional[str], typer.Option("--base", help="The currency totals are shown in, e.g. CZK (the one set before when left out).")] = None,
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Set exchange rates, so totals of deals in several currencies become one sum."""
    known = set(list_currencies())
    if base is not None and base.upper() not in known:
        fail(f"--base must be a currency code such as CZK or EUR, not {base!r}")
    per_unit = {}
    for pair in rates:
        currency, equals, value = pair.partition("=")
        currency = currency.strip().upper()
        try:
            rate = Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            rate = Decimal(0)
        if not equals or currency not in known or not rate.is_finite() or rate <= 0:
            fail(f"rates are CUR=RATE with a currency code and a positive number, e.g. EUR=25.2; not {pair!r}")
        per_unit[currency] = str(rate)

    async def main(app: app_module.App) -> None:
        moment = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            shown_in = base.upper() if base else ((team_row.settings or {}).get("rates") or {}).get("base")
            if not shown_in:
                fail("say which currency the totals are shown in, e.g. crmbot rates set EUR=25.2 USD=23.4 --base CZK")
            settings = {**(team_row.settings or {}), "rates": {"base": shown_in, "per_unit": per_unit}}
            await changes.update(session, cli_actor(team_row.id), moment, team_row, settings=settings)
        print(f"Totals for {team_row.name!r} are shown in {shown_in}: " + ", ".join(f"1 {c} = {r} {shown_in}" for c, r in per_unit.items()))

    run_app(db, main)


@rates_cli.command("clear")
def rates_clear(db: DbOption = None, team: TeamOption = None) -> None:
    """Forget the exchange rates: totals stay per currency."""

    async def main(app: app_module.App) -> None:
        moment = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            settings = {k: v for k, v in (team_row.settings or {}).items() if k != "rates"}
            await changes.update(session, cli_actor(team_row.id), moment, team_row, settings=settings)
        print(f"Totals for {team_row.name!r} stay per currency.")

    run_app(db, main)
