"""Changing deals by chat, on SQLite and PostgreSQL: amount (with its currency), title, expected
close date, closing (won or lost is asked) and deleting (soft, undone by "undo"); a deal is told
apart from the customer's others by title, amount and stage; a rep changes only their own."""

from __future__ import annotations

import pytest

from datetime import datetime, timezone

from crmbot.store import models
from tests.test_conversation import rows

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only


async def deal(app, title: str) -> models.Deal:
    [found] = await rows(app, models.Deal, models.Deal.title == title)
    return found


@pytest.mark.both_engines
async def test_the_amount_changes_old_to_new_and_undo_takes_it_back(alice, demo):
    [changed] = await alice.send("change the acme deal to 60k")
    assert changed.kind == "deal_changed" and "Acme website" in changed.text
    assert "Amount: €50,000.00 → €60,000.00" in changed.text
    assert (await deal(demo, "Acme website")).amount_minor == 6_000_000
    [undone] = await alice.send("undo")
    assert undone.kind == "undone" and "Acme website" in undone.text and "€50,000.00" in undone.text
    assert (await deal(demo, "Acme website")).amount_minor == 5_000_000


async def test_an_amount_with_its_own_currency_changes_the_currency_too(alice, demo):
    [changed] = await alice.send("change the acme deal to 1.2m CZK")
    assert "CZK" in changed.text
    acme = await deal(demo, "Acme website")
    assert (acme.amount_minor, acme.currency) == (120_000_000, "CZK")


async def test_the_expected_close_date_and_the_title(alice, demo):
    [closes] = await alice.send("acme website deal closes end of january")
    assert closes.kind == "deal_changed" and "Expected to close: 31 Jan 2027" in closes.text
    # the end of January, 17:00 in Alice's zone (Europe/Prague, UTC+1)
    assert (await deal(demo, "Acme website")).expected_close == datetime(2027, 1, 31, 16, 0, tzinfo=timezone.utc)
    [renamed] = await alice.send("rename the horvat deal to Horvat ERP phase 2")
    assert "Title: Horvat ERP → Horvat ERP phase 2" in renamed.text
    await deal(demo, "Horvat ERP phase 2")
    [undone] = await alice.send("undo")
    assert "Horvat ERP" in undone.text
    await deal(demo, "Horvat ERP")
    [undone] = await alice.send("undo")
    assert "Expected to close: —" in undone.text
    assert (await deal(demo, "Acme website")).expected_close is None


async def test_closing_asks_won_or_lost_with_buttons(alice, demo):
    [asked] = await alice.send("close the cyberdyne deal")
    assert asked.kind == "deal_close_how" and "Cyberdyne pilot" in asked.text
    assert [b.label for b in asked.buttons] == ["🎉 Won", "😞 Lost", "Cancel"]
    assert (await deal(demo, "Cyberdyne pilot")).stage == "lead"  # nothing yet
    [moved] = await alice.press(asked.buttons[0])
    assert moved.kind == "deal_moved"
    assert (await deal(demo, "Cyberdyne pilot")).stage == "won"


@pytest.mark.both_engines
async def test_a_deleted_deal_is_soft_deleted_off_the_card_and_undo_brings_it_back(alice, demo):
    [deleted] = await alice.send("delete the horvat deal")
    assert deleted.kind == "deal_deleted" and "Horvat ERP" in deleted.text and "undo" in deleted.text
    assert (await deal(demo, "Horvat ERP")).deleted_at is not None
    [card] = await alice.send("find luka horvat")
    assert "Horvat ERP" not in card.text
    [undone] = await alice.send("undo")
    assert "Horvat ERP" in undone.text and "back again" in undone.text
    assert (await deal(demo, "Horvat ERP")).deleted_at is None
    [card] = await alice.send("find luka horvat")
    assert "Horvat ERP" in card.text


async def test_a_customer_with_several_deals_is_asked_which_by_title_amount_and_stage(alice, demo):
    await alice.send("new deal jana 5k EUR")
    [asked] = await alice.send("change jana's deal to 7k")
    assert asked.kind == "deal_pick" and "2 deals" in asked.text
    labels = [b.label.replace("\xa0", " ") for b in asked.buttons]  # Babel spaces money with no-break spaces
    assert "Beta fleet tracking · CZK120,000.00 · Negotiation" in labels
    assert "Beta Logistics · €5,000.00 · Lead" in labels and labels[-1] == "Cancel"
    [changed] = await alice.press(asked.buttons[labels.index("Beta Logistics · €5,000.00 · Lead")])
    assert "€5,000.00 → €7,000.00" in changed.text
    assert (await deal(demo, "Beta fleet tracking")).amount_minor == 12_000_000


async def test_a_deal_move_that_must_ask_tells_the_deals_apart_by_amount_too(alice, demo):
    await alice.send("new deal jana 5k EUR")
    [asked] = await alice.send("jana negotiation")
    assert asked.kind == "deal_which"
    assert {b.label.replace("\xa0", " ") for b in asked.buttons} >= {"Beta fleet tracking · CZK120,000.00 · Negotiation", "Beta Logistics · €5,000.00 · Lead"}


async def test_a_rep_changes_their_own_deals_only(bob, demo):
    [refused] = await bob.send("change the acme deal to 70k")  # Alice's
    assert refused.kind == "not_yours" and "Alice" in refused.text
    assert (await deal(demo, "Acme website")).amount_minor == 5_000_000
    [refused] = await bob.send("delete the acme deal")
    assert refused.kind == "not_yours" and (await deal(demo, "Acme website")).deleted_at is None
    [changed] = await bob.send("change the schmidt deal to 25k")  # Bob's own
    assert changed.kind == "deal_changed" and (await deal(demo, "Schmidt integration")).amount_minor == 2_500_000


async def test_a_customer_without_deals_is_told_so(alice, demo):
    [none] = await alice.send("delete deal kvetiny petra")
    assert none.kind == "no_deal" and "Petra Dvořáková" in none.text
