"""Tags on customers: "tag eva vip" / "untag eva vip" by chat in every language, on the card,
audited and undone, allowed by role; read from imported files and undone with the import.
Conversations run through the console adapter on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from crmbot import sample
from crmbot.cli import cli
from crmbot.store import audit, models, teams
from tests.parsing import NOW, resolve

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

EVA = "Eva Kučerová (Acme s.r.o.)"


async def links(app, name: str = "Eva Kučerová") -> list[tuple[str, bool]]:
    """(tag, live) of each tag link the customer ever had."""
    async with app.db.sessions() as session:
        rows = await session.execute(
            select(models.Tag.name, models.CustomerTag.deleted_at)
            .join(models.CustomerTag, models.CustomerTag.tag_id == models.Tag.id)
            .join(models.Customer, models.Customer.id == models.CustomerTag.customer_id)
            .where(models.Customer.name == name).order_by(models.CustomerTag.id))
        return [(tag, deleted is None) for tag, deleted in rows.all()]


async def tag_rows(app) -> list[tuple[str, bool]]:
    async with app.db.sessions() as session:
        return [(t.name, t.deleted_at is None) for t in await session.scalars(select(models.Tag).order_by(models.Tag.id))]


@pytest.mark.both_engines
async def test_tagging_shows_on_the_card_and_each_change_is_undone_in_turn(alice, demo):
    [tagged] = await alice.send("tag eva kucerova vip")
    assert tagged.kind == "tagged" and f"Tagged **{EVA}**: vip." in tagged.text and "Tags: vip" in tagged.text
    [card] = await alice.send("find eva kucerova")
    assert "🏷 vip" in card.text and ("Tags", "vip") in card.card.fields

    [again] = await alice.send("tag eva kucerova #VIP")  # the same tag, however written
    assert "already carries VIP" in again.text and await links(demo) == [("vip", True)]

    [off] = await alice.send("untag eva kucerova vip")
    assert off.kind == "untagged" and f"Took vip off **{EVA}**." in off.text and "No tags left." in off.text
    [card] = await alice.send("find eva kucerova")
    assert "🏷" not in card.text and "Tags" not in dict(card.card.fields)
    [missing] = await alice.send("untag eva kucerova vip")
    assert f"**{EVA}** doesn't carry vip." in missing.text

    [undone] = await alice.send("undo")  # the untagging: vip is back
    assert "Undone: tag change" in undone.text and "#vip" in undone.text and await links(demo) == [("vip", True)]
    [undone] = await alice.send("undo")  # the tagging itself: the link and the new tag word go
    assert "Undone: tag created" in undone.text and EVA in undone.text
    assert await links(demo) == [("vip", False)] and await tag_rows(demo) == [("vip", False)]

    [tagged] = await alice.send("tag eva kucerova vip")  # the same rows come back, no second one
    assert tagged.kind == "tagged" and await links(demo) == [("vip", True)] and await tag_rows(demo) == [("vip", True)]
    async with demo.db.sessions() as session:
        entries = list(await session.scalars(select(models.AuditEntry).where(models.AuditEntry.entity.in_(("tag", "customer_tag")))))
    assert {(e.entity, e.action) for e in entries} >= {("tag", "create"), ("customer_tag", "create"), ("customer_tag", "update"),
                                                      ("tag", "undo"), ("customer_tag", "undo")}


async def test_several_tags_at_once_and_a_missing_tag_is_asked_for(alice, demo):
    [tagged] = await alice.send("tag jan novak plumbing #hot #trade-fair")
    assert "Tagged **Jan Novak (Novak Plumbing)**: hot, trade-fair." in tagged.text
    assert await links(demo, "Jan Novak") == [("hot", True), ("trade-fair", True)]
    [asked] = await alice.send("/tag")
    assert asked.kind == "tag_needed" and '"tag eva vip"' in asked.text
    [asked] = await alice.send("untag eva kucerova")
    assert asked.kind == "tag_needed" and "untag" in asked.text


async def test_a_rep_tags_customers_that_are_theirs_or_nobodys(alice, bob, demo):
    async with demo.db.sessions() as session, session.begin():
        await session.execute(update(models.Customer).where(models.Customer.name == "Martin Procházka").values(owner_id=None))
    [refused] = await bob.send("tag eva kucerova vip")  # Alice's customer
    assert refused.kind == "not_allowed" and await links(demo) == []
    [own] = await bob.send("tag jana novakova vip")  # Bob's own
    assert own.kind == "tagged"
    [nobodys] = await bob.send("tag martin prochazka vip")
    assert nobodys.kind == "tagged"
    [manager] = await alice.send("untag jana novakova vip")  # a manager may change any of the team's
    assert manager.kind == "untagged" and "Took vip off" in manager.text
    [refused] = await bob.send("untag eva kucerova vip")
    assert refused.kind == "not_allowed"


async def test_a_czech_member_tags_in_czech(alice, demo):
    async with demo.db.sessions() as session, session.begin():
        await session.execute(update(models.Member).where(models.Member.name == "Alice").values(locale="cs"))
    [tagged] = await alice.send("přidej štítek Důležitý Evě Kučerové")
    assert tagged.kind == "tagged" and f"Nový štítek pro **{EVA}**: Důležitý." in tagged.text
    [listed] = await alice.send("zákazníci se štítkem důležitý")
    assert listed.kind == "list_customers" and "Eva Kučerová" in listed.text and "🏷 Důležitý" in listed.text
    [off] = await alice.send("odeber štítek důležitý Evě Kučerové")
    assert "Odebrán štítek Důležitý" in off.text and "Žádné štítky nezbyly." in off.text


# -- the words in every language ---------------------------------------------------------------

# (language, message, intent, tags, the customer it names)
PHRASES = [
    ("en", "tag eva kucerova vip", "tag", ["vip"], EVA),
    ("en", "tag eva kucerova as key-account", "tag", ["key-account"], EVA),
    ("en", "add the tag VIP to lucie cerna", "tag", ["VIP"], "Lucie Černá (Černá Design)"),
    ("en", "/tag lucie cerna vip", "tag", ["vip"], "Lucie Černá (Černá Design)"),
    ("en", "untag eva kucerova vip", "untag", ["vip"], EVA),
    ("en", "remove the vip tag from lucie cerna", "untag", ["vip"], "Lucie Černá (Černá Design)"),
    ("cs", "označ Kučerovou štítkem vip", "tag", ["vip"], EVA),
    ("cs", "otaguj Lucii Černou jako vip", "tag", ["vip"], "Lucie Černá (Černá Design)"),
    ("cs", "odeber štítek vip Kučerové", "untag", ["vip"], EVA),
    ("sl", "označi Luko Horvata kot vip", "tag", ["vip"], "Luka Horvat (Horvat d.o.o.)"),
    ("sl", "dodaj oznako vip Nini Kovačič", "tag", ["vip"], "Nina Kovačič (Kovačič Solar)"),
    ("sl", "odstrani oznako vip Nini Kovačič", "untag", ["vip"], "Nina Kovačič (Kovačič Solar)"),
    ("zh", "给张伟加标签VIP", "tag", ["VIP"], "张伟 (上海华信科技)"),
    ("zh", "把王芳标记为重点", "tag", ["重点"], "王芳 (北京新星贸易)"),
    ("zh", "去掉张伟的VIP标签", "untag", ["VIP"], "张伟 (上海华信科技)"),
    ("cy", "tagia Siân Jones fel vip", "tag", ["vip"], "Siân Jones (Jones Bakery)"),
    ("cy", "ychwanega'r tag vip at Gareth Davies", "tag", ["vip"], "Gareth Davies (Davies Motors)"),
    ("cy", "tynna'r tag vip oddi ar Siân Jones", "untag", ["vip"], "Siân Jones (Jones Bakery)"),
    ("az", "Aysel Məmmədovaya vip etiketi əlavə et", "tag", ["vip"], "Aysel Məmmədova (Bakı Tekstil)"),
    ("az", "Rəşad Quliyevi vip kimi işarələ", "tag", ["vip"], "Rəşad Quliyev (Quliyev İnşaat)"),
    ("az", "Aysel Məmmədovanın vip etiketini sil", "untag", ["vip"], "Aysel Məmmədova (Bakı Tekstil)"),
]


@pytest.mark.parametrize(("lang", "text", "intent", "tags", "customer"), PHRASES)
def test_tagging_is_understood_in_every_language(parser, index, lang, text, intent, tags, customer):
    parsed = parser.parse(text, lang, NOW, "Europe/Prague")
    assert (parsed.name, parsed.alternatives, parsed.slots.get("tags")) == (intent, (), tags)
    assert resolve(index, parsed.mention) == customer, parsed.mention


def test_every_language_has_words_for_tagging():
    assert {lang for lang, *_ in PHRASES} == {"en", "cs", "sl", "zh", "cy", "az"}


# -- tags in files -----------------------------------------------------------------------------


@pytest.mark.both_engines
async def test_an_import_tags_new_and_held_customers_and_is_undone_with_them(demo, db_url, tmp_path):
    book = tmp_path / "fair.csv"
    book.write_text("Name,Company,E-mail,Tags\nAda Fair,Fair One,ada@fair.one,\"trade fair; VIP\"\n"
                    "Eva Kučerová,Acme s.r.o.,eva.kucerova@acme.cz,trade fair\n", encoding="utf-8")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["import", str(book), "--db", db_url, "--member", "Alice"])
    assert result.exit_code == 0 and "1 added, 1 updated" in result.output, result.output
    assert await links(demo, "Ada Fair") == [("trade fair", True), ("VIP", True)]
    assert await links(demo) == [("trade fair", True)]  # a held customer: the row only adds its tag
    again = await asyncio.to_thread(CliRunner().invoke, cli, ["import", str(book), "--db", db_url])
    assert "0 added, 0 updated, 2 skipped" in again.output  # nothing new the second time

    async with demo.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        alice = await teams.member_by_name(session, team.id, "Alice")
        entries = await audit.last_group(session, team.id, alice.id)
        await audit.undo_group(session, audit.Actor(team.id, alice.id, "cli", "undo-import"), NOW, entries)
    assert await links(demo) == [("trade fair", False)] and await links(demo, "Ada Fair") == [("trade fair", False), ("VIP", False)]


def test_a_vcard_brings_its_categories_as_tags_but_not_the_groups_every_contact_has(tmp_path):
    db = str(tmp_path / "crm.db")
    card = tmp_path / "cards.vcf"
    card.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Megan Lewis\r\nN:Lewis;Megan;;;\r\nCATEGORIES:myContacts,VIP,Cardiff cafés\r\n"
                    "END:VCARD\r\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["member", "add", "Alice", "--db", db]).exit_code == 0
    assert runner.invoke(cli, ["import", str(card), "--db", db]).exit_code == 0
    [megan] = json.loads(runner.invoke(cli, ["export", "--db", db]).output)["customers"]
    assert megan["tags"] == ["Cardiff cafés", "VIP"] and "myContacts" not in (megan["notes"] or "")
