"""`crmbot export` in every format, on the demo's real SQLite file; CSV and vCard exports import
back into an empty database as the same customers."""

from __future__ import annotations

import csv
import io
import json

import pytest
import vobject
from icalendar import Calendar
from typer.testing import CliRunner

from crmbot.cli import cli
from crmbot.imports.contacts import e164

runner = CliRunner()
NOW = "2026-11-25T10:00:00+00:00"


def run(*args: str, input: str | None = None):
    return runner.invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def demo_db(tmp_path, demo_file) -> str:
    path = demo_file
    # a customer with what a round trip could lose: several e-mails and phones, commas, lines, CJK
    extra = tmp_path / "extra.csv"
    extra.write_text('Name,Company,E-mail,Phone,Address,Website,Notes,Lead source,Status,Tags\n'
                     '陈静,广州云帆科技有限公司,"chen@yunfan.cn; jing@yunfan.cn","+86 138 0013 9999; +86 21 5555 0100",'
                     '"88 Nanjing Road, Huangpu, Shanghai",https://yunfan.cn,"Prefers WeChat\nVisit in spring",fair,prospect,'
                     '"VIP; trade fair"\n', encoding="utf-8")
    assert run("import", str(extra), "--db", path).exit_code == 0
    # tags given by chat: Petr has a follow-up, so his tag shows in the calendar too
    chat = run("chat", "--db", path, "--user", "Alice", "--now", NOW, "--no-reminders", input="tag petr dvorak key-account\n")
    assert chat.exit_code == 0 and "Tagged" in chat.output, chat.output
    return path


def exported(db: str, *args: str) -> str:
    result = run("export", "--db", db, *args)
    assert result.exit_code == 0, result.output
    return result.output


def comparable(db: str) -> list[tuple]:
    data = json.loads(exported(db))
    owners = {m["id"]: m["name"] for m in json.loads(run("member", "list", "--db", db, "--format", "json").output)}
    return sorted((c["name"], c["company"], c["emails"], [e164(p, None) for p in c["phones"]], c["address"], c["website"],
                   c["status"], c["lead_source"], c["preferred_channel"], c["notes"], owners.get(c["owner_id"]), c["tags"])
                  for c in data["customers"])


def test_the_json_export_keeps_its_shape(demo_db):
    data = json.loads(exported(demo_db, "--format", "json"))
    assert list(data) == ["customers", "interactions", "deals", "deal_stage_changes", "complaints", "followups", "customer_facts"]
    assert list(data["customers"][0]) == ["id", "team_id", "name", "company", "emails", "phones", "address", "website",
                                          "preferred_channel", "lead_source", "notes", "owner_id", "status", "created_at",
                                          "updated_at", "deleted_at", "tags"]
    assert list(data["deals"][0]) == ["id", "team_id", "customer_id", "owner_id", "title", "currency", "stage", "expected_close",
                                      "lost_reason", "competitor", "created_at", "updated_at", "closed_at", "deleted_at", "source_ref",
                                      "amount"]  # source_ref: the id an imported deal had in the app it came from
    assert list(data["followups"][0]) == ["id", "team_id", "customer_id", "member_id", "due_at", "note", "state", "created_at",
                                          "deleted_at", "delivered_at", "late", "every_year", "fact_id", "deal_id"]
    assert isinstance(data["deals"][0]["amount"], float) and data["followups"][0]["due_at"].endswith("+00:00")


@pytest.mark.parametrize("format", ["csv", "vcard"])
def test_an_export_imports_back_into_an_empty_database_as_the_same_customers(demo_db, tmp_path, templates, format):
    path = tmp_path / f"customers.{format}"
    assert run("export", "--db", demo_db, "--format", format, "--output", str(path)).exit_code == 0
    empty = str(tmp_path / "new.db")
    templates.sqlite_copy(tmp_path / "new.db", "schema")
    for name in ("Alice", "Bob", "Admin"):  # the same team moving: its members come first
        assert run("member", "add", name, "--db", empty).exit_code == 0
    result = run("import", str(path), "--db", empty)
    assert result.exit_code == 0, result.output
    original = comparable(demo_db)
    assert f"{len(original)} added, 0 updated, 0 skipped" in result.output
    assert comparable(empty) == original
    assert "0 added, 0 updated" in run("import", str(path), "--db", empty).output


def test_the_csv_of_customers_has_headers_people_and_import_read(demo_db):
    rows = list(csv.DictReader(io.StringIO(exported(demo_db, "--format", "csv"))))
    chen = next(r for r in rows if r["Name"] == "陈静")
    assert chen["E-mail"] == "chen@yunfan.cn; jing@yunfan.cn" and chen["Phone"] == "+8613800139999; +862155550100"
    assert chen["Notes"] == "Prefers WeChat\nVisit in spring" and chen["Status"] == "prospect"
    assert chen["Tags"] == "trade fair; VIP" and next(r for r in rows if r["Name"] == "Petr Dvořák")["Tags"] == "key-account"
    assert next(r for r in rows if r["Name"] == "Jan Novák")["Owner"] == "Alice"


@pytest.mark.parametrize("entity", ["deals", "interactions", "complaints", "followups"])
def test_the_csv_of_each_entity_names_its_customer_and_member(demo_db, entity):
    data = json.loads(exported(demo_db))
    rows = list(csv.DictReader(io.StringIO(exported(demo_db, "--format", "csv", "--entity", entity))))
    assert [int(r["id"]) for r in rows] == [row["id"] for row in data[entity]] and rows
    customers = {c["id"]: c["name"] for c in data["customers"]}
    assert all(r["customer"] == customers.get(int(r["customer_id"]), "") for r in rows if r["customer_id"])
    assert all(r.get("owner") or r.get("member") for r in rows)


@pytest.mark.parametrize("entity", ["deals", "interactions", "complaints", "followups"])
def test_the_csv_of_an_entity_with_no_rows_still_has_its_header(demo_db, entity):
    full = exported(demo_db, "--format", "csv", "--entity", entity)
    header = full.splitlines()[0]
    # 陈静 was imported from a file: no deal, call, complaint or follow-up of hers yet
    alone = exported(demo_db, "--format", "csv", "--entity", entity, "--customer", "陈静")
    assert alone.splitlines() == [header] and "customer_id,customer" in header


def test_the_vcard_of_one_customer(demo_db):
    cards = list(vobject.readComponents(exported(demo_db, "--format", "vcard", "--customer", "陈静")))
    assert len(cards) == 1 and cards[0].fn.value == "陈静"
    assert [e.value for e in cards[0].email_list] == ["chen@yunfan.cn", "jing@yunfan.cn"]
    assert cards[0].adr.value.street == "88 Nanjing Road, Huangpu, Shanghai"
    assert cards[0].categories.value == ["trade fair", "VIP"]  # the tags, where address books keep groups


def test_the_calendar_of_follow_ups(demo_db, tmp_path):
    path = tmp_path / "followups.ics"
    assert run("export", "--db", demo_db, "--format", "ics", "-o", str(path)).exit_code == 0
    calendar = Calendar.from_ical(path.read_bytes())
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    data = json.loads(exported(demo_db))
    assert set(events) == {f"followup-{f['id']}@crmbot" for f in data["followups"]}
    first = data["followups"][0]
    event = events[f"followup-{first['id']}@crmbot"]
    assert event.decoded("dtstart").isoformat() == first["due_at"] and first["note"] in str(event["summary"])
    petr = next(c["id"] for c in data["customers"] if c["name"] == "Petr Dvořák")
    [tagged] = [e for e in events.values() if "camera count" in str(e["summary"])]
    assert [str(c) for c in tagged["categories"].cats] == ["key-account"] and petr in {f["customer_id"] for f in data["followups"]}
    assert all("categories" not in e for e in events.values() if e is not tagged)  # customers without tags: none


def test_bad_options_are_refused(demo_db):
    for args, message in ((("--format", "xml"), "--format must be"), (("--format", "vcard", "--entity", "deals"), "goes with --format csv"),
                          (("--format", "csv", "--entity", "pets"), "--entity must be")):
        result = run("export", "--db", demo_db, *args)
        assert result.exit_code == 1 and message in result.output
