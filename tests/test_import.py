"""`crmbot import` on real files as other apps write them (tests/data/imports/), into real
SQLite files, through the real CLI."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crmbot.cli import cli
from crmbot.i18n import I18n
from crmbot.imports.vocabulary import FIELDS, Vocabulary

DATA = Path(__file__).parent / "data" / "imports"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def db(schema_file) -> str:
    """An empty database whose team has two members, as a team moving in would have."""
    path = schema_file
    for name in ("Alice Smith", "Bob Jones"):
        assert run("member", "add", name, "--role", "manager", "--db", path).exit_code == 0
    return path


def held(db: str) -> dict[str, dict]:
    result = run("export", "--db", db)
    assert result.exit_code == 0, result.output
    return {c["name"]: c for c in json.loads(result.output)["customers"]}


def members(db: str) -> dict[str, int]:
    return {m["name"]: m["id"] for m in json.loads(run("member", "list", "--db", db, "--format", "json").output)}


def imported(db: str, name: str, *extra: str) -> str:
    result = run("import", str(DATA / name), "--db", db, *extra)
    assert result.exit_code == 0, result.output
    return result.output


# -- other CRMs' exports --------------------------------------------------------------------------


def test_hubspot_contacts_names_joined_owners_found_lifecycle_mapped_the_rest_in_notes(db):
    output = imported(db, "hubspot-contacts.csv")
    assert "4 added, 0 updated, 0 skipped" in output
    assert "Owners who are not members, left unassigned: Carol White (1)" in output
    people, team = held(db), members(db)
    emma = people["Emma Thompson"]
    assert emma["company"] == "Northwind Traders" and emma["emails"] == ["emma.thompson@northwind.co.uk"]
    assert emma["phones"] == ["+442079460958", "+447700900123"]  # Phone Number and Mobile Phone Number
    assert emma["status"] == "customer" and emma["owner_id"] == team["Alice Smith"]
    assert "Job Title: Head of Purchasing" in emma["notes"] and "Record ID" not in emma["notes"]
    assert emma["address"] == "London, United Kingdom"
    liam = people["Liam O'Brien"]
    assert liam["status"] == "prospect" and liam["owner_id"] == team["Bob Jones"]
    assert people["Sofia Rossi"]["owner_id"] is None and people["Noah Müller"]["status"] == "customer"


def test_pipedrive_people_every_email_and_phone_kept_and_labels_mapped(db):
    imported(db, "pipedrive-people.csv")
    people, team = held(db), members(db)
    petra = people["Petra Horáková"]
    assert petra["company"] == "Horák Stavby s.r.o."
    assert petra["emails"] == ["petra@horakstavby.cz", "petra.horakova@seznam.cz"]
    assert petra["phones"] == ["+420731555201", "+420222555300"]
    assert petra["status"] == "prospect" and petra["owner_id"] == team["Alice Smith"]  # "Alice": her first name
    assert people["Marek Dvořák"]["status"] == "customer" and people["Ivana Králová"]["status"] == "lead"
    assert petra["notes"] is None  # "Person - Visible to" and the ids are the old app's bookkeeping


def test_zoho_and_salesforce_owners_sources_and_mailing_addresses(db):
    imported(db, "zoho-contacts.csv")
    imported(db, "salesforce-report.csv", "--region", "US")
    people, team = held(db), members(db)
    arjun = people["Arjun Mehta"]
    assert arjun["company"] == "Zylker Corp" and arjun["lead_source"] == "Trade Show"
    assert arjun["emails"] == ["arjun.mehta@zylker.com", "arjun@mehta.in"] and arjun["phones"] == ["+912255550100", "+919820055501"]
    assert arjun["address"] == "12 Marine Drive, Mumbai, 400002, India" and arjun["owner_id"] == team["Alice Smith"]
    assert "wants volume pricing" in arjun["notes"]
    jack = people["Jack Rogers"]
    assert jack["company"] == "Burlington Textiles Corp of America" and jack["address"] == "Burlington, USA"
    assert jack["phones"] == ["+13362227000", "+13365550101"]  # national numbers read in the team's region
    assert jack["owner_id"] == team["Alice Smith"] and people["Rose Gonzalez"]["owner_id"] == team["Bob Jones"]


def test_google_and_outlook_csv(db):
    imported(db, "google-contacts.csv", "--region", "GB")
    imported(db, "outlook-contacts.csv")
    people = held(db)
    tomas = people["Tomáš Svoboda"]
    assert tomas["emails"] == ["tomas@pekarna-svoboda.cz", "tomas.svoboda@email.cz"]
    assert tomas["phones"] == ["+420777555010", "+420603555011", "+420235555012"]  # " ::: " splits one cell
    assert tomas["address"] == "Na Příkopě 12, Praha 1 110 00, CZ" and tomas["website"] == "https://pekarna-svoboda.cz"
    assert tomas["notes"].splitlines() == ["Orders bread every Monday", "Nickname: Tom", "Organization Title: Majitel"]
    assert people["Hannah Rose Evans"]["phones"] == ["+447911123456"]
    olivia = people["Olivia Brown"]
    assert olivia["emails"] == ["olivia.brown@fabrikam.com", "obrown@outlook.com"] and olivia["company"] == "Fabrikam Inc."
    assert olivia["address"] == "1 Microsoft Way, Redmond, WA, 98052, United States"
    assert olivia["notes"].splitlines() == ["Prefers e-mail", "Job Title: Buyer"]  # not Outlook's defaults


# -- our languages, their encodings and delimiters ------------------------------------------------


def test_czech_cp1250_with_semicolons(db):
    output = imported(db, "czech-cp1250.csv", "--region", "CZ")
    assert "4 added" in output and "Read as cp1250." in output
    people, team = held(db), members(db)
    jiri = people["Jiří Šťastný"]
    assert jiri["company"] == "Pivovar Žatec s.r.o." and jiri["phones"] == ["+420777555101"]
    assert jiri["status"] == "customer" and jiri["owner_id"] == team["Alice Smith"] and jiri["address"] == "Žatec"
    assert people["Božena Kůžová"]["status"] == "prospect" and people["Přemysl Hořejší"]["status"] == "churned"


def test_chinese_gb18030(db):
    assert "Read as gb18030." in imported(db, "chinese-gb18030.csv", "--region", "CN")
    people = held(db)
    assert set(people) == {"张伟", "李娜", "王芳"}
    assert people["张伟"]["company"] == "上海华信科技有限公司" and people["张伟"]["phones"] == ["+8613800138000"]
    assert people["张伟"]["status"] == "customer" and people["李娜"]["status"] == "prospect" and people["张伟"]["notes"] == "每周一下午联系"


def test_excel_unicode_text_welsh_and_azerbaijani(db):
    imported(db, "excel-unicode-text.txt", "--region", "CZ")
    imported(db, "welsh.csv", "--region", "GB")
    imported(db, "azerbaijani.csv")
    people = held(db)
    assert people["Zdeněk Čermák"]["company"] == "Škoda Dílny a.s." and people["Zdeněk Čermák"]["phones"] == ["+420603555432"]
    assert people["Rhys Llewelyn"]["phones"] == ["+441286555123"] and people["Rhys Llewelyn"]["status"] == "customer"
    assert people["Siân Prydderch"]["status"] == "prospect" and people["Siân Prydderch"]["phones"] == ["+447400123456"]
    elvin = people["Elvin Məmmədov"]
    assert elvin["company"] == "Bakı Tikinti MMC" and elvin["status"] == "customer" and elvin["phones"] == ["+994505551234"]


def test_the_region_is_remembered_for_the_team(db, tmp_path):
    imported(db, "czech-cp1250.csv", "--region", "cz")
    second = tmp_path / "more.csv"
    second.write_text("Jméno;Telefon\nKarel Veselý;739 555 999\n", encoding="utf-8")
    imported(db, str(second))
    assert held(db)["Karel Veselý"]["phones"] == ["+420739555999"]
    assert run("import", str(second), "--db", db, "--region", "XX").exit_code != 0


@pytest.mark.parametrize("name, expected", [
    ("phone-v21.vcf", {"Kateřina Dvořáková": ["+420776555321", "+420234555000"], "Luka Horvat": ["+38641555888"]}),
    ("google-v30.vcf", {"Megan Lewis": ["+447700900321", "+442920555010"], "Owen Price": ["+447700900654"], "Chloe Hughes": []}),
    ("iphone-v40.vcf", {"Li Wei": ["+8613800138111"]}),
])
def test_vcards_of_every_version_with_every_contact(db, name, expected):
    imported(db, name)
    people = held(db)
    assert {n: c["phones"] for n, c in people.items()} == expected
    if name == "google-v30.vcf":
        megan = people["Megan Lewis"]
        assert megan["emails"] == ["megan@lewisbakery.co.uk", "meg.lewis@gmail.com"] and megan["company"] == "Lewis Bakery"
        assert megan["address"] == "3 Castle St, Cardiff, CF10 1BS, United Kingdom"
        assert megan["notes"].splitlines() == ["Supplies the Cardiff cafés", "Title: Owner"]
    if name == "phone-v21.vcf":
        assert people["Kateřina Dvořáková"]["company"] == "Dvořáková Design"  # quoted-printable UTF-8 decoded


def test_any_delimiter(db, tmp_path):
    for delimiter in ",;\t|":
        path = tmp_path / "people.csv"
        path.write_text(delimiter.join(["Name", "Company", "Email"]) + "\n"
                        + delimiter.join([f"Ann Lee {ord(delimiter)}", "Lee & Co", f"ann{ord(delimiter)}@lee.co"]) + "\n", encoding="utf-8")
        imported(db, str(path))
    assert {name: c["emails"] for name, c in held(db).items()} == {
        f"Ann Lee {n}": [f"ann{n}@lee.co"] for n in (44, 59, 9, 124)}


# -- no duplicates, dry run, bad rows and bad files -----------------------------------------------


def test_importing_twice_changes_nothing_and_a_known_email_or_phone_updates(db, tmp_path):
    imported(db, "pipedrive-people.csv")
    before = held(db)
    again = imported(db, "pipedrive-people.csv")
    assert "0 added, 0 updated, 3 skipped" in again and "already held as Petra Horáková (Horák Stavby s.r.o.), nothing new" in again
    assert held(db) == before
    update = tmp_path / "update.csv"
    update.write_text("Name,Email,Phone,Website\n"
                      "P. Horáková,petra@horakstavby.cz,,https://horakstavby.cz\n"  # known e-mail
                      "Marek D.,marek.private@example.cz,+420 608 555 777,\n"  # known phone, new e-mail
                      "Nina Nová,nina@nova.cz,,\n", encoding="utf-8")
    output = imported(db, str(update))
    assert "1 added, 2 updated, 0 skipped" in output
    people = held(db)
    assert len(people) == 4 and people["Petra Horáková"]["website"] == "https://horakstavby.cz"
    assert people["Marek Dvořák"]["emails"] == ["marek@dvorak-syn.cz", "marek.private@example.cz"]
    assert "0 added, 0 updated, 3 skipped" in imported(db, str(update))


def test_dry_run_reports_and_writes_nothing(db):
    output = imported(db, "hubspot-contacts.csv", "--dry-run")
    assert "Would import hubspot-contacts.csv" in output and "4 added" in output and "nothing was written" in output
    assert held(db) == {}


def test_bad_rows_are_reported_by_row_and_column_and_the_rest_imported(db, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("Name,Company,E-mail,Website\n"
                    "Good One,Acme,good@acme.cz,\n"
                    ",No Name Ltd,nobody@x.cz,\n"
                    "Bad Mail,Firm,not-an-email,\n"
                    f"Long Site,Firm,long@firm.cz,https://{'x' * 400}.cz\n"
                    "Good Two,Acme,two@acme.cz,\n", encoding="utf-8")
    output = imported(db, str(path))
    assert "2 added, 0 updated, 3 skipped" in output
    assert "row 3: no name" in output
    assert "row 4, column 'E-mail': not an e-mail address: not-an-email" in output
    assert "row 5, column 'Website': longer than 300 characters" in output
    assert set(held(db)) == {"Good One", "Good Two"}


def test_a_bad_file_is_refused_whole_with_a_clear_message(db, tmp_path):
    imported(db, "welsh.csv")
    before = held(db)
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01")
    no_names = tmp_path / "nonames.csv"
    no_names.write_text("colour,size\nred,XL\n", encoding="utf-8")
    broken = tmp_path / "broken.vcf"  # the second contact never ends: the first is not imported either
    broken.write_text("BEGIN:VCARD\nVERSION:3.0\nFN:First Person\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:Second\n", encoding="utf-8")
    for path, message in ((binary, "is not a text file"), (no_names, "has no name column (found: colour, size)"),
                          (broken, "broken.vcf, contact 2:"), (tmp_path / "missing.csv", "cannot read")):
        result = run("import", str(path), "--db", db)
        assert result.exit_code == 1 and "Nothing imported" in result.output and message in result.output, result.output
        assert "Traceback" not in result.output
    assert held(db) == before


def test_an_import_is_audited_as_one_group_and_undone_as_one(db, tmp_path):
    from crmbot.store import audit, models
    from crmbot.store.db import open_database

    imported(db, "pipedrive-people.csv")
    update = tmp_path / "update.csv"
    update.write_text("Name,Email,Status\nPetra Horáková,petra@horakstavby.cz,customer\nNew Person,new@person.cz,\n", encoding="utf-8")
    output = run("import", str(update), "--db", db, "--member", "Bob Jones").output
    group = output.split("group ", 1)[1].split(".")[0]

    async def undo() -> list[tuple[str, str]]:
        database = open_database(db)
        try:
            async with database.sessions() as session, session.begin():
                entries = list(await session.scalars(select(models.AuditEntry).where(models.AuditEntry.group_id == group).order_by(models.AuditEntry.id.desc())))
                bob = entries[0].member_id
                actor = audit.Actor(entries[0].team_id, bob, "cli", "undo-1")
                assert entries == await audit.last_group(session, entries[0].team_id, bob)  # Bob's latest change
                await audit.undo_group(session, actor, entries[0].at, entries)
                return sorted((e.action, e.entity) for e in entries)
        finally:
            await database.close()

    assert asyncio.run(undo()) == [("create", "customer"), ("update", "customer")]
    people = held(db)
    assert "New Person" not in people and people["Petra Horáková"]["status"] == "prospect"


# -- the vocabulary is data -----------------------------------------------------------------------


def test_every_language_has_import_words_and_they_never_disagree():
    i18n = I18n.packaged()
    seen: dict[str, tuple[str, str]] = {}
    for code, language in i18n.languages.items():
        columns = language.imports["columns"]
        assert set(columns) <= set(FIELDS) and {"name", "company", "phone", "status"} <= set(columns), code
        assert set(language.imports["status"]) == {"lead", "prospect", "customer", "churned"}, code
        for field, headers in columns.items():
            for header in headers:
                assert seen.setdefault(header, (field, code))[0] == field, (header, code, seen[header])
    vocabulary = Vocabulary.packaged()
    for header, field in [("Jméno", "name"), ("Firma", "company"), ("Telefon", "phone"), ("姓名", "name"), ("公司", "company"),
                          ("Enw", "name"), ("Ad", "name"), ("Person - Email - Work", "email"), ("Lifecycle Stage", "status"),
                          ("E-mail 2 Address", "email"), ("Contact owner", "owner"), ("Mailing City", "address")]:
        assert vocabulary.field(header) == field, header


def test_a_new_language_folder_brings_its_headers(tmp_path):
    from crmbot.i18n import LOCALES_DIR

    root = tmp_path / "locales"
    with __import__("importlib.resources").resources.as_file(LOCALES_DIR) as packaged:
        shutil.copytree(packaged / "en", root / "en")
    (root / "xx").mkdir()
    (root / "xx" / "language.toml").write_text('[meta]\nname = "Test"\nbabel = "en"\n', encoding="utf-8")
    (root / "xx" / "import.toml").write_text('[columns]\nname = ["nimi"]\n[status]\ncustomer = ["asiakas"]\n', encoding="utf-8")
    vocabulary = Vocabulary.of(I18n(root=root))
    assert vocabulary.field("Nimi") == "name" and vocabulary.status("Asiakas") == "customer"


def test_rows_about_one_person_that_disagree_still_import_twice_to_no_change(db, tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("Name,Company,Email,Phone,Status,Owner\n"
                    "Eva Malá,Malá Pekárna,eva@mala.cz,,customer,Alice Smith\n"
                    "Eva Malá,Malá Pekárna,,+420 777 555 999,lead,Bob Jones\n", encoding="utf-8")
    assert "1 added, 1 updated, 0 skipped" in imported(db, str(path))
    eva = held(db)["Eva Malá"]
    assert eva["status"] == "customer" and eva["owner_id"] == members(db)["Alice Smith"] and eva["phones"] == ["+420777555999"]
    assert "0 added, 0 updated, 2 skipped" in imported(db, str(path))
    assert held(db)["Eva Malá"] == eva
    namesake = tmp_path / "namesake.csv"  # same name, same firm, another e-mail: another person
    namesake.write_text("Name,Company,Email\nEva Malá,Malá Pekárna,eva.mlada@mala.cz\n", encoding="utf-8")
    assert "1 added, 0 updated" in imported(db, str(namesake))


def test_on_both_engines_an_import_adds_updates_and_undoes_the_same(db_url, tmp_path):
    """The bulk insert reads its ids back rather than through RETURNING: checked on PostgreSQL too."""
    for name in ("Alice Smith", "Bob Jones"):
        assert run("member", "add", name, "--db", db_url).exit_code == 0
    assert "4 added" in imported(db_url, "hubspot-contacts.csv")
    assert "3 added" in imported(db_url, "pipedrive-people.csv")
    people = held(db_url)
    assert len(people) == 7 and people["Petra Horáková"]["emails"] == ["petra@horakstavby.cz", "petra.horakova@seznam.cz"]
    assert "0 added, 0 updated, 4 skipped" in imported(db_url, "hubspot-contacts.csv")
    assert held(db_url) == people


def test_each_imported_customer_is_audited_as_it_was_written(db_url):
    """The bulk writes build the audit's "after" themselves: it must be what audit.snapshot reads back."""
    from crmbot.store import audit, models
    from crmbot.store.db import open_database

    for name in ("Alice Smith", "Bob Jones"):
        assert run("member", "add", name, "--db", db_url).exit_code == 0
    imported(db_url, "hubspot-contacts.csv")

    async def compare() -> int:
        database = open_database(db_url)
        try:
            async with database.sessions() as session:
                entries = list(await session.scalars(select(models.AuditEntry).where(models.AuditEntry.entity == "customer")))
                for entry in entries:
                    row = await session.get(models.Customer, entry.entity_id)
                    assert entry.action == "create" and entry.before is None and entry.after == audit.snapshot(row), row.name
                return len(entries)
        finally:
            await database.close()

    assert asyncio.run(compare()) == 4


def test_the_key_index_finds_every_holder_of_a_key_before_and_after_merging(monkeypatch):
    from array import array

    from crmbot.imports import keys

    monkeypatch.setattr(keys, "MERGE_AT", 3)
    index = keys.KeyIndex()
    index.extend(array("q", [hash("e:a@x.cz"), hash("n:jan\x1facme")]), array("q", [7, 7]))
    for key, customer_id in [("e:a@x.cz", 3), ("e:b@x.cz", 9), ("p:+420777000111", 9), ("e:a@x.cz", 12), ("e:c@x.cz", 1)]:
        index.add(key, customer_id)  # merges on the way, twice
    assert index.find("e:a@x.cz") == [3, 7, 12] and index.find("e:b@x.cz") == [9]
    assert index.find("n:jan\x1facme") == [7] and index.find("e:nobody@x.cz") == [] and len(index) == 7


def test_an_import_a_few_rows_at_a_time_finds_the_rows_of_earlier_batches_and_shows_its_progress(db, tmp_path, monkeypatch):
    """Batches of two and a key index merging every three keys: what a 100,000-row file does
    with batches of 2,000, in six rows."""
    from crmbot import importer
    from crmbot.importer import import_file
    from crmbot.imports import keys
    from crmbot.store import teams
    from crmbot.store.db import open_database
    from tests.conftest import NOW

    monkeypatch.setattr(importer, "BATCH", 2)
    monkeypatch.setattr(keys, "MERGE_AT", 3)
    path = tmp_path / "batches.csv"
    path.write_text("Name,Company,Email,Phone,Owner\n"
                    "Eva Malá,Malá Pekárna,eva@mala.cz,,Alice Smith\n"
                    "Jan Novák,Acme,,+420 777 000 111,\n"
                    "Eva Malá,,EVA@mala.cz,+420 777 555 999,\n"  # the next batch: Eva by her e-mail
                    ",,nobody@x.cz,,\n"  # no name: reported, the rest go on
                    "Jan Novák,Acme,jan@acme.cz,,\n"  # Jan by his name at his firm
                    "Petr Dvořák,,,777 000 111,Bob Jones\n", encoding="utf-8")  # Jan's phone, as a Czech writes it
    result = run("import", str(path), "--db", db, "--region", "CZ")
    assert result.exit_code == 0, result.output
    assert "2 added, 2 updated, 2 skipped" in result.output and "row 5: no name" in result.output
    assert "row 7: already held as Jan Novák (Acme), nothing new" in result.output
    assert "importing" not in result.output  # no progress bar where the output is not a terminal
    people = held(db)
    assert sorted(people) == ["Eva Malá", "Jan Novák"]
    assert people["Eva Malá"]["phones"] == ["+420777555999"] and people["Eva Malá"]["owner_id"] == members(db)["Alice Smith"]
    assert people["Jan Novák"]["emails"] == ["jan@acme.cz"] and people["Jan Novák"]["owner_id"] is None

    async def again() -> tuple[list[int], str]:
        database = open_database(db)
        try:
            async with database.sessions() as session, session.begin():
                team = await teams.the_only_team(session)
                shown: list[int] = []
                report = await import_file(session, team, path, NOW, region="CZ", progress=shown.append)
                return shown, f"{report.added} added, {report.updated} updated, {report.skipped} skipped"
        finally:
            await database.close()

    shown, summary = asyncio.run(again())
    assert summary == "0 added, 0 updated, 6 skipped" and held(db) == people
    assert shown == [2, 3, 1]  # each batch's rows read, the nameless one with the second: a bar ends full


def test_imports_running_at_once_leave_the_garbage_collector_as_they_found_it(db):
    """Two chats' imports at once: the collector is quietened while either runs, then set back."""
    import gc

    from crmbot.importer import import_file
    from crmbot.store import teams
    from crmbot.store.db import open_database
    from tests.conftest import NOW

    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    async def both() -> None:
        database = open_database(db)
        try:
            async def one(path: Path) -> None:
                async with database.sessions() as session, session.begin():
                    team = await teams.the_only_team(session)
                    await import_file(session, team, path, NOW, progress=lambda n: seen.append(gc.get_threshold()))

            await asyncio.gather(one(DATA / "hubspot-contacts.csv"), one(DATA / "pipedrive-people.csv"))
        finally:
            await database.close()

    asyncio.run(both())
    assert seen and all(threshold[0] >= 20_000 for threshold in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_cell_of_one_plain_address_reads_as_the_address_finder_reads_it():
    """A cell holding one ASCII address takes a quicker test than text.EMAIL's search: both
    must keep the same addresses, and a cell that is not one plain address goes the long way."""
    from crmbot.imports.contacts import BadRow, Owners, contact_from
    from crmbot.imports.vocabulary import Vocabulary
    from crmbot.text import EMAIL

    vocabulary, owners = Vocabulary.packaged(), Owners({})
    for cell in ("Jan.Novak+crm@Firma.CZ", "a_b-c@x-y.co.uk", "x@y.z", "jan@firma.cz, eva@firma.cz", "<jan@firma.cz>",
                 "jan@firma", "jan..@firma.cz.", "kontakt: jan@firma.cz", "jan@firma.cz jan@firma.cz", "zhang@公司.cn"):
        expected = [e.lower() for e in EMAIL.findall(cell)]
        try:
            read = contact_from([("Name", "Jan"), ("Email", cell)], vocabulary, owners, None).emails
        except BadRow:
            read = []
        assert read == expected, cell


def _import_with(db: str, data: Path | bytes, *, name: str | None = None, progress=None):
    """import_file into the test team's database, as the shell and the chats call it."""
    from crmbot.importer import import_file
    from crmbot.store import teams
    from crmbot.store.db import open_database
    from tests.conftest import NOW

    async def one():
        database = open_database(db)
        try:
            async with database.sessions() as session, session.begin():
                team = await teams.the_only_team(session)
                return await import_file(session, team, data, NOW, name=name, region="CZ", progress=progress)
        finally:
            await database.close()

    return asyncio.run(one())


def _children() -> set[int]:
    """This process's child processes still there (a reader process not ended would be one)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            found.update(int(pid) for pid in (task / "children").read_text().split())
        except OSError:  # a thread that has just ended
            pass
    return found


def test_a_large_file_read_by_a_reader_process_a_few_rows_a_chunk(db, tmp_path, monkeypatch):
    """What a large file does (a reader process makes chunks of 5,000 rows while the import
    writes the chunks before), made to happen on eight rows in chunks of two: the same person
    in two chunks is one customer, a bad row is reported and the rest go on, and the second
    import of the file changes nothing."""
    from crmbot import importer
    from crmbot.imports import helper

    monkeypatch.setattr(importer, "BATCH", 2)
    monkeypatch.setattr(helper, "HELPER_BYTES", 0)  # any file is read by a reader process
    path = tmp_path / "large.csv"
    path.write_text("First Name,Last Name,Email,Phone Number,Company Name,Lifecycle Stage\n"
                    "Eva,Malá,eva@mala.cz,,Malá Pekárna,Lead\n"
                    "Jan,Novák,jan@acme.cz,+420 777 000 111,Acme,Customer\n"
                    ",,nobody@x.cz,,,\n"  # no name, in the second chunk
                    "Petr,Dvořák,petr@dvorak.cz,,,\n"
                    "Eva,Malá,EVA@mala.cz,+420 777 555 999,,\n"  # the third chunk: Eva of the first, by her e-mail
                    "Jana,Nová,jana@nova.cz,777 000 111,,\n"  # Jan's phone, as a Czech writes it: Jan
                    "Ida,Malá,ida@mala.cz,,Malá Pekárna,\n"
                    "Eva,Malá,eva@mala.cz,,,\n", encoding="utf-8")  # the fourth chunk: Eva again, nothing new
    shown: list[int] = []
    before = _children()  # a database server a fixture started, say
    report = _import_with(db, path, progress=shown.append)
    assert (report.rows, report.added, report.updated, report.skipped) == (8, 4, 2, 2)
    assert shown == [2, 3, 2, 1]  # rows read by each chunk, the nameless one with the second
    assert [(s.row, s.reason) for s in report.skips] == [(4, "no_name"), (9, "held")]
    people = held(db)
    assert sorted(people) == ["Eva Malá", "Ida Malá", "Jan Novák", "Petr Dvořák"]
    assert people["Eva Malá"]["phones"] == ["+420777555999"] and people["Eva Malá"]["status"] == "lead"
    assert people["Jan Novák"]["emails"] == ["jan@acme.cz", "jana@nova.cz"]
    again = _import_with(db, path)
    assert (again.added, again.updated, again.skipped) == (0, 0, 8) and held(db) == people
    assert _children() <= before  # both readers ended


def test_a_large_file_unreadable_halfway_is_refused_whole_and_its_reader_process_ends(db, tmp_path, monkeypatch):
    """The reader process finds a field no CSV allows after chunks were written: the import is
    refused whole, as when read here. A received file (bytes, as from a chat) goes the same way,
    and an import ended by its caller ends its reader process."""
    from crmbot import importer
    from crmbot.imports import helper
    from crmbot.imports.sources import UnreadableFile

    monkeypatch.setattr(importer, "BATCH", 2)
    monkeypatch.setattr(helper, "HELPER_BYTES", 0)
    rows = "".join(f"Person {i},p{i}@x.cz\n" for i in range(6))
    broken = f'Name,Email\n{rows}Long,"{"x" * ((1 << 20) + 1)}"\n'.encode()  # a field past the limit
    with pytest.raises(UnreadableFile) as refused:
        _import_with(db, broken, name="upload.csv")
    assert refused.value.code == "bad_row" and refused.value.values["row"] == 8 and "upload.csv" in str(refused.value)
    assert held(db) == {}

    # a reader that stays after its last chunk, as one still reading a long file would
    monkeypatch.setattr(helper, "START", helper.START + "; import time; time.sleep(3600)")
    readers: list[set[int]] = []
    before = _children()

    def stop(rows: int) -> None:
        readers.append(_children() - before)
        raise KeyboardInterrupt  # as Ctrl-C in the shell, after the first chunk

    with pytest.raises(KeyboardInterrupt):
        _import_with(db, f"Name,Email\n{rows}".encode(), name="upload.csv", progress=stop)
    assert len(readers[0]) == 1 and not _children() & readers[0]  # there while importing, ended with it
    assert held(db) == {}
