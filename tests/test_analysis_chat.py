"""The manager's analysis in the chat (both engines): the funnel, why deals are lost, the
forecast and who is at risk, scoped to what the asker may see, in all six languages; the
buttons on each customer at risk, and the question a "log a call" button asks."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from crmbot.cli import cli
from crmbot.i18n import I18n
from crmbot.store import models
from tests.conftest import NOW

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

BOBS_AT_RISK = {"Tomáš Svoboda (Svoboda Auto)", "Nina Kovačič (Kovačič Solar)", "张伟 (上海华信科技)",
                "Gareth Davies (Davies Motors)", "Aysel Məmmədova (Bakı Tekstil)"}


def examples(code: str, msgid: str) -> list[str]:
    """The phrases a language's help text gives for `msgid`, as a member would type them."""
    said = I18n.packaged().language(code).translations.gettext(msgid)
    return [part.strip().strip('"„“»«”') for part in said.split(" · ")]


def settings(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["settings", *args, "--db", db_url])
    assert result.exit_code == 0, result.output
    return result.output


async def rows(app, model, *where) -> list:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(model).where(*where).order_by(model.id)))


# -- whose numbers --------------------------------------------------------------------------------


@pytest.mark.both_engines
async def test_the_funnel_is_the_teams_for_a_manager_and_a_reps_own_for_a_rep(alice, bob):
    [team] = await alice.send("show the funnel")
    assert team.kind == "funnel" and "whole team" in team.text
    assert "• Lead: 11 · 82% went on" in team.text  # twelve deals this month, one lost straight from the start
    assert "Win rate: **67%** (Won 2 · Lost 1)" in team.text
    assert team.image.data.startswith(b"\x89PNG") and "Lead 11" in team.image.alt

    [own] = await bob.send("funnel")
    assert "your own" in own.text and "• Lead: 5 ·" in own.text and "Win rate: **50%** (Won 1 · Lost 1)" in own.text

    [named] = await alice.send("funnel for bob")
    assert "· Bob" in named.text and "• Lead: 5 ·" in named.text  # a manager may look at a rep's
    [refused] = await bob.send("funnel for alice")
    assert refused.kind == "not_allowed"  # a rep may not look at a colleague's


async def test_lost_deals_are_ranked_by_reason_and_competitor_within_what_the_asker_may_see(alice, bob):
    [moved] = await alice.send("lost petr dvorak to Globex because timing")
    assert moved.kind == "deal_moved"
    [team] = await alice.send("why are we losing deals")
    assert team.kind == "lost_analysis"
    assert "• price: 1 deal · US$12,500.00" in team.text and "• timing: 1 deal · €8,000.00" in team.text
    assert "• Contoso: 1 deal" in team.text and "• Globex: 1 deal" in team.text
    [own] = await bob.send("why are we losing deals")
    assert "Contoso" in own.text and "Globex" not in own.text and "timing" not in own.text  # Alice's lost deal is not his


@pytest.mark.both_engines
async def test_the_forecast_weights_deals_closing_this_month_and_next_by_the_teams_chances(alice, bob, demo, db_url):
    async with demo.db.sessions() as session, session.begin():
        await session.execute(update(models.Deal).where(models.Deal.title == "Acme website")
                              .values(expected_close=datetime(2026, 12, 10, tzinfo=timezone.utc)))  # Alice's, proposal
        await session.execute(update(models.Deal).where(models.Deal.title == "Beta fleet tracking")
                              .values(expected_close=datetime(2026, 11, 28, tzinfo=timezone.utc)))  # Bob's, negotiation
    [team] = await alice.send("forecast for next month")
    assert team.kind == "forecast"
    assert "**November 2026**: CZK90,000.00\n• Bob: CZK90,000.00" in team.text  # 120 000 × 75 %
    assert "**December 2026**: €25,000.00\n• Alice: €25,000.00" in team.text  # 50 000 × 50 %
    [own] = await bob.send("/forecast")
    assert "**November 2026**: CZK90,000.00" in own.text and "**December 2026**: —" in own.text and "Alice" not in own.text

    assert "probability.proposal = 0.6" in await asyncio.to_thread(settings, db_url, "set", "probability.proposal=60%")
    [again] = await alice.send("forecast")
    assert "**December 2026**: €30,000.00" in again.text and "Proposal 60%" in again.text


# -- who is at risk --------------------------------------------------------------------------------


@pytest.mark.both_engines
async def test_who_is_at_risk_lists_a_reps_own_customers_and_the_teams_for_a_manager(alice, bob):
    header, *customers = await bob.send("who's at risk")
    assert header.kind == "at_risk" and "your own" in header.text
    assert "Customers with no contact for 30 days or more: 5" in header.text
    assert {reply.text.splitlines()[0].strip("👤 *") for reply in customers} == BOBS_AT_RISK
    assert all(reply.kind == "at_risk_customer" and len(reply.buttons) == 2 for reply in customers)

    header, *customers = await alice.send("/risk")
    assert "Customers with no contact for 30 days or more: 10" in header.text and "Also at risk: " in header.text
    assert len(customers) == 5  # five with buttons, the rest named in the header


async def test_the_days_that_make_a_customer_or_complaint_at_risk_are_the_teams_to_set(alice, bob, db_url, clock):
    out = await asyncio.to_thread(settings, db_url, "set", "quiet-days=90", "complaint-days=1")
    assert "quiet-days = 90" in out and "complaint-days = 1" in out and "stalled-days = 21 (default)" in out
    clock.now = NOW + timedelta(hours=2)  # Lucie's complaint (Alice's customer) is now a day and two hours old
    header, *customers = await alice.send("who's at risk")
    assert "Customers with no contact for 90 days or more: 0" in header.text
    assert "Complaints open for 1 day or more: 1" in header.text
    [lucie] = customers
    assert "Lucie Černá" in lucie.text and "complaint open since 24 Nov 2026: Printed brochures" in lucie.text
    [header] = await bob.send("who's at risk")
    assert "Complaints open for 1 day or more: 0" in header.text and "Nobody is at risk." in header.text

    assert "quiet-days = 30 (default)" in await asyncio.to_thread(settings, db_url, "reset", "quiet-days")
    [team] = await rows(alice.bot, models.Team)
    assert team.settings["risk_days"] == {"complaint": 1}  # the reset one is gone, the other kept
    changes = [e for e in await rows(alice.bot, models.AuditEntry, models.AuditEntry.entity == "team") if e.platform == "cli"]
    assert len(changes) == 2 and changes[0].before["settings"].get("risk_days") is None  # audited, before and after
    assert changes[1].after["settings"]["risk_days"] == {"complaint": 1}


@pytest.mark.both_engines
async def test_deals_with_no_move_are_at_risk_with_their_stage_and_since_when(alice, bob, db_url):
    await asyncio.to_thread(settings, db_url, "set", "stalled-days=1", "quiet-days=90")
    header, *customers = await bob.send("who's at risk")
    assert "Deals with no move for 1 day or more: 4" in header.text  # Bob's open deals, last moved two days ago
    beta = next(r for r in customers if "Jana Nováková" in r.text)
    assert "⏸ Beta fleet tracking: at Negotiation since 23 Nov 2026" in beta.text
    header, *_ = await alice.send("who's at risk")
    assert "Deals with no move for 1 day or more: 9" in header.text  # the team's


async def rows_of_member(bot, name: str) -> models.Member:
    async with bot.db.sessions() as session:
        return await session.scalar(select(models.Member).where(models.Member.name == name))


async def test_a_follow_up_button_sets_one_for_tomorrow_9_in_the_members_zone_and_undo_takes_it_back(bob, demo):
    _, first, *_ = await bob.send("who's at risk")
    customer = first.text.splitlines()[0].strip("👤 *")
    log, follow = first.buttons
    assert (log.label, follow.label) == ("📞 Log a call", "⏰ Follow up tomorrow 9:00")
    [done] = await bob.press(follow)
    assert done.kind == "reminder_set" and customer in done.text
    [made] = await rows(demo, models.FollowUp, models.FollowUp.created_at == NOW)
    assert made.due_at == datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)  # 09:00 in London, Bob's zone
    assert made.note == "Get back in touch: they are at risk"
    [again] = await bob.press(log)
    assert again.kind == "button_used"  # one action per customer's message
    [undone] = await bob.send("undo")
    assert "Undone" in undone.text
    assert [f.deleted_at for f in await rows(demo, models.FollowUp, models.FollowUp.id == made.id)] == [NOW]


async def test_a_log_a_call_button_asks_what_was_said_and_the_next_message_is_the_calls_notes(bob, demo):
    *_, last = await bob.send("who's at risk")
    name = last.text.splitlines()[0].strip("👤 *")
    [asked] = await bob.press(last.buttons[0])
    assert asked.kind == "call_what" and name in asked.text and asked.buttons[0].label == "Cancel"
    assert await rows(demo, models.Interaction, models.Interaction.member_id == (await rows_of_member(demo.bot, "Bob")).id) == []
    [logged] = await bob.send("she wants new curtains, call her again friday")
    assert logged.kind == "logged" and name in logged.text and "Follow-up set for" in logged.text
    [call] = await rows(demo, models.Interaction, models.Interaction.summary.contains("curtains"))
    assert call.kind == "call" and call.customer_id is not None
    [later] = await rows(demo, models.FollowUp, models.FollowUp.customer_id == call.customer_id, models.FollowUp.created_at == NOW)
    assert later.due_at == datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
    # the question was answered once: the next message is read as usual
    [card] = await bob.send("find nina kovacic")
    assert card.kind == "card"


async def test_the_question_is_dropped_by_cancel_a_command_or_time(bob, demo, clock):
    async def ask():
        *_, last = await bob.send("who's at risk")
        [asked] = await bob.press(last.buttons[0])
        assert asked.kind == "call_what"
        return asked

    asked = await ask()
    [cancelled] = await bob.press(asked.buttons[0])
    assert cancelled.kind == "cancelled"
    assert (await bob.send("wants a quote"))[0].kind != "logged"

    await ask()
    [agenda] = await bob.send("/agenda")
    assert agenda.kind == "agenda"  # a command is a command, and drops the question
    assert (await bob.send("wants a quote"))[0].kind != "logged"

    await ask()
    [card] = await bob.send("find nina kovacic")
    assert card.kind == "card"  # a message that clearly asks for something else is that, and drops the question
    assert (await bob.send("wants a quote"))[0].kind != "logged"

    await ask()
    clock.now = NOW + timedelta(minutes=31)  # answered too late: a new message, not the answer
    assert (await bob.send("wants a quote"))[0].kind != "logged"
    assert await rows(demo, models.Interaction, models.Interaction.summary == "wants a quote") == []


# -- six languages ----------------------------------------------------------------------------------

ANALYSIS = '"show the funnel" · "why are we losing deals" · "forecast for next month" · "who\'s at risk"'


@pytest.mark.parametrize("code", ["en", "cs", "sl", "zh", "cy", "az"])
async def test_the_analysis_is_asked_for_and_answered_in_each_language(alice, code):
    i18n = I18n.packaged()
    await alice.send(f"/lang {code}")
    funnel, lost, forecast, risk = examples(code, ANALYSIS)
    [shown] = await alice.send(funnel)
    assert shown.kind == "funnel" and f"{i18n.string(code, 'stage.won')}{i18n.language(code).gettext['pgettext']('punctuation', ': ')}2" in shown.text
    [why] = await alice.send(lost)
    assert why.kind == "lost_analysis" and "Contoso" in why.text
    [ahead] = await alice.send(forecast)
    assert ahead.kind == "forecast" and i18n.string(code, "stage.negotiation") in ahead.text
    header, *customers = await alice.send(risk)
    assert header.kind == "at_risk" and len(customers) == 5
    assert customers[0].buttons[0].label == i18n.string(code, "button.log_a_call")
    if code != "en":  # the reply's words are the language's own
        assert "Customers with no contact" not in header.text and "Win rate" not in shown.text
