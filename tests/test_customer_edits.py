"""Changing a customer by chat, on SQLite and PostgreSQL: contact details, status, channel, owner
and the personal profile; each change says old → new, is audited, and undo takes it back; a bad
phone number or e-mail address is asked about and never stored; a rep changes only their own
customers and nobody's."""

from __future__ import annotations

import pytest

from sqlalchemy import func, select, update

from crmbot.store import models
from tests.test_conversation import rows

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only


async def customer(app, name: str) -> models.Customer:
    [found] = await rows(app, models.Customer, models.Customer.name == name, models.Customer.deleted_at.is_(None))
    return found


async def facts(app, name: str) -> list[models.CustomerFact]:
    who = await customer(app, name)
    return await rows(app, models.CustomerFact, models.CustomerFact.customer_id == who.id, models.CustomerFact.deleted_at.is_(None))


async def audit_count(app) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(models.AuditEntry))


async def set_team(app, **settings) -> None:
    async with app.db.sessions() as session, session.begin():
        team = await session.scalar(select(models.Team))
        await session.execute(update(models.Team).where(models.Team.id == team.id).values(settings={**team.settings, **settings}))


async def test_a_new_phone_replies_old_to_new_is_kept_in_e164_and_undo_takes_it_back(alice, demo):
    [changed] = await alice.send("change eva's phone to +420 777 999 888")
    assert changed.kind == "customer_changed"
    assert "Eva Kučerová" in changed.text and "+420 777 123 457 → +420 777 999 888" in changed.text
    assert (await customer(demo, "Eva Kučerová")).phones == ["+420777999888"]
    [undone] = await alice.send("undo")
    assert undone.kind == "undone" and "Eva Kučerová" in undone.text and "Phone: +420 777 123 457" in undone.text
    assert (await customer(demo, "Eva Kučerová")).phones == ["+420 777 123 457"]


async def test_a_number_without_its_country_code_is_read_in_the_teams_region(alice, demo):
    # the team keeps no region: Alice writes English, so a bare number is read as British, and
    # a Czech mobile number is no British one: asked about, nothing kept
    [asked] = await alice.send("change eva's phone to 777 999 888")
    assert asked.kind == "value_invalid" and "777 999 888" in asked.text and "country code" in asked.text
    assert (await customer(demo, "Eva Kučerová")).phones == ["+420 777 123 457"]
    await set_team(demo, region="CZ")  # as `crmbot import --region CZ` remembers it
    [changed] = await alice.send("change eva's phone to 777 999 888")
    assert changed.kind == "customer_changed"
    assert (await customer(demo, "Eva Kučerová")).phones == ["+420777999888"]


async def test_a_bad_phone_or_e_mail_gets_a_question_and_nothing_is_stored(alice, demo):
    before = await audit_count(demo)
    for typed, field in [("change eva's phone to +420 12", "phone number"), ("change eva's email to eva-at-new", "e-mail address"),
                         ("eva new email eva.new.cz", "e-mail address"), ("update eva's website to not a site", "web address")]:
        [asked] = await alice.send(typed)
        assert asked.kind == "value_invalid" and f"doesn't look like a{'n' if field[0] == 'e' else ''} {field}" in asked.text, typed
        assert "Eva Kučerová" in asked.text and "?" in asked.text
    eva = await customer(demo, "Eva Kučerová")
    assert eva.phones == ["+420 777 123 457"] and eva.emails == ["eva.kucerova@acme.cz"] and eva.website is None
    assert await audit_count(demo) == before  # nothing was written


@pytest.mark.both_engines
async def test_each_detail_is_changed_old_to_new_and_undone(alice, demo):
    cases = [
        ("eva new email eva@kucerova.cz", "emails", ["eva@kucerova.cz"], "eva.kucerova@acme.cz → eva@kucerova.cz"),
        ("update eva's website to www.kucerova.cz", "website", "www.kucerova.cz", "Website: www.kucerova.cz"),
        ("change eva's company to Beta Logistics", "company", "Beta Logistics", "Acme s.r.o. → Beta Logistics"),
        ("eva's new address is Main Street 5, Prague", "address", "Main Street 5, Prague", "Address: Main Street 5, Prague"),
        ("eva is a prospect now", "status", "prospect", "customer → prospect"),
        ("eva prefers whatsapp", "preferred_channel", "whatsapp", "Preferred channel: WhatsApp"),
    ]
    for typed, column, value, said in cases:
        before = getattr(await customer(demo, "Eva Kučerová"), column)
        [changed] = await alice.send(typed)
        assert changed.kind == "customer_changed" and said in changed.text, (typed, changed.text)
        assert getattr(await customer(demo, "Eva Kučerová"), column) == value, typed
        [undone] = await alice.send("undo")
        assert undone.kind == "undone" and "Eva Kučerová" in undone.text, typed
        assert getattr(await customer(demo, "Eva Kučerová"), column) == before, typed


async def test_a_change_to_what_is_held_already_changes_nothing(alice, demo):
    [same] = await alice.send("eva is a customer now")
    assert same.kind == "nothing_changed"
    [same] = await alice.send("change eva's phone to +420 777 123 457")
    assert same.kind == "nothing_changed"


async def test_a_field_named_without_its_value_is_asked_for(alice, demo):
    [asked] = await alice.send("change eva's phone")
    assert asked.kind == "edit_what" and "new phone" in asked.text and "Eva Kučerová" in asked.text


async def test_the_owner_is_changed_by_reassigning_and_the_reply_says_who_had_it(alice, bob, demo):
    [moved] = await alice.send("change eva's owner to bob")
    assert moved.kind == "reassigned" and "now belongs to Bob" in moved.text and "Before: Alice" in moved.text
    [refused] = await bob.send("change petr dvorak's owner to alice")
    assert refused.kind == "not_allowed"  # reassigning stays a manager's
    [undone] = await alice.send("undo")
    assert "Owner: Alice" in undone.text


async def test_a_rep_changes_their_own_and_nobodys_customers_only(bob, demo):
    [own] = await bob.send("change petr dvorak's email to petr@novy.cz")  # Petr is Bob's
    assert own.kind == "customer_changed"
    [refused] = await bob.send("change eva's email to eva@bob.cz")  # Eva is Alice's
    assert refused.kind == "not_yours" and "Alice" in refused.text
    assert (await customer(demo, "Eva Kučerová")).emails == ["eva.kucerova@acme.cz"]
    [refused] = await bob.send("eva plays golf")  # her profile too
    assert refused.kind == "not_yours" and await facts(demo, "Eva Kučerová") == []
    async with demo.db.sessions() as session, session.begin():
        await session.execute(update(models.Customer).where(models.Customer.name == "Eva Kučerová").values(owner_id=None))
    [nobodys] = await bob.send("change eva's email to eva@bob.cz")
    assert nobodys.kind == "customer_changed" and (await customer(demo, "Eva Kučerová")).emails == ["eva@bob.cz"]


@pytest.mark.both_engines
async def test_the_profile_is_kept_in_its_own_fields_and_shown_on_the_card(alice, demo):
    said = {
        "petr dvorak's birthday is 12 March": "Birthday: 12 March",
        "petr dvorak plays golf": "Hobby: golf",
        "petr dvorak's wife is Marie": "Wife: Marie",
        "petr dvorak is in the Rotary club": "Member of: Rotary club",
        "petr dvorak's wedding anniversary is 3 June": "Wedding anniversary: 3 June",
    }
    for typed, line in said.items():
        [kept] = await alice.send(typed)
        assert kept.kind == "customer_changed" and line in kept.text, (typed, kept.text)
    held = {(f.kind, f.detail, f.value, f.month, f.day) for f in await facts(demo, "Petr Dvořák")}
    assert held == {("birthday", "", "", 3, 12), ("hobby", "", "golf", None, None), ("family", "wife", "Marie", None, None),
                    ("membership", "", "Rotary club", None, None), ("anniversary", "wedding", "", 6, 3)}
    [card] = await alice.send("find petr dvorak")
    assert "**Profile**" in card.text
    for line in ("Birthday: 12 March", "Wedding anniversary: 3 June", "Family: Marie (wife)", "Hobbies: golf", "Member of: Rotary club"):
        assert line in card.text, line
    # nothing of it became a note
    assert await rows(demo, models.Interaction, models.Interaction.summary.contains("golf")) == []


async def test_a_new_day_replaces_the_old_one_and_a_known_hobby_is_not_added_twice(alice, demo):
    await alice.send("petr dvorak's birthday is 12 March")
    [moved] = await alice.send("petr dvorak was born on 14 March 1980")
    assert "12 March → 14 March 1980" in moved.text
    [birthday] = [f for f in await facts(demo, "Petr Dvořák") if f.kind == "birthday"]
    assert (birthday.month, birthday.day, birthday.year) == (3, 14, 1980)
    await alice.send("petr dvorak plays golf")
    [same] = await alice.send("petr dvorak plays golf")
    assert same.kind == "nothing_changed" and len([f for f in await facts(demo, "Petr Dvořák") if f.kind == "hobby"]) == 1
    [wife] = await alice.send("petr dvorak's wife is Jana")
    await alice.send("petr dvorak's wife is Marie")
    assert [f.value for f in await facts(demo, "Petr Dvořák") if f.kind == "family"] == ["Marie"]  # one wife, renamed
    [undone] = await alice.send("undo")
    assert "Wife: Jana" in undone.text
    assert [f.value for f in await facts(demo, "Petr Dvořák") if f.kind == "family"] == ["Jana"]


async def test_undo_takes_a_profile_fact_back_and_says_which(alice, demo):
    await alice.send("petr dvorak plays golf")
    [undone] = await alice.send("undo")
    assert undone.kind == "undone" and "Petr Dvořák" in undone.text and "Hobby: golf" in undone.text
    assert await facts(demo, "Petr Dvořák") == []


async def test_a_fact_with_more_said_keeps_the_rest_as_a_note(alice, demo):
    replies = await alice.send("petr dvorak plays golf, invite him to the tournament")
    assert [r.kind for r in replies] == ["customer_changed", "logged"]
    [note] = await rows(demo, models.Interaction, models.Interaction.summary.contains("tournament"))
    assert note.kind == "note"
    [undone] = await alice.send("undo")  # one action: the hobby and the note go together
    assert await facts(demo, "Petr Dvořák") == []
    assert (await rows(demo, models.Interaction, models.Interaction.id == note.id))[0].deleted_at is not None


async def test_a_day_that_is_not_said_is_asked_for(alice, demo):
    [asked] = await alice.send("remind me of petr dvorak's birthday")
    assert asked.kind == "fact_needs_day" and "birthday" in asked.text and "Petr Dvořák" in asked.text


async def test_forget_erases_the_profile_too(demo, alice):
    await alice.send("lucie cerna plays tennis")
    async with demo.db.sessions() as session, session.begin():
        await session.execute(update(models.Member).where(models.Member.name == "Alice").values(role="admin"))
    [ask] = await alice.send("/forget lucie cerna")
    await alice.press(next(b for b in ask.buttons if "Erase" in b.label))
    [fact] = await rows(demo, models.CustomerFact)
    assert fact.value == "(erased)" and fact.deleted_at is not None
