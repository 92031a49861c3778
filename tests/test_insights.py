"""The manager's analysis: funnel, lost deals, forecast, customers at risk, exchange rates and
the HTML report, on a team whose history is written out below (both engines)."""

from __future__ import annotations

import pytest

import asyncio
import base64
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from typer.testing import CliRunner

from crmbot.cli import cli
from crmbot.intents import insights
from crmbot.store import models, teams

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


async def history(app) -> models.Team:
    """Six deals created in November and where they went; one quiet customer, one old complaint."""
    async with app.db.sessions() as session, session.begin():
        team = await teams.create_team(session, "Numbers", NOW - 60 * DAY)
        bob = await teams.create_member(session, team.id, "Bob", NOW - 60 * DAY, role="rep")
        dana = await teams.create_member(session, team.id, "Dana", NOW - 60 * DAY, role="rep")
        acme = models.Customer(team_id=team.id, name="Acme", status="customer", emails=[], phones=[],
                               created_at=NOW - 90 * DAY, updated_at=NOW - 90 * DAY, rev=0)
        quiet = models.Customer(team_id=team.id, name="Quiet Ltd", status="customer", emails=[], phones=[],
                                created_at=NOW - 90 * DAY, updated_at=NOW - 90 * DAY, rev=0)
        session.add(models.Customer(team_id=team.id, name="<script> & Co", status="customer", emails=[], phones=[],
                                    created_at=NOW - 90 * DAY, updated_at=NOW - 90 * DAY, rev=0))
        session.add_all([acme, quiet])
        await session.flush()
        session.add(models.Interaction(team_id=team.id, customer_id=acme.id, member_id=bob.id, kind="call", summary="",
                                       happened_at=NOW - 2 * DAY, created_at=NOW - 2 * DAY))
        session.add(models.Interaction(team_id=team.id, customer_id=quiet.id, member_id=bob.id, kind="call", summary="",
                                       happened_at=NOW - 45 * DAY, created_at=NOW - 45 * DAY))
        session.add(models.Complaint(team_id=team.id, customer_id=acme.id, member_id=bob.id, text="late", status="open",
                                     severity="normal", created_at=NOW - 10 * DAY))
        # title, owner, amount, currency, stages with the day (of November) each was reached, lost reason, competitor, close
        plans = [
            ("A", bob, 1000, "EUR", [("lead", 2), ("qualified", 4), ("proposal", 8), ("won", 12)], None, None, None),
            ("B", bob, 2000, "EUR", [("lead", 3), ("qualified", 5), ("lost", 9)], "price", "Contoso", None),
            ("C", dana, 3000, "EUR", [("lead", 3), ("lost", 6)], "Price ", "Contoso", None),
            ("D", dana, 500, "USD", [("lead", 4), ("qualified", 6), ("lost", 10)], "timing", None, None),
            ("E", dana, 4000, "EUR", [("lead", 5), ("qualified", 7), ("proposal", 9), ("negotiation", 11)], None, None, NOW + 10 * DAY),
            ("F", bob, 10000, "CZK", [("lead", 1)], None, None, NOW + 40 * DAY),
        ]
        for title, owner, amount, currency, stages, reason, competitor, close in plans:
            at = {stage: datetime(2026, 11, day, 9, tzinfo=timezone.utc) for stage, day in stages}
            last = stages[-1][0]
            deal = models.Deal(team_id=team.id, customer_id=acme.id, owner_id=owner.id, title=title, amount_minor=amount * 100,
                               currency=currency, stage=last, lost_reason=reason, competitor=competitor, expected_close=close,
                               created_at=at["lead"], updated_at=at[last], closed_at=at[last] if last in ("won", "lost") else None)
            session.add(deal)
            await session.flush()
            previous = None
            for stage, _ in stages:
                session.add(models.DealStageChange(team_id=team.id, deal_id=deal.id, member_id=owner.id, from_stage=previous,
                                                   to_stage=stage, changed_at=at[stage]))
                previous = stage
        return team


@pytest.mark.both_engines
async def test_funnel_lost_reasons_forecast_and_risk_from_the_teams_history(app):
    team = await history(app)
    november = (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc))
    async with app.db.sessions() as session:
        funnel = await insights.funnel(session, team.id, *november, NOW)
        reasons, competitors = await insights.lost_reasons(session, team.id, *november)
        months = await insights.forecast(session, team, NOW)
        risk = await insights.at_risk(session, team, NOW)
        members = {m.name: m.id for m in await teams.members_of(session, team.id)}
    assert funnel.reached == {"lead": 6, "qualified": 4, "proposal": 2, "negotiation": 2, "won": 1, "lost": 3}
    assert funnel.conversion["lead"] == 4 / 6 and funnel.conversion["qualified"] == 2 / 4
    assert funnel.win_rate == 1 / 4 and (funnel.won, funnel.lost) == (1, 3)
    assert funnel.average_won == {"EUR": Decimal(1000)}
    assert funnel.days_in_stage["lead"] == pytest.approx(2.2)  # A 2, B 2, C 3, D 2, E 2; F, still a lead, not yet
    assert funnel.open_share == {"lead": 0.5, "qualified": 0.0, "proposal": 0.0, "negotiation": 0.5}

    assert [(r.reason, r.count, r.value) for r in reasons] == [("price", 2, {"EUR": Decimal(5000)}), ("timing", 1, {"USD": Decimal(500)})]
    assert [(c.reason, c.count) for c in competitors] == [("Contoso", 2)]

    november, december = months  # this month and next
    assert november.team == {} and november.by_rep == {}
    assert december.team == {"EUR": Decimal(3000)}  # E: 4000 EUR in negotiation (0.75), closing 5 December
    assert december.by_rep == {members["Dana"]: {"EUR": Decimal(3000)}}  # F closes in January: later

    assert [c.name for c, _ in risk.quiet_customers] == ["<script> & Co", "Quiet Ltd"]  # never called, then longest quiet
    assert [c.text for c in risk.old_complaints] == ["late"]
    assert [d.title for d, _ in risk.stalled_deals] == ["F"]  # a lead since 1 November; E moved on the 11th

    rates = insights.Rates("CZK", {"EUR": Decimal("25"), "USD": Decimal("23")})
    assert rates.total({"EUR": Decimal(2), "CZK": Decimal(10)}) == {"CZK": Decimal(60)}
    assert rates.total({"GBP": Decimal(1)}) == {"GBP": Decimal(1)}  # no rate: left as it was


@pytest.mark.both_engines
async def test_the_html_report_and_the_rates_behind_its_totals(app, db_url, tmp_path):
    team = await history(app)
    run = CliRunner().invoke
    refused = await asyncio.to_thread(run, cli, ["rates", "set", "EUR=abc", "--base", "CZK", "--db", db_url, "--team", team.name])
    assert refused.exit_code == 1 and "CUR=RATE" in refused.output
    done = await asyncio.to_thread(run, cli, ["rates", "set", "EUR=25", "USD=23", "--base", "CZK", "--db", db_url, "--team", team.name])
    assert done.exit_code == 0, done.output
    out = tmp_path / "report.html"
    made = await asyncio.to_thread(run, cli, ["report", "--period", "last-month", "--output", str(out), "--db", db_url,
                                              "--team", team.name, "--now", "2026-12-02T09:00:00+00:00", "--lang", "cs"])
    assert made.exit_code == 0, made.output
    page = out.read_text(encoding="utf-8")
    [png] = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(png).startswith(b"\x89PNG")  # the chart travels inside the page
    assert "Contoso" in page and "Quiet Ltd" in page
    assert "<script>" not in page and "&lt;script&gt; &amp; Co" in page  # what people typed is text, never markup
    assert "125\xa0000,00\xa0Kč" in page and "11\xa0500,00\xa0Kč" in page  # lost for price 5 000 EUR, timing 500 USD
    assert "prosinec 2026" in page and "leden 2027" in page  # the forecast's months, in Czech
    assert "1\xa0000,00\xa0Kč" in page  # F in January: 10 000 CZK as a lead (10 %)


@pytest.mark.both_engines
async def test_with_rates_a_summary_totals_each_stage_in_one_currency(alice, demo, db_url):
    [before] = await alice.send("summary this month")
    assert "Lead: 2 · €15k · US$75k" in before.text  # per currency, compact
    unsaid = await asyncio.to_thread(CliRunner().invoke, cli, ["rates", "set", "USD=0.9", "--db", db_url])
    assert unsaid.exit_code == 1 and "--base CZK" in unsaid.output  # no currency to total in yet: how to say it
    set_rates = await asyncio.to_thread(CliRunner().invoke, cli, ["rates", "set", "USD=0.8", "--base", "EUR", "--db", db_url])
    assert set_rates.exit_code == 0, set_rates.output
    set_rates = await asyncio.to_thread(CliRunner().invoke, cli, ["rates", "set", "USD=0.9", "--db", db_url])  # the base set before
    assert set_rates.exit_code == 0 and "shown in EUR: 1 USD = 0.9 EUR" in set_rates.output, set_rates.output
    [after] = await alice.send("summary this month")
    assert "Lead: 2 · €82.5k" in after.text and "US$" not in after.text.split("Won")[0]  # 15 000 + 75 000 × 0.9
    assert "Lead 2 · €82.5k;" in after.image.alt and "Lost 1 · €11.2k" in after.image.alt  # the chart too


ENGLISH_HEADINGS = ("Funnel", "Why deals were lost", "Forecast", "At risk", "Win rate", "Deals that got this far",
                    "Weighted pipeline", "Customers gone quiet", "Deals with no move", "made ")


async def test_the_report_speaks_the_language_asked_for(app, db_url, tmp_path):
    team = await history(app)
    pages = {}
    for code in ("en", "cs", "sl", "zh", "cy", "az"):
        out = tmp_path / f"report-{code}.html"
        made = await asyncio.to_thread(CliRunner().invoke, cli, ["report", "--output", str(out), "--db", db_url, "--team", team.name,
                                                                 "--now", "2026-11-25T10:00:00+00:00", "--lang", code])
        assert made.exit_code == 0, made.output
        pages[code] = out.read_text(encoding="utf-8")
    assert all(heading in pages["en"] for heading in ENGLISH_HEADINGS)
    for code in ("cs", "sl", "zh", "cy", "az"):
        page = pages[code]
        assert f'<html lang="{code}">' in page and "Quiet Ltd" in page and "Contoso" in page
        assert not [h for h in ENGLISH_HEADINGS if f">{h}<" in page or f">{h}" in page], code
    assert "<h2>Obchodní trychtýř</h2>" in pages["cs"] and "<h2>Proč jsme prohráli obchody</h2>" in pages["cs"]
    assert "Zákazníci bez kontaktu 30 dnů a déle" in pages["cs"] and "<h2>转化漏斗</h2>" in pages["zh"]
    assert "<h2>Rhagolwg</h2>" in pages["cy"] and "<h2>Risk altında</h2>" in pages["az"] and "<h2>Napoved</h2>" in pages["sl"]
    wrong = await asyncio.to_thread(CliRunner().invoke, cli, ["report", "--db", db_url, "--team", team.name, "--lang", "de",
                                                              "--output", str(tmp_path / "de.html")])
    assert wrong.exit_code == 1 and "--lang must be one of" in wrong.output


@pytest.mark.both_engines
async def test_the_report_reads_the_teams_deals_once(app):
    """Funnel, lost reasons and forecast share one read of the deals (DealFacts' columns, not
    whole rows: the summary and the stalled deals read those)."""
    from sqlalchemy import event

    from crmbot.report import page

    team = await history(app)
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with app.db.sessions() as session:
            html = await page(session, app.i18n, team, "this_month", NOW, "en", "UTC")
    finally:
        event.remove(app.db.engine.sync_engine, "before_cursor_execute", seen)
    fact_reads = [s for s in statements if "deals.lost_reason" in s and "deals.expected_close" in s and "deals.updated_at" not in s]
    assert len(fact_reads) == 1, fact_reads
    assert "Contoso" in html and "Quiet Ltd" in html
