""""What did I change": the member's last changes in words, each with a button that undoes that
one change, refused when a later change builds on it. Summaries over named periods and date
ranges, the period named in the reply. Through the console adapter, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crmbot import sample
from crmbot.store import models, teams
from tests.conftest import NOW

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only


async def count(app, model, *where) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def live_deals(app, title: str) -> int:
    return await count(app, models.Deal, models.Deal.title == title, models.Deal.deleted_at.is_(None))


@pytest.mark.both_engines
async def test_history_lists_the_last_changes_in_words_and_each_button_undoes_that_one(alice, demo, clock):
    await alice.send("new deal cyberdyne $12,500")
    clock.now += timedelta(minutes=5)
    await alice.send("called jana, wants a quote by friday")
    clock.now += timedelta(minutes=5)
    await alice.send("complaint from lucie cerna: brochures torn")
    [history] = await alice.send("what did I change")
    assert history.kind == "history"
    lines = [line for line in history.text.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert len(lines) == 3, history.text
    assert "complaint created" in lines[0] and "Lucie Černá" in lines[0]  # newest first
    assert "interaction created" in lines[1] and "Jana Nováková" in lines[1] and "Call" in lines[1]
    assert "deal created" in lines[2] and "Cyberdyne pilot" not in lines[2] and "$12,500.00" in lines[2]
    assert "brochures torn" not in history.text and "quote" not in history.text  # never the raw text typed
    assert [b.label for b in history.buttons] == ["↩️ Undo 1", "↩️ Undo 2", "↩️ Undo 3"]

    calls_before = await count(demo, models.Interaction, models.Interaction.deleted_at.is_(None))
    [undone] = await alice.press(history.buttons[1])  # the call, in the middle
    assert undone.kind == "undone" and "Undone: interaction created from" in undone.text and "Jana Nováková" in undone.text  # undo's own words
    assert await count(demo, models.Interaction, models.Interaction.deleted_at.is_(None)) == calls_before - 1
    assert await count(demo, models.Complaint, models.Complaint.text.contains("torn"), models.Complaint.deleted_at.is_(None)) == 1
    assert await live_deals(demo, "Cyberdyne") == 1

    [again] = await alice.send("what did I change")
    assert "Jana" not in again.text and len(again.buttons) == 2  # the undone change is gone from the list
    await alice.send("undo")  # the complaint, by plain undo
    [late] = await alice.press(again.buttons[0])  # the button for the complaint, undone already
    assert late.kind == "undo_already"


async def test_an_undo_a_later_change_builds_on_is_refused_and_nothing_changes(alice, bob, demo, clock):
    await alice.send("new customer Karel Malý from Pekárna, karel@maly.cz")
    clock.now += timedelta(minutes=1)
    await bob.send("called karel maly, wants bread")  # Bob records something on Alice's new customer
    [refused] = await alice.send("undo")
    assert refused.kind == "undo_blocked" and "interaction created" in refused.text and "(Bob)" in refused.text
    assert "whoever made it" in refused.text
    assert await count(demo, models.Customer, models.Customer.name == "Karel Malý", models.Customer.deleted_at.is_(None)) == 1
    [bobs] = await bob.send("undo")
    assert bobs.kind == "undone"
    [done] = await alice.send("undo")
    assert done.kind == "undone" and "Karel Malý" in done.text
    assert await count(demo, models.Customer, models.Customer.name == "Karel Malý", models.Customer.deleted_at.is_(None)) == 0


async def test_a_change_picked_from_the_history_waits_for_the_later_one_on_the_same_deal(alice, demo, clock):
    await alice.send("new deal jakub vesely €9,000")  # his first deal: titled by his farm
    clock.now += timedelta(minutes=1)
    [moved] = await alice.send("/move jakub vesely proposal")
    assert moved.kind == "deal_moved", moved.text
    [history] = await alice.send("what did I change")
    assert "deal changed" in history.text.splitlines()[1] and "deal created" in history.text.splitlines()[2]
    [refused] = await alice.press(history.buttons[1])  # the new deal, which the move built on
    assert refused.kind == "undo_blocked" and "deal changed" in refused.text and "Undo that one first" in refused.text
    assert await live_deals(demo, "Veselý Farm") == 1
    await alice.send("undo")  # the move
    [history] = await alice.send("what did I change")
    [undone] = await alice.press(history.buttons[0])
    assert undone.kind == "undone" and "Veselý Farm" in undone.text
    assert await live_deals(demo, "Veselý Farm") == 0


@pytest.mark.both_engines
async def test_each_member_sees_and_undoes_only_their_own_changes(alice, bob, demo):
    [empty] = await bob.send("what did I change")
    assert empty.kind == "history_empty" and not empty.buttons
    await alice.send("new deal cyberdyne $12,500")
    [still] = await bob.send("my changes")
    assert still.kind == "history_empty"
    [history] = await alice.send("/history")
    [not_yours] = await bob.press(history.buttons[0])
    assert not_yours.kind == "button_not_yours"
    assert await live_deals(demo, "Cyberdyne") == 1


async def test_an_erasure_is_listed_but_offers_no_undo(demo):
    from crmbot.app import console_member
    from crmbot.adapters.console import ConsoleChat

    await console_member(demo, "Admin", NOW, team_name=sample.TEAM)
    admin = ConsoleChat(demo.bot, "Admin")
    [confirm] = await admin.send("/forget olga petrova")
    await admin.press(confirm.buttons[0])
    await admin.send("new deal cyberdyne $5,000")
    [history] = await admin.send("what did I change")
    assert "customer erased" in history.text and "cannot be undone" in history.text
    assert [b.label for b in history.buttons] == ["↩️ Undo 1"]  # the deal only


@pytest.mark.parametrize("code, text", [
    ("en", "what did I change?"), ("en", "show my changes"), ("cs", "co jsem změnil?"), ("cs", "ukaž moje změny"),
    ("sl", "kaj sem spremenila danes"), ("sl", "moje zadnje spremembe"), ("zh", "我改了什么"), ("zh", "我最近的修改"),
    ("cy", "beth newidiais i?"), ("cy", "fy newidiadau diweddar"), ("az", "nə dəyişdim?"), ("az", "son dəyişikliklərim"),
])
def test_history_is_understood_in_every_language(parser, code, text):
    intent = parser.parse(text, code, NOW, "Europe/Prague")
    assert (intent.name, intent.alternatives) == ("history", ()), (intent.name, intent.alternatives)


def test_a_customers_history_is_their_card_not_mine(parser):
    for code, text in (("en", "Please could you show me Petra Dvořáková's history?"), ("cy", "Allech chi ddangos hanes Petra Dvořáková i mi?")):
        assert parser.parse(text, code, NOW, "Europe/Prague").name != "history", text


# -- summaries over named periods and date ranges --------------------------------------------------


async def add_calls(app, days_ago: list[int]) -> None:
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        alice = await teams.member_by_name(session, team.id, "Alice")
        customer = await session.scalar(select(models.Customer).where(models.Customer.team_id == team.id).limit(1))
        for days in days_ago:
            session.add(models.Interaction(team_id=team.id, customer_id=customer.id, member_id=alice.id, kind="meeting",
                                           summary="range check", happened_at=NOW - timedelta(days=days), created_at=NOW))


@pytest.mark.both_engines
async def test_a_summary_over_a_date_range_counts_those_days_and_names_them(alice, demo):
    await add_calls(demo, [15, 14, 5])  # 10 and 11 November, and 20 November
    [ranged] = await alice.send("summary 1.11.-15.11.")
    assert ranged.kind == "summary" and "**Team summary: 1\u2009–\u200915 Nov 2026**" in ranged.text
    assert "Alice: 2 × Meeting" in ranged.text and ranged.image is not None
    [since] = await alice.send("summary since 12 november")
    assert "**Team summary: 12\u2009–\u200925 Nov 2026**" in since.text and "Meeting" in since.text
    assert "1 × Meeting" in since.text or "2 × Meeting" in since.text  # 20 November's, and the sample's meeting on the 20th
    [one_day] = await alice.send("summary 10.11.")
    assert "**Team summary: 10 Nov 2026**" in one_day.text and "Alice: 1 × Meeting" in one_day.text


async def test_named_periods_name_their_days(alice, bob, demo):
    # Babel's intervals put thin spaces around the dash (U+2009)
    [last_week] = await alice.send("summary last week")
    assert "**Team summary: last week** (16\u2009–\u200922 Nov 2026)" in last_week.text
    [last_month] = await alice.send("how did we do last month")
    assert "**Team summary: last month** (1\u2009–\u200931 Oct 2026)" in last_month.text
    [quarter] = await alice.send("summary this quarter")
    assert "**Team summary: this quarter** (since 1 Oct 2026)" in quarter.text
    [bobs] = await alice.send("summary for bob last week")
    assert "**Bob's summary: last week** (16\u2009–\u200922 Nov 2026)" in bobs.text
    [own] = await bob.send("summary 1.11.-15.11.")
    assert "**Your summary: 1\u2009–\u200915 Nov 2026**" in own.text


@pytest.mark.parametrize("code, text, days", [
    ("en", "summary 1.11.-15.11.", ["2026-11-01", "2026-11-15"]),
    ("en", "summary from 1 november to 15 november", ["2026-11-01", "2026-11-15"]),
    ("cs", "souhrn od 1. listopadu do 15. listopadu", ["2026-11-01", "2026-11-15"]),
    ("cs", "souhrn od 1. listopadu", ["2026-11-01", "2026-11-25"]),
    ("sl", "povzetek od 1. 11. do 15. 11.", ["2026-11-01", "2026-11-15"]),
    ("zh", "汇总11月1日到11月15日", ["2026-11-01", "2026-11-15"]),
    ("zh", "从11月1日以来的汇总", ["2026-11-01", "2026-11-25"]),
    ("cy", "crynodeb 1 Tachwedd i 15 Tachwedd", ["2026-11-01", "2026-11-15"]),
    ("cy", "crynodeb ers 1 Tachwedd", ["2026-11-01", "2026-11-25"]),
    ("az", "1.11.2026–15.11.2026 xülasəsi", ["2026-11-01", "2026-11-15"]),
    ("az", "1 noyabrdan bəri hesabat", ["2026-11-01", "2026-11-25"]),
    ("en", "summary 3 december", ["2025-12-03", "2025-12-03"]),  # a day without a year: the last one, not next month
])
def test_summary_date_ranges_are_understood_in_every_language(parser, code, text, days):
    intent = parser.parse(text, code, NOW, "Europe/Prague")
    assert intent.name == "summary" and intent.slots.get("days") == days, (intent.name, intent.slots.get("days"))


def test_a_named_period_is_not_read_as_a_date(parser):
    for text in ("summary last week", "summary this month", "how did we do last month", "report for today"):
        assert "days" not in parser.parse(text, "en", NOW, "Europe/Prague").slots, text
