"""Routing rules set by chat (both engines): a manager says the rule, sees it in words, and
only a button stores it; listing, removing, undoing; reps may not; all six languages."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crmbot.cli import cli
from crmbot.i18n import I18n
from crmbot.store import models, routes

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

ROUTING = '"new leads from the web go to Bob" · "show routing rules" · "remove rule 2"'


def examples(code: str) -> list[str]:
    said = I18n.packaged().language(code).translations.gettext(ROUTING)
    return [part.strip().strip('"„“»«”') for part in said.split(" · ")]


async def live_rules(app) -> list[models.Route]:
    async with app.db.sessions() as session:
        team = await session.scalar(select(models.Team))
        return await routes.active(session, team.id)


async def member_id(app, name: str) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(models.Member.id).where(models.Member.name == name))


async def test_a_rule_said_in_words_is_stored_only_when_the_manager_confirms_it(alice, demo):
    [asked] = await alice.send("new leads from the web go to Bob")
    assert asked.kind == "route_confirm" and "New customers: status = lead, source = web → Bob" in asked.text
    save, cancel = asked.buttons
    assert await live_rules(demo) == []  # nothing before the press
    [cancelled] = await alice.press(cancel)
    assert cancelled.kind == "cancelled" and await live_rules(demo) == []

    [asked] = await alice.send("new leads from the web go to Bob")
    [saved] = await alice.press(asked.buttons[0])
    assert saved.kind == "route_saved" and "Rule 1 saved" in saved.text
    [rule] = await live_rules(demo)
    assert (rule.entity, rule.conditions, rule.assignees, rule.round_robin) == (
        "customer", [["status", "lead"], ["source", "web"]], [await member_id(demo, "Bob")], False)
    async with demo.db.sessions() as session:
        [entry] = await session.scalars(select(models.AuditEntry).where(models.AuditEntry.entity == "route"))
    assert (entry.action, entry.member_id, entry.platform) == ("create", await member_id(demo, "Alice"), "console")

    [undone] = await alice.send("undo")
    assert "Undone: routing rule created" in undone.text and await live_rules(demo) == []


async def test_a_complaint_rule_said_in_a_sentence_routes_the_next_complaint(alice, bob, demo):
    [asked] = await alice.send("complaints about invoices go to Bob")
    assert "New complaints: word = invoices → Bob" in asked.text
    await alice.press(asked.buttons[0])
    outcome = await alice.exchange("complaint from lucie cerna: the invoice has the wrong VAT number")
    assert "Bob handles it." in outcome.replies[0].text  # "invoices" said, "invoice" written: the same word
    assert [o.replies[0].kind for o in outcome.announcements if o.chat.chat_id == "Bob"] == ["complaint_assigned"]


@pytest.mark.both_engines
async def test_leads_spread_between_two_members_go_to_each_in_turn(alice, demo, db_url, tmp_path):
    [asked] = await alice.send("spread new leads between Bob and Alice")
    assert "New customers: status = lead → Bob, Alice (in turn)" in asked.text
    await alice.press(asked.buttons[0])
    [rule] = await live_rules(demo)
    assert rule.round_robin and rule.assignees == [await member_id(demo, "Bob"), await member_id(demo, "Alice")]
    book = tmp_path / "leads.csv"  # leads nobody owns yet: the rule hands them out
    book.write_text("Name,Status\nKarel Malý,lead\nEma Nová,lead\nIda Krátká,lead\nOld Friend,customer\n", encoding="utf-8")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["import", str(book), "--db", db_url])
    assert result.exit_code == 0, result.output
    async with demo.db.sessions() as session:
        owners = dict((await session.execute(select(models.Customer.name, models.Customer.owner_id).where(
            models.Customer.name.in_(["Karel Malý", "Ema Nová", "Ida Krátká", "Old Friend"])))).all())
    bob, alice_id = await member_id(demo, "Bob"), await member_id(demo, "Alice")
    assert owners == {"Karel Malý": bob, "Ema Nová": alice_id, "Ida Krátká": bob, "Old Friend": None}  # a customer is no lead


async def test_what_a_value_is_is_asked_when_the_records_do_not_say(alice, demo):
    [asked] = await alice.send("new customers from Contoso go to Bob")  # neither a source, a company nor a country we know
    assert asked.kind == "route_which_field" and "Contoso" in asked.text
    assert [b.label for b in asked.buttons] == ["source = Contoso", "company = Contoso", "Cancel"]
    [confirm] = await alice.press(asked.buttons[1])
    assert confirm.kind == "route_confirm" and "company = Contoso" in confirm.text
    [confirm] = await alice.send("new customers from Germany go to Bob")
    assert "country = Germany" in confirm.text  # a country, by its name
    [confirm] = await alice.send("new customers from acme go to Bob")
    assert "company = Acme s.r.o." in confirm.text  # a company the records hold, as they write it
    [who] = await alice.send("new leads from the web go to Zorro")
    assert who.kind == "route_who" and "Alice, Bob, Admin" in who.text


async def test_rules_are_listed_and_removed_after_a_press_and_the_removal_undone(alice, demo):
    for said in ("new leads from the web go to Bob", "complaints about invoices go to Alice"):
        [asked] = await alice.send(said)
        await alice.press(asked.buttons[0])
    first, second = await live_rules(demo)
    [listed] = await alice.send("show routing rules")
    assert f"{first.id}. New customers: status = lead, source = web → Bob" in listed.text
    assert f"{second.id}. New complaints: word = invoices → Alice" in listed.text

    [missing] = await alice.send("remove rule 99")
    assert missing.kind == "route_not_found" and "no rule 99" in missing.text
    [asked] = await alice.send(f"remove rule {second.id}")
    assert asked.kind == "route_remove_confirm" and len(await live_rules(demo)) == 2
    [removed] = await alice.press(asked.buttons[0])
    assert removed.kind == "route_removed" and [r.id for r in await live_rules(demo)] == [first.id]
    [undone] = await alice.send("undo")
    assert "Undone: routing rule change" in undone.text
    assert [r.id for r in await live_rules(demo)] == [first.id, second.id]  # back in its place


async def test_a_rep_may_not_set_list_or_remove_rules(alice, bob, demo):
    [asked] = await alice.send("new leads from the web go to Bob")
    await alice.press(asked.buttons[0])
    for said in ("new leads from the web go to Bob", "show routing rules", "remove rule 1", "/rules"):
        [refused] = await bob.send(said)
        assert refused.kind == "not_allowed", said
    [rule] = await live_rules(demo)
    assert rule.deleted_at is None
    # a manager's confirming button is theirs alone
    [asked] = await alice.send("complaints about invoices go to Bob")
    [refused] = await bob.press(asked.buttons[0])
    assert refused.kind == "button_not_yours" and len(await live_rules(demo)) == 1


@pytest.mark.parametrize("code", ["en", "cs", "sl", "zh", "cy", "az"])
async def test_a_rule_is_set_listed_and_removed_in_each_language(alice, demo, code):
    await alice.send(f"/lang {code}")
    add, show, remove = examples(code)
    [asked] = await alice.send(add)
    assert asked.kind == "route_confirm" and "Bob" in asked.text
    assert I18n.packaged().string(code, "route_field.source") in asked.text
    [saved] = await alice.press(asked.buttons[0])
    assert saved.kind == "route_saved"
    [rule] = await live_rules(demo)
    assert (rule.conditions, rule.assignees) == ([["status", "lead"], ["source", "web"]], [await member_id(demo, "Bob")])
    [listed] = await alice.send(show)
    assert listed.kind == "route_list" and f"{rule.id}. " in listed.text
    [asked] = await alice.send(re.sub(r"\d+", str(rule.id), remove))
    assert asked.kind == "route_remove_confirm"
    [removed] = await alice.press(asked.buttons[0])
    assert removed.kind == "route_removed" and await live_rules(demo) == []
