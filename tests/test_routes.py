"""Routing rules: who gets a new complaint or an unowned customer, set from the shell and
applied by the core, on both engines."""

from __future__ import annotations

import pytest

import asyncio
import json
from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from crmbot import sample
from crmbot.cli import cli
from crmbot.store import models, routes, teams
from tests.conftest import NOW

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only


def route(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["route", *args, "--db", db_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


async def member_ids(app) -> dict[str, int]:
    async with app.db.sessions() as session:
        team = await teams.team_by_name(session, sample.TEAM)
        return {m.name: m.id for m in await teams.members_of(session, team.id)}


@pytest.mark.both_engines
async def test_a_complaint_about_invoices_goes_to_the_member_a_rule_names_who_is_told(alice, bob, demo, db_url):
    await asyncio.to_thread(route, db_url, "add", "--to", "Bob", "--when", "text=invoice")
    outcome = await alice.exchange("complaint from lucie cerna: the invoice has the wrong VAT number")
    [recorded] = outcome.replies
    assert "Bob handles it." in recorded.text
    [told] = [o for o in outcome.announcements if o.chat.chat_id == "Bob"]
    assert told.replies[0].kind == "complaint_assigned" and "Alice recorded a complaint" in told.replies[0].text
    async with demo.db.sessions() as session:
        complaint = await session.scalar(select(models.Complaint).where(models.Complaint.text.contains("VAT")))
    ids = await member_ids(demo)
    assert complaint.assignee_id == ids["Bob"] and complaint.member_id == ids["Alice"]  # handler apart from reporter

    other = await alice.exchange("complaint from lucie cerna: the brochures came late")  # no rule matches
    assert "handles it" not in other.replies[0].text and not [o for o in other.announcements if o.chat.chat_id == "Bob"]

    [undone] = await alice.send("undo")  # the complaint, with its assignment
    assert "Undone" in undone.text
    listed = json.loads(await asyncio.to_thread(route, db_url, "list", "--format", "json"))
    assert listed == [{"id": listed[0]["id"], "for": "complaint", "when": {"text": "invoice"}, "to": ["Bob"], "round_robin": False}]


@pytest.mark.both_engines
async def test_round_robin_hands_out_turns_once_each_even_at_the_same_moment(demo):
    ids = await member_ids(demo)
    async with demo.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        await routes.add(session, team.id, [("source", "web")], [ids["Bob"], ids["Alice"]], True, NOW)
        await routes.add(session, team.id, [("country", "CZ")], [ids["Admin"]], False, NOW)
    web = models.Customer(name="Web Lead", lead_source="Web", phones=["+44 20 7946 0000"], status="lead")
    czech = models.Customer(name="Karel", lead_source="fair", phones=["+420 777 000 111"], status="lead")

    async def pick(customer) -> int | None:
        async with demo.db.sessions() as session, session.begin():
            return await routes.assignee_for(session, team.id, customer)

    assert await pick(czech) == ids["Admin"]  # the country read from the phone
    assert await pick(models.Customer(name="Nobody", lead_source="fair", phones=[], status="lead")) is None
    picks = await asyncio.gather(*(pick(web) for _ in range(6)))  # six new web leads at once
    assert sorted(picks) == sorted([ids["Bob"], ids["Alice"]] * 3)


async def test_many_new_customers_picked_at_once_take_round_robin_turns_as_one_by_one_would(demo):
    ids = await member_ids(demo)
    async with demo.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        await routes.add(session, team.id, [("source", "web")], [ids["Bob"], ids["Alice"], ids["Admin"]], True, NOW)
        await routes.add(session, team.id, [("source", "fair")], [ids["Alice"]], False, NOW)
    customers = [models.Customer(team_id=team.id, name=f"Lead {i}", lead_source=source, phones=[], status="lead")
                 for i, source in enumerate(["web", "fair", "web", "other", "web", "web", "fair"])]
    for customer in customers:
        customer.tags = []

    async def picks(one_by_one: bool) -> list[int | None]:
        async with demo.db.sessions() as session, session.begin():
            rules = await routes.Rules.of(session, team.id)
            if one_by_one:
                return [await rules.pick(session, customer, tags=[]) for customer in customers]
            return await rules.pick_many(session, customers)

    bob, alice, admin = ids["Bob"], ids["Alice"], ids["Admin"]
    # web, fair, web, other, web, web, fair: the web rule's turn advanced once, by four
    assert await picks(one_by_one=False) == [bob, alice, alice, None, admin, bob, alice]
    # the next customers carry on where the batch left off, as picking one by one always did
    assert await picks(one_by_one=True) == [alice, alice, admin, None, bob, alice, alice]
    assert await picks(one_by_one=False) == [admin, alice, bob, None, alice, admin, alice]


async def follow_ups_after_a_new_lead_and_a_resolution(alice, demo) -> dict:
    """Alice adds a lead and resolves Lucie's complaint: each answer must say a follow-up was
    set; the follow-ups made then, note -> due."""
    added = await alice.send("new customer Karel Malý from Pekárna")
    assert [r.kind for r in added] == ["customer_added", "reminder_set"]
    resolved = await alice.send("lucie complaint resolved, reprinted")
    assert [r.kind for r in resolved] == ["complaint_resolved", "reminder_set"]
    async with demo.db.sessions() as session:
        return {f.note: f.due_at for f in await session.scalars(select(models.FollowUp).where(models.FollowUp.created_at == NOW))}


async def test_a_team_can_ask_for_a_follow_up_after_every_new_lead_and_resolved_complaint(alice, demo, db_url):
    run = CliRunner().invoke
    assert (await asyncio.to_thread(run, cli, ["auto-follow-up", "set", "new-lead", "--after", "2", "--db", db_url])).exit_code == 0
    assert (await asyncio.to_thread(run, cli, ["auto-follow-up", "set", "resolved-complaint", "--after", "7",
                                               "--note", "Check-in call", "--db", db_url])).exit_code == 0
    made = await follow_ups_after_a_new_lead_and_a_resolution(alice, demo)
    assert made == {"Call the new lead": NOW + timedelta(days=2), "Check-in call": NOW + timedelta(days=7)}
    [undone] = await alice.send("undo")  # the resolution and its follow-up, one action
    async with demo.db.sessions() as session:
        live = [f.note for f in await session.scalars(select(models.FollowUp).where(
            models.FollowUp.created_at == NOW, models.FollowUp.deleted_at.is_(None)))]
    assert live == ["Call the new lead"]
    assert (await asyncio.to_thread(run, cli, ["auto-follow-up", "off", "new-lead", "--db", db_url])).exit_code == 0
    assert [r.kind for r in await alice.send("new customer Eva Nová")] == ["customer_added"]


@pytest.mark.both_engines
async def test_imported_customers_the_file_gives_no_owner_are_routed(demo, db_url, tmp_path):
    ids = await member_ids(demo)
    async with demo.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        await routes.add(session, team.id, [("source", "web")], [ids["Bob"], ids["Alice"]], True, NOW)
    book = tmp_path / "leads.csv"
    book.write_text("Name,Company,Lead source,Owner\nAda Web,Web One,web,\nBo Web,Web Two,Web,\n"
                    "Cy Fair,Fair Co,fair,\nDi Web,Web Three,web,Admin\n", encoding="utf-8")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["import", str(book), "--db", db_url])
    assert result.exit_code == 0, result.output
    async with demo.db.sessions() as session:
        owners = {c.name: c.owner_id for c in await session.scalars(
            select(models.Customer).where(models.Customer.name.in_(["Ada Web", "Bo Web", "Cy Fair", "Di Web"])))}
    assert owners == {"Ada Web": ids["Bob"], "Bo Web": ids["Alice"], "Cy Fair": None, "Di Web": ids["Admin"]}


async def test_a_tag_rule_routes_new_customers_carrying_the_tag_and_complaints_about_them(alice, demo, db_url, tmp_path):
    added = await asyncio.to_thread(route, db_url, "add", "--to", "Bob", "--when", "tag=vip")
    assert "new customers with tag=vip go to Bob" in added
    book = tmp_path / "fair.csv"
    book.write_text('Name,Company,Tags,Owner\nVera Vip,Vip Co,"fair; VIP",\nOtto Other,Other Co,fair,\nIvo Owned,Own Co,vip,Admin\n',
                    encoding="utf-8")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["import", str(book), "--db", db_url])
    assert result.exit_code == 0, result.output
    ids = await member_ids(demo)
    async with demo.db.sessions() as session:
        owners = {c.name: c.owner_id for c in await session.scalars(
            select(models.Customer).where(models.Customer.name.in_(["Vera Vip", "Otto Other", "Ivo Owned"])))}
    assert owners == {"Vera Vip": ids["Bob"], "Otto Other": None, "Ivo Owned": ids["Admin"]}  # a file's owner stands

    # a complaint rule may ask about its customer's tags too
    await asyncio.to_thread(route, db_url, "add", "--to", "Admin", "--when", "tag=VIP", "--when", "text=invoice")
    await alice.send("tag eva kucerova vip")
    [vip] = (await alice.exchange("complaint from eva kucerova: the invoice is wrong")).replies
    [other] = (await alice.exchange("complaint from lucie cerna: the invoice is wrong")).replies
    assert "Admin handles it." in vip.text and "handles it" not in other.text
    listed = json.loads(await asyncio.to_thread(route, db_url, "list", "--format", "json"))
    assert [(r["for"], r["when"]) for r in listed] == [("customer", {"tag": "vip"}), ("complaint", {"tag": "VIP", "text": "invoice"})]


def test_a_word_rule_reads_words_not_punctuation():
    rule_text = models.Complaint(text="The invoice, again! Wrong VAT.")
    customer = models.Customer(name="X", lead_source=None, status="lead", company=None, phones=[])
    assert routes._holds("text", "invoice", customer, rule_text) and routes._holds("text", "VAT", customer, rule_text)
    assert not routes._holds("text", "voice", customer, rule_text)


async def test_a_customer_added_by_chat_goes_to_the_member_a_rule_names_who_is_told_and_undo_takes_it_back(alice, bob, demo, db_url):
    await asyncio.to_thread(route, db_url, "add", "--to", "Bob", "--when", "country=SI")
    ids = await member_ids(demo)
    outcome = await alice.exchange("new customer Ema Zupan, Zupan d.o.o., +386 40 123 456")
    [added] = outcome.replies
    assert added.kind == "customer_added" and "Bob handles it." in added.text
    [told] = [o for o in outcome.announcements if o.chat.chat_id == "Bob"]
    assert told.replies[0].kind == "customer_assigned" and "Alice added **Ema Zupan" in told.replies[0].text
    outcome = await alice.exchange("new customer Karel Malý, Pekárna, +420 777 000 123")  # no rule: whoever added them
    assert "handles it" not in outcome.replies[0].text and not [o for o in outcome.announcements if o.chat.chat_id == "Bob"]
    async with demo.db.sessions() as session:
        owners = dict((await session.execute(select(models.Customer.name, models.Customer.owner_id).where(
            models.Customer.name.in_(["Ema Zupan", "Karel Malý"])))).all())
        [entry] = await session.scalars(select(models.AuditEntry).where(
            models.AuditEntry.entity == "customer", models.AuditEntry.action == "create",
            models.AuditEntry.entity_id == await session.scalar(select(models.Customer.id).where(models.Customer.name == "Ema Zupan"))))
    assert owners == {"Ema Zupan": ids["Bob"], "Karel Malý": ids["Alice"]}
    assert entry.after["owner_id"] == ids["Bob"] and entry.member_id == ids["Alice"]  # the assignment, audited with the customer
    await alice.send("undo")
    await alice.send("undo")
    async with demo.db.sessions() as session:
        ema = await session.scalar(select(models.Customer).where(models.Customer.name == "Ema Zupan"))
    assert ema.deleted_at is not None  # undone with its assignment


async def test_the_country_is_read_from_the_address_when_the_phone_does_not_say(demo, db_url, tmp_path):
    await asyncio.to_thread(route, db_url, "add", "--to", "Bob", "--when", "country=CZ")
    book = tmp_path / "addresses.csv"
    book.write_text('Name,Address,Phone\nIva Praha,"Dlouhá 5, 110 00 Praha 1, Czechia",\nJon Cardiff,"1 High St, Cardiff, UK",\n'
                    'Ota Brno,"Masarykova 1\n602 00 Brno\nČeská republika",\nSam Springfield,"Main St 1, Springfield, IL",\n'
                    'Eva London,"Dlouhá 5, Praha, Czechia",+44 20 7946 0000\n', encoding="utf-8")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["import", str(book), "--db", db_url])
    assert result.exit_code == 0, result.output
    ids = await member_ids(demo)
    async with demo.db.sessions() as session:
        owners = dict((await session.execute(select(models.Customer.name, models.Customer.owner_id).where(
            models.Customer.name.in_(["Iva Praha", "Jon Cardiff", "Ota Brno", "Sam Springfield", "Eva London"])))).all())
    # the phone says first: a London number is in the United Kingdom whatever the address
    assert owners == {"Iva Praha": ids["Bob"], "Jon Cardiff": None, "Ota Brno": ids["Bob"], "Sam Springfield": None, "Eva London": None}
    assert routes.country_in_address("中国上海市浦东新区世纪大道1号") == "CN"
    assert routes.country_in_address("Slovenska 5\n1000 Ljubljana\nSlovenija") == "SI"


async def test_members_the_rules_give_imported_customers_are_told_in_their_chat(alice, bob, demo, db_url, tmp_path):
    from crmbot.messages import Attachment, Incoming, UserRef

    ids = await member_ids(demo)
    async with demo.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        await routes.add(session, team.id, [("source", "web")], [ids["Bob"]], False, NOW)
        member = await session.get(models.Member, ids["Bob"])
        await teams.bind_identity(session, member, "telegram", "7001", NOW, chat_id="7001")
    data = "Name,Lead source\nAda Web,web\nBo Web,web\nCy Fair,fair\n".encode()
    # a file sent in the chat: Bob hears it at once; a row no rule takes is the importer's
    outcome = await demo.bot.handle(Incoming(chat=alice.chat, user=UserRef("console", "Alice", "Alice", None),
                                             attachment=Attachment("web.csv", data, len(data), "text/csv", False)))
    assert outcome.replies[0].kind == "import_done"
    [told] = [o.replies[0] for o in outcome.announcements if o.replies[0].kind == "import_assigned"]
    assert "“web.csv” that the team's routing rules make yours: 2" in told.text
    async with demo.db.sessions() as session:
        owners = dict((await session.execute(select(models.Customer.name, models.Customer.owner_id).where(
            models.Customer.name.in_(["Ada Web", "Bo Web", "Cy Fair"])))).all())
    assert owners == {"Ada Web": ids["Bob"], "Bo Web": ids["Bob"], "Cy Fair": ids["Alice"]}

    # a file imported from the shell: kept for the running server to deliver to Bob's chat
    book = tmp_path / "more.csv"
    book.write_text("Name,Lead source\nDi Web,web\n", encoding="utf-8")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["import", str(book), "--db", db_url])
    assert result.exit_code == 0 and "Given by the team's routing rules: Bob (1)." in result.output, result.output
    async with demo.db.sessions() as session:
        [kept] = await session.scalars(select(models.PendingReply).where(models.PendingReply.chat_id == "7001"))
    assert kept.adapter == "telegram" and "“more.csv” that the team's routing rules make yours: 1" in kept.replies[0]["text"]


async def test_a_country_rule_from_the_shell_keeps_the_code_whatever_the_country_is_called(demo, db_url):
    for said in ("country=Germany", "country=Německo", "country=de"):
        assert "with country=DE go to Bob" in await asyncio.to_thread(route, db_url, "add", "--to", "Bob", "--when", said)
    refused = await asyncio.to_thread(CliRunner().invoke, cli, ["route", "add", "--to", "Bob", "--when", "country=Atlantis", "--db", db_url])
    assert refused.exit_code == 1 and "country code such as CZ" in refused.output
