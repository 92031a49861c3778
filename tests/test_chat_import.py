"""Importing from the chat, through the core with the console adapter (the platforms' own
file handling is in test_telegram.py and test_slack.py): a file sent to crmbot is imported
into the member's team with the importer `crmbot import` uses, previewed first when it is
more than a handful of rows, audited as the member's one change, undone with "undo"."""

from __future__ import annotations

import pytest

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from crmbot import sample
from crmbot.adapters.console import ConsoleChat
from crmbot.app import App
from crmbot.messages import MAX_ATTACHMENT, Attachment, ChatRef, Incoming, UserRef
from crmbot.store import models, teams

from tests.conftest import NOW

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

DATA = Path(__file__).parent / "data" / "imports"
SMALL = "Name,Company,Email,Phone\nOlga Malá,Malá Pekárna,olga@malapekarna.cz,+420 777 555 001\n" \
        "Ota Velký,Velký Sklad,ota@velkysklad.cz,+420 777 555 002\n"


async def count(app: App, model, *where) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def customers_named(app: App, *names: str) -> dict[str, models.Customer]:
    async with app.db.sessions() as session:
        rows = await session.scalars(select(models.Customer).where(models.Customer.name.in_(names), models.Customer.deleted_at.is_(None)))
        return {c.name: c for c in rows}


@pytest.mark.both_engines
async def test_a_few_rows_are_imported_at_once_into_the_members_team_and_undone_with_undo(demo, alice):
    [reply] = await alice.send_file("new-leads.csv", SMALL.encode())
    assert reply.kind == "import_done" and "added 2 · updated 0 · skipped 0" in reply.text and 'Say "undo"' in reply.text
    found = await customers_named(demo, "Olga Malá", "Ota Velký")
    async with demo.db.sessions() as session:
        team = await teams.team_by_name(session, sample.TEAM)
        alice_id = (await teams.member_by_name(session, team.id, "Alice")).id
    assert {c.team_id for c in found.values()} == {team.id} and found["Olga Malá"].phones == ["+420777555001"]
    assert {c.owner_id for c in found.values()} == {alice_id}  # rows naming no owner are the importer's
    assert await count(demo, models.AuditEntry, models.AuditEntry.member_id == alice_id, models.AuditEntry.platform == "console",
                       models.AuditEntry.entity == "customer", models.AuditEntry.action == "create") == 2
    [undone] = await alice.send("undo")
    assert undone.kind == "undone"
    assert await customers_named(demo, "Olga Malá", "Ota Velký") == {}


async def test_a_larger_file_is_previewed_then_imported_when_the_member_says_so(demo, alice):
    await alice.send_file("hubspot-contacts.csv", (DATA / "hubspot-contacts.csv").read_bytes())
    before = await count(demo, models.Deal)
    [preview] = await alice.send_file("hubspot-deals.csv", (DATA / "hubspot-deals.csv").read_bytes())
    assert preview.kind == "import_preview" and "holds 8 deal rows" in preview.text and "added 6 · updated 0 · skipped 2" in preview.text
    assert "row 8: no deal title" in preview.text and "row 9 (Amount): not an amount: a lot" in preview.text
    assert [b.label for b in preview.buttons] == ["📥 Import", "Cancel"]
    assert await count(demo, models.Deal) == before and await count(demo, models.PendingUpload) == 1  # a preview writes nothing
    [done] = await alice.press(preview.buttons[0])
    assert done.kind == "import_done" and "Deals imported from **hubspot-deals.csv**: added 6" in done.text
    assert await count(demo, models.Deal) == before + 6 and await count(demo, models.PendingUpload) == 0
    [again] = await alice.press(preview.buttons[0])
    assert again.kind == "button_used" and await count(demo, models.Deal) == before + 6
    [undone] = await alice.send("undo")
    assert undone.kind == "undone" and await count(demo, models.Deal, models.Deal.deleted_at.is_(None)) == before


async def test_cancel_drops_the_file_and_a_file_left_for_a_day_is_gone(demo, alice, clock):
    people = (DATA / "pipedrive-people.csv").read_text(encoding="utf-8")
    extra = "".join(f"{200 + n},Person {n},Firm {n},person{n}@firm{n}.cz,,,,,,Entire company\n" for n in range(5))
    data = (people + extra).encode()
    [preview] = await alice.send_file("people.csv", data)
    assert preview.kind == "import_preview" and "holds 8 rows" in preview.text
    [cancelled] = await alice.press(preview.buttons[1])
    assert cancelled.kind == "cancelled" and await count(demo, models.PendingUpload) == 0
    assert await customers_named(demo, "Petra Horáková") == {}
    [later] = await alice.send_file("people.csv", data)
    clock.now = NOW + timedelta(days=2)
    [gone] = await alice.press(later.buttons[0])
    assert gone.kind == "import_gone" and await customers_named(demo, "Petra Horáková") == {}


async def test_bad_files_get_a_reply_in_the_members_language_and_nothing_is_imported(demo, alice):
    await alice.send("/lang cs")
    before = await count(demo, models.Customer)
    cases = [
        (Attachment("offer.xlsx", b"PK\x03\x04" + b"\x00" * 40, 44), "import_refused", "Umím importovat soubory CSV"),
        (Attachment("contacts.csv", b"PK\x03\x04" + b"\x00" * 40, 44), "import_refused", "ne **contacts.csv**"),
        (Attachment("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", 20), "import_refused", "ne **photo.csv**"),
        (Attachment("export.csv", bytes(range(256)) * 8, 2048), "import_refused", "není textový soubor"),
        (Attachment("huge.csv", None, MAX_ATTACHMENT + 1, problem="too_large"), "import_refused", "je na mě moc velký"),
        (Attachment("lost.csv", None, 100, problem="unreachable"), "import_refused", "nepodařilo stáhnout"),
        (Attachment("colours.csv", b"colour,size\nred,XL\n", 19), "import_refused", "nemá sloupec se jmény. Jeho sloupce: colour, size"),
        (Attachment("empty.csv", b"", 0), "import_refused", "je prázdný"),
    ]
    for attachment, kind, words in cases:
        [reply] = (await demo.bot.handle(Incoming(chat=alice.chat, user=UserRef("console", "Alice", "Alice"), attachment=attachment))).replies
        assert reply.kind == kind and words in reply.text and "Nic se neimportovalo." in reply.text, (attachment.name, reply.text)
    assert await count(demo, models.Customer) == before


async def test_a_shared_contact_is_added_or_asked_about_when_it_looks_like_someone_held(demo, alice):
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Olga Malá\r\nN:Malá;Olga;;;\r\nTEL;TYPE=CELL:+420 777 555 001\r\nEND:VCARD\r\n"
    [added] = await alice.send_file("contact.vcf", card.encode(), contact=True)
    assert added.kind == "import_done" and "Added **Olga Malá**." in added.text
    [again] = await alice.send_file("contact.vcf", card.encode(), contact=True)
    assert "I already have **Olga Malá**, nothing new." in again.text
    lookalike = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jana Novakova\r\nTEL:+420 603 000 999\r\nEND:VCARD\r\n"
    [asked] = await alice.send_file("contact.vcf", lookalike.encode(), contact=True)
    assert asked.kind == "customer_same" and "Jana Nováková" in asked.text
    assert await customers_named(demo, "Jana Novakova") == {}
    add_new = next(b for b in asked.buttons if b.label.startswith("➕"))
    [created] = await alice.press(add_new)
    assert created.kind == "import_done" and "Added **Jana Novakova**." in created.text
    assert (await customers_named(demo, "Jana Novakova"))["Jana Novakova"].phones == ["+420603000999"]


async def test_a_member_of_another_team_imports_into_their_own_and_strangers_cannot_import(demo, app):
    async with demo.db.sessions() as session, session.begin():
        other = await teams.create_team(session, "Second Team", NOW)
        member = await teams.create_member(session, other.id, "Olaf", NOW, role="manager")  # files are a manager's to import
        await teams.bind_identity(session, member, "console", "Olaf", NOW)
    olaf = ConsoleChat(demo.bot, "Olaf")
    [reply] = await olaf.send_file("leads.csv", SMALL.encode())
    assert reply.kind == "import_done"
    assert {c.team_id for c in (await customers_named(demo, "Olga Malá", "Ota Velký")).values()} == {other.id}
    before = await count(demo, models.Customer)
    stranger = Incoming(chat=ChatRef("console", "Mallory"), user=UserRef("console", "Mallory", "Mallory"),
                        attachment=Attachment("leads2.csv", SMALL.replace("Olga", "Oleg").encode(), 10))
    [refused] = (await demo.bot.handle(stranger)).replies
    assert refused.kind == "stranger" and await count(demo, models.Customer) == before


@pytest.mark.both_engines
async def test_an_import_matches_only_the_members_own_team_even_on_the_same_e_mail(demo, alice):
    async with demo.db.sessions() as session, session.begin():
        await sample.seed(session, NOW, name="Rival Sales")  # the same people, the same e-mails
    row = "Name,Email,Website\nJan Novák,jan.novak@acme.cz,https://acme.example\n"
    [reply] = await alice.send_file("update.csv", row.encode())
    assert "added 0 · updated 1 · skipped 0" in reply.text
    async with demo.db.sessions() as session:
        jans = list(await session.scalars(select(models.Customer).where(models.Customer.name == "Jan Novák")))
        names = {t.id: t.name for t in await teams.all_teams(session)}
    assert sorted((names[j.team_id], j.website) for j in jans) == [("Demo Sales", "https://acme.example"), ("Rival Sales", None)]


async def test_a_rep_may_add_a_shared_contact_but_not_import_a_file_that_could_change_anyones_customers(demo, bob):
    # the file would make Jan Novák Bob's and a churned customer: a manager's or an admin's to send
    takeover = "Name,Email,Owner,Status\nJan Novák,jan.novak@acme.cz,Bob,churned\nOlga Malá,olga@mala.cz,,\n"
    before = await customers_named(demo, "Jan Novák")
    [refused] = await bob.send_file("mine.csv", takeover.encode())
    assert refused.kind == "not_allowed" and "your role can't do that" in refused.text
    after = await customers_named(demo, "Jan Novák", "Olga Malá")
    assert set(after) == {"Jan Novák"}
    assert (after["Jan Novák"].owner_id, after["Jan Novák"].status) == (before["Jan Novák"].owner_id, before["Jan Novák"].status)
    assert await count(demo, models.PendingUpload) == 0
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ota Velký\r\nTEL;TYPE=CELL:+420 777 555 002\r\nEND:VCARD\r\n"
    [added] = await bob.send_file("contact.vcf", card.encode(), contact=True)
    assert added.kind == "import_done" and "Added **Ota Velký**." in added.text
