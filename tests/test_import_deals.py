"""`crmbot import` of deal exports (HubSpot, Pipedrive) through the real CLI, on SQLite and
PostgreSQL: deals on the right customers, stages mapped, currencies kept, the same file twice
changing nothing, a later export moving what moved, dry runs, undo."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crmbot.cli import cli
from crmbot.imports.deals import amount_of, date_of

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

DATA = Path(__file__).parent / "data" / "imports"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def db(db_url) -> str:
    """A team moving in, on each engine: two managers, and the contacts exported before the deals."""
    for name in ("Alice Smith", "Bob Jones"):
        assert run("member", "add", name, "--role", "manager", "--db", db_url).exit_code == 0
    return db_url


def imported(db: str, path: str | Path, *extra: str) -> str:
    result = run("import", str(path), "--db", db, *extra)
    assert result.exit_code == 0, result.output
    return result.output


def exported(db: str) -> dict:
    result = run("export", "--db", db)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def deals(db: str) -> dict[str, dict]:
    data = exported(db)
    names = {c["id"]: c["name"] for c in data["customers"]}
    return {d["title"]: {**d, "customer": names[d["customer_id"]]} for d in data["deals"]}


def members(db: str) -> dict[str, int]:
    return {m["name"]: m["id"] for m in json.loads(run("member", "list", "--db", db, "--format", "json").output)}


@pytest.mark.both_engines
def test_hubspot_deals_land_on_their_contacts_with_stages_amounts_and_currencies(db):
    imported(db, DATA / "hubspot-contacts.csv")
    output = imported(db, DATA / "hubspot-deals.csv")
    assert "Imported deals from hubspot-deals.csv" in output and "6 added, 0 updated, 2 skipped" in output
    assert "Customers added for deals with someone not held before: 2." in output
    assert "row 8: no deal title" in output and "row 9, column 'Amount': not an amount: a lot" in output
    assert "Stages crmbot does not know, imported as lead: Site visit booked (1)" in output
    assert "Carol White (1)" in output
    found, team = deals(db), members(db)
    supply = found["Northwind – annual supply"]
    assert supply["customer"] == "Emma Thompson" and supply["stage"] == "negotiation"  # "Contract Sent"
    assert (supply["amount"], supply["currency"]) == (48000.0, "GBP") and supply["owner_id"] == team["Alice Smith"]
    assert supply["expected_close"].startswith("2026-03-31") and supply["closed_at"] is None
    assert supply["source_ref"] == "record id:9012345001"
    espresso = found["Vela Tech – espresso machines"]
    assert espresso["customer"] == "Sofia Rossi" and espresso["stage"] == "won" and espresso["amount"] == 12500.5
    assert espresso["closed_at"].startswith("2026-02-14") and espresso["owner_id"] == team["Bob Jones"]
    pilot = found["Brightpath – pilot"]  # the first of two associated contacts; its owner is no member
    assert pilot["customer"] == "Liam O'Brien" and pilot["stage"] == "lead" and pilot["amount"] is None
    assert pilot["owner_id"] == team["Alice Smith"]  # the team's first manager
    assert found["Bergwerk – renewal"]["stage"] == "lost" and found["Bergwerk – renewal"]["customer"] == "Noah Müller"
    kestrel = found["Kestrel Labs – first order"]
    assert kestrel["stage"] == "qualified" and kestrel["currency"] == "USD" and kestrel["expected_close"].startswith("2026-03-15")
    harbour = found["Harbour Foods – catering"]
    assert harbour["customer"] == "Harbour Foods" and harbour["stage"] == "lead" and harbour["amount"] == 7500.0
    people = {c["name"]: c for c in exported(db)["customers"]}
    assert people["Grace Kim"]["emails"] == ["grace@kestrel.io"] and people["Grace Kim"]["company"] == "Kestrel Labs"
    assert people["Grace Kim"]["status"] == "prospect" and len(people) == 6
    history = [(h["from_stage"], h["to_stage"]) for h in exported(db)["deal_stage_changes"]]
    assert sorted(history) == sorted([(None, s) for s in ("negotiation", "won", "lead", "lost", "qualified", "lead")])


def test_pipedrive_deals_by_person_and_organisation_status_over_stage(db):
    imported(db, DATA / "pipedrive-people.csv")
    output = imported(db, DATA / "pipedrive-deals.csv")
    assert "4 added, 0 updated, 1 skipped" in output and "row 6, column 'Deal - Status': a deleted deal" in output
    found = deals(db)
    offices = found["Horák Stavby - nové kanceláře"]
    assert offices["customer"] == "Petra Horáková" and offices["stage"] == "proposal"
    assert (offices["amount"], offices["currency"]) == (250000.0, "CZK") and offices["source_ref"] == "deal id:1"
    service = found["Dvořák & syn - servis"]  # status Won, whatever the stage said
    assert service["customer"] == "Marek Dvořák" and service["stage"] == "won"
    assert service["closed_at"].startswith("2026-01-15T14:23:10")
    advice = found["Králová - poradenství"]
    assert advice["stage"] == "lost" and advice["lost_reason"] == "Price too high" and advice["customer"] == "Ivana Králová"
    assert found["Zeleň Praha - údržba"]["customer"] == "Zeleň Praha a.s." and found["Zeleň Praha - údržba"]["stage"] == "qualified"
    assert "Old test deal" not in found


@pytest.mark.both_engines
def test_the_same_file_twice_changes_nothing_and_a_later_export_moves_what_moved(db, tmp_path):
    imported(db, DATA / "hubspot-contacts.csv")
    imported(db, DATA / "hubspot-deals.csv")
    before = exported(db)
    again = imported(db, DATA / "hubspot-deals.csv")
    assert "0 added, 0 updated, 8 skipped" in again
    assert "already held as Northwind – annual supply for Emma Thompson, nothing new" in again
    assert exported(db) == before
    later = tmp_path / "hubspot-deals-later.csv"
    text = (DATA / "hubspot-deals.csv").read_text(encoding="utf-8")
    later.write_text(text.replace('"Contract Sent","48000"', '"Closed Won","52000"', 1), encoding="utf-8")
    assert "0 added, 1 updated, 7 skipped" in imported(db, later)
    supply = deals(db)["Northwind – annual supply"]
    assert supply["stage"] == "won" and supply["amount"] == 52000.0 and supply["closed_at"].startswith("2026-03-31")
    moves = [(h["from_stage"], h["to_stage"]) for h in exported(db)["deal_stage_changes"] if h["deal_id"] == supply["id"]]
    assert moves == [(None, "negotiation"), ("negotiation", "won")]
    assert "0 added, 0 updated, 8 skipped" in imported(db, later)


def test_without_ids_a_deal_is_its_title_on_its_customer(db, tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text("Deal Name,Contact,Organization,Amount,Stage\n"
                    "Kiosk,Siân Jones,Caffi Siân,700 £,Proposal\n"
                    "Kiosk,Huw Price,,300,Lead\n", encoding="utf-8")
    output = imported(db, path)
    assert "2 added" in output and "Customers added for deals with someone not held before: 2." in output
    assert "0 added, 0 updated, 2 skipped" in imported(db, path)
    found = exported(db)["deals"]
    assert sorted((d["amount"], d["currency"]) for d in found) == [(300.0, None), (700.0, "GBP")]


def test_a_name_several_customers_share_is_asked_for_not_guessed(db, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("Name,Company,Email\nJan Novák,Acme,jan@acme.cz\nJan Novák,Beta,jan@beta.cz\n", encoding="utf-8")
    imported(db, people)
    path = tmp_path / "deals.csv"
    path.write_text("Deal Name,Deal - Person,Deal - Organization,Deal - Value\n"
                    "Roof,Jan Novák,,1000\nWalls,Jan Novák,Beta,2000\nFloor,,,3000\n", encoding="utf-8")
    output = imported(db, path)
    assert "1 added, 0 updated, 2 skipped" in output
    assert "row 2: several customers are called Jan Novák" in output and "row 4: does not say who the deal is with" in output
    assert deals(db)["Walls"]["customer"] == "Jan Novák" and deals(db)["Walls"]["amount"] == 2000.0


def test_dry_run_reports_and_writes_nothing(db):
    imported(db, DATA / "hubspot-contacts.csv")
    before = exported(db)
    output = imported(db, DATA / "hubspot-deals.csv", "--dry-run")
    assert "Would import deals from hubspot-deals.csv" in output and "6 added" in output and "nothing was written" in output
    assert exported(db) == before


@pytest.mark.both_engines
def test_a_deal_import_is_undone_as_one_change(db):
    from crmbot.store import audit, models
    from crmbot.store.db import open_database

    imported(db, DATA / "pipedrive-people.csv")
    output = imported(db, DATA / "pipedrive-deals.csv", "--member", "Bob Jones")
    group = output.split("group ", 1)[1].split(".")[0]

    async def undo() -> set[tuple[str, str]]:
        database = open_database(db)
        try:
            async with database.sessions() as session, session.begin():
                entries = list(await session.scalars(select(models.AuditEntry).where(models.AuditEntry.group_id == group)
                                                     .order_by(models.AuditEntry.id.desc())))
                assert entries == await audit.last_group(session, entries[0].team_id, entries[0].member_id)
                actor = audit.Actor(entries[0].team_id, entries[0].member_id, "cli", "undo-deals")
                await audit.undo_group(session, actor, entries[0].at, entries)
                return {(e.action, e.entity) for e in entries}
        finally:
            await database.close()

    assert asyncio.run(undo()) == {("create", "deal"), ("create", "deal_stage_change"), ("create", "customer")}
    data = exported(db)
    assert data["deals"] == [] and data["deal_stage_changes"] == []
    assert sorted(c["name"] for c in data["customers"]) == ["Ivana Králová", "Marek Dvořák", "Petra Horáková"]


def test_a_team_without_members_is_told_why_it_gets_no_deals(tmp_path):
    path = str(tmp_path / "empty.db")
    output = imported(path, DATA / "pipedrive-deals.csv")
    assert "0 added, 0 updated, 5 skipped" in output and "nobody to own the deal" in output


def test_a_deal_file_naming_nobody_is_refused_whole(db, tmp_path):
    path = tmp_path / "titles.csv"
    path.write_text("Deal Name,Amount\nRoof,100\n", encoding="utf-8")
    result = run("import", str(path), "--db", db)
    assert result.exit_code == 1 and "has deals but no column saying who they are with" in result.output


@pytest.mark.parametrize("text, expected", [
    ("12000", (1200000, None)), ("12,500.50", (1250050, None)), ("1.234,50 €", (123450, "EUR")),
    ("CZK 250 000", (25000000, "CZK")), ("¥50,000", (5000000, "CNY")), ("12,5", (1250, None)),
    ("1.250.000", (125000000, None)), ("$1,200", (120000, "USD")), ("700 Kč", (70000, "CZK")),
])
def test_amounts_as_other_apps_write_them(text, expected):
    assert amount_of(text) == expected


@pytest.mark.parametrize("text", ["a lot", "-5", "1e999", "12,5,0.1.1"])
def test_what_is_no_amount(text):
    with pytest.raises(ValueError):
        amount_of(text)


@pytest.mark.parametrize("text, region, expected", [
    ("2026-03-31", None, "2026-03-31T12:00:00+00:00"), ("31.03.2026", None, "2026-03-31T12:00:00+00:00"),
    ("03/04/2026", "US", "2026-03-04T12:00:00+00:00"), ("03/04/2026", "GB", "2026-04-03T12:00:00+00:00"),
    ("03/15/2026", "GB", "2026-03-15T12:00:00+00:00"), ("2026年3月31日", None, "2026-03-31T12:00:00+00:00"),
    ("2026-01-15 14:23:10", None, "2026-01-15T14:23:10+00:00"), ("1/5/26 3:05 PM", "US", "2026-01-05T15:05:00+00:00"),
])
def test_dates_as_other_apps_write_them(text, region, expected):
    assert date_of(text, region).isoformat() == expected


@pytest.mark.parametrize("text", ["soon", "31/02/2026", "2026-13-01"])
def test_what_is_no_date(text):
    with pytest.raises(ValueError):
        date_of(text, None)


# -- the vocabulary is data -----------------------------------------------------------------------


def test_every_language_has_deal_words_and_they_never_disagree():
    from crmbot.i18n import I18n
    from crmbot.imports.vocabulary import DEAL_FIELDS, DEAL_STATUSES, Vocabulary, folded_label
    from crmbot.store.models import STAGES

    i18n = I18n.packaged()
    allowed = {"deal_columns": set(DEAL_FIELDS), "deal_stages": set(STAGES), "deal_status": set(DEAL_STATUSES)}
    for table, meanings in allowed.items():
        seen: dict[str, tuple[str, str]] = {}
        for code, language in i18n.languages.items():
            words = language.imports[table]
            assert set(words) <= meanings, (table, code)
            for meaning, listed in words.items():
                for word in listed:
                    assert seen.setdefault(folded_label(word), (meaning, code))[0] == meaning, (table, word, code)
        if table != "deal_columns":
            assert {code for code in i18n.codes if set(i18n.language(code).imports[table]) == meanings} == set(i18n.codes), table
    for code in i18n.codes:
        assert {"deal_title", "amount", "currency", "stage"} <= set(i18n.language(code).imports["deal_columns"]), code
    vocabulary = Vocabulary.packaged()
    for header, field in [("Deal - Title", "deal_title"), ("Deal Name", "deal_title"), ("Deal - Value", "amount"),
                          ("Deal - Currency", "currency"), ("Deal Stage", "stage"), ("Deal - Contact person", "contact"),
                          ("Associated Company", "organization"), ("Název obchodu", "deal_title"), ("阶段", "stage"),
                          ("Person - Email - Work", "email"), ("Organization - Name", "company")]:
        assert vocabulary.deal_field(header) == field, header
    for word, stage in [("appointmentscheduled", "lead"), ("Qualified To Buy", "qualified"), ("contractsent", "negotiation"),
                        ("closedwon", "won"), ("Closed Lost", "lost"), ("Proposal Made", "proposal"), ("Vyjednávání", "negotiation"),
                        ("报价", "proposal"), ("Wedi ennill", "won"), ("Uduzuldu", "lost"), ("Izgubljeno", "lost")]:
        assert vocabulary.stage(word) == stage, word


def test_a_namesake_with_other_e_mails_is_another_person(db, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("Name,Company,Email\nZhang Wei,Bank of Asia,zhang.wei@boa.cn\n", encoding="utf-8")
    imported(db, people)
    path = tmp_path / "deals.csv"
    path.write_text("Deal Name,Associated Contact,Associated Company,Amount\n"
                    "Loans,Zhang Wei (zw@boa.cn),Bank of Asia,100\n"
                    "Cards,Zhang Wei (zhang.wei@boa.cn),Bank of Asia,200\n", encoding="utf-8")
    output = imported(db, path)
    assert "2 added" in output and "Customers added for deals with someone not held before: 1." in output
    found = deals(db)
    assert found["Loans"]["customer_id"] != found["Cards"]["customer_id"]
    people_held = [c for c in exported(db)["customers"] if c["name"] == "Zhang Wei"]
    assert sorted(c["emails"][0] for c in people_held) == ["zhang.wei@boa.cn", "zw@boa.cn"]
