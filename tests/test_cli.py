"""The `crmbot` commands, run in-process against a real SQLite file."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from crmbot.cli import cli
from tests.test_migrations import _revisions

runner = CliRunner()
NOW = "2026-11-25T10:00:00+00:00"


def run(*args: str, input: str | None = None):
    result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
    return result


@pytest.fixture
def demo_db(demo_file) -> str:
    return demo_file


def test_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("chat", "demo", "parse", "import", "export", "db", "invite", "member"):
        assert command in result.output


def test_chat_on_an_empty_database_makes_the_first_user_admin(tmp_path):
    path = str(tmp_path / "new.db")
    result = run("chat", "--db", path, "--user", "Zoe", "--now", NOW, input="new customer Karel Maly from Pekarna\nkarel\n")
    assert result.exit_code == 0, result.output
    assert "Added Karel Maly (Pekarna)" in result.output
    assert "Karel Maly (Pekarna)" in result.output.split("Added", 1)[1]
    listed = json.loads(run("member", "list", "--db", path, "--format", "json").output)
    assert [(m["name"], m["role"]) for m in listed] == [("Zoe", "admin")]
    # a second console user is not let in without being added
    refused = run("chat", "--db", path, "--user", "Mallory", input="karel\n")
    assert refused.exit_code != 0 and "not a member" in refused.output


def test_parse_prints_json_with_the_customer_resolved(demo_db):
    result = run("parse", "--db", demo_db, "--now", NOW, "--tz", "Europe/Prague", "called jana novakova, wants a quote by friday")
    data = json.loads(result.output)
    assert data == {
        "intent": "log_call", "customer": "Jana Nováková (Beta Logistics)", "stage": None, "amount": None,
        "currency": None, "due": "2026-11-27T08:00:00+00:00", "period": None,
        "text": "called jana novakova, wants a quote by friday",
    }


def test_parse_reads_stdin_one_json_per_line(demo_db):
    result = run("parse", "--db", demo_db, "--now", NOW, input="new deal cyberdyne $12,500\nsummary this month\n")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["intent"] for line in lines] == ["new_deal", "summary"]
    assert lines[0]["amount"] == 12500.0 and lines[0]["currency"] == "USD" and lines[0]["customer"] == "Sarah Connor (Cyberdyne)"
    assert lines[1]["period"] == "this_month"


def test_import_reports_skipped_rows_and_export_has_the_documented_shape(tmp_path, demo_db):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "Full Name,Organisation,E-mail,Phone,Notes\n"
        "Karel Malý,Pekárna Malý,karel@pekarna.cz,+420 777 000 111,likes rye bread\n"
        ",No Name Ltd,nobody@x.cz,,\n"
        "Bad Mail,Firm,not-an-email,,\n"
        "Jan Novák,Acme s.r.o.,jan.novak@acme.cz,,\n",
        encoding="utf-8",
    )
    result = run("import", str(csv_file), "--db", demo_db)
    assert result.exit_code == 0, result.output
    assert "1 added, 0 updated, 3 skipped" in result.output
    assert "row 3: no name" in result.output and "row 4, column 'E-mail': not an e-mail" in result.output
    assert "row 5: already held as Jan Novák (Acme s.r.o.), nothing new" in result.output
    exported = json.loads(run("export", "--format", "json", "--db", demo_db).output)
    assert set(exported) >= {"customers", "interactions", "deals", "complaints", "followups"}
    karel = next(c for c in exported["customers"] if c["name"] == "Karel Malý")
    assert karel["emails"] == ["karel@pekarna.cz"] and karel["phones"] == ["+420777000111"] and karel["notes"] == "likes rye bread"
    deal = exported["deals"][0]
    assert {"id", "customer_id", "amount", "currency", "stage"} <= set(deal)
    followup = exported["followups"][0]
    assert followup["due_at"].endswith("+00:00") and "customer_id" in followup


def test_import_of_an_unreadable_file_writes_nothing(tmp_path, demo_db):
    before = json.loads(run("export", "--db", demo_db).output)
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\x00\x00\x01")
    result = run("import", str(binary), "--db", demo_db)
    assert result.exit_code != 0 and "Nothing imported" in result.output
    no_names = tmp_path / "nonames.csv"
    no_names.write_text("colour,size\nred,XL\n", encoding="utf-8")
    result = run("import", str(no_names), "--db", demo_db)
    assert result.exit_code != 0 and "no name column" in result.output
    assert json.loads(run("export", "--db", demo_db).output) == before


def test_export_of_one_customer(demo_db):
    result = run("export", "--db", demo_db, "--customer", "Lucie Cerna")
    data = json.loads(result.output)
    assert [c["name"] for c in data["customers"]] == ["Lucie Černá"]
    assert data["complaints"] and all(c["customer_id"] == data["customers"][0]["id"] for c in data["complaints"])


def test_db_upgrade_and_invite(tmp_path, demo_db):
    result = run("db", "upgrade", "--db", demo_db)
    assert f"Database at revision {_revisions()[-1]}." in result.output  # the newest migration
    invite = run("invite", "--role", "rep", "--db", demo_db)
    assert invite.exit_code == 0 and "/start " in invite.output


def test_chat_prints_due_reminders_and_their_buttons_work(demo_db):
    # the sample opens with nothing to remind: its overdue follow-up was reminded when it fell due
    opening = run("chat", "--db", demo_db, "--user", "Alice", "--now", NOW, "--reminders", input="")
    assert opening.exit_code == 0 and "Confirm camera count" not in opening.output and "late" not in opening.output
    # two days on, Alice's "Send Acme the website quote" falls due
    result = run("chat", "--db", demo_db, "--user", "Alice", "--now", "2026-11-27T10:00:30+00:00", "--reminders", input="1\n")
    assert result.exit_code == 0, result.output
    assert "Send Acme the website quote" in result.output and "late" not in result.output
    assert "[1]" in result.output and "Done" in result.output.split("[1]", 1)[1].splitlines()[0]
    assert "✅ Done" in result.output.split("Send Acme the website quote", 1)[1]


def test_audit_prints_a_customers_history_and_forget_erases_it(demo_db):
    chat = run("chat", "--db", demo_db, "--user", "Alice", "--now", NOW, "--no-reminders",
               input="called tomas svoboda, wants a demo\nnew deal tomas svoboda 8k EUR\n")
    assert chat.exit_code == 0, chat.output
    history = run("audit", "--customer", "tomas svoboda", "--db", demo_db)
    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    assert lines[0] == "History of Tomáš Svoboda (Svoboda Auto):"
    assert any("Alice" in line and "console" in line and "create" in line and "interaction" in line for line in lines)
    assert any("deal" in line and "amount_minor=800000" in line for line in lines)
    assert run("audit", "--customer", "novak", "--db", demo_db).exit_code != 0  # several match: never guess

    refused = run("forget", "tomas svoboda", "--db", demo_db, input="n\n")
    assert refused.exit_code != 0 and "Nothing erased" in refused.output
    erased = run("forget", "tomas svoboda", "--yes", "--db", demo_db)
    assert erased.exit_code == 0 and "Erased Tomáš Svoboda" in erased.output
    exported = run("export", "--db", demo_db).output
    assert "Svoboda" not in exported and "wants a demo" not in exported
    after = run("audit", "--customer", "tomas svoboda", "--db", demo_db)
    assert after.exit_code != 0  # nobody left to find


def test_doctor_reports_health_and_warns_about_an_open_webhook(demo_db, monkeypatch):
    monkeypatch.setenv("CRMBOT_TELEGRAM_TOKEN", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi")
    monkeypatch.setenv("CRMBOT_TELEGRAM_WEBHOOK_URL", "https://crm.example.com/telegram/x")
    result = run("doctor", "--db", demo_db, "--now", "2026-11-25T13:30:00+00:00")  # Bob's 13:00 follow-up waits
    assert result.exit_code == 0, result.output
    assert "database reachable" in result.output and "schema at revision" in result.output
    assert "1 overdue" in result.output
    assert "without CRMBOT_TELEGRAM_WEBHOOK_SECRET" in result.output
    assert "ABCDEFGHIJ" not in result.output  # the token itself is never shown
    missing = run("doctor", "--db", demo_db + ".missing")
    assert missing.exit_code != 0


def _notify(db_path: str, adapter: str, chat_id: str) -> None:
    """What `/notify here` said in that chat stores."""
    import asyncio

    from crmbot import sample
    from crmbot.store import teams
    from crmbot.store.db import open_database

    async def store() -> None:
        db = open_database(db_path)
        try:
            async with db.sessions() as session, session.begin():
                team = await teams.team_by_name(session, sample.TEAM)
                team.settings = {**team.settings, "notify": {"adapter": adapter, "chat_id": chat_id, "thread": None}}
        finally:
            await db.close()

    asyncio.run(store())


def test_chat_shows_announcements_for_itself_after_the_answer(demo_db):
    result = run("chat", "--db", demo_db, "--user", "Alice", "--now", NOW, "--no-reminders",
                 input="/notify here\ncyberdyne won\n")
    assert result.exit_code == 0, result.output
    answer = result.output.index("Cyberdyne pilot (Sarah Connor):")
    assert result.output.index("Alice won Cyberdyne pilot") > answer


def test_chat_logs_announcements_for_other_platforms_and_never_prints_them(demo_db, tmp_path, caplog):
    import logging
    import subprocess
    import sys

    _notify(demo_db, "telegram", "-100500")
    with caplog.at_level(logging.INFO, logger="crmbot.app"):
        result = run("chat", "--db", demo_db, "--user", "Alice", "--now", NOW, "--no-reminders",
                     input="complaint from sarah connor: the dashboard is down\n")
    assert "Complaint recorded for Sarah Connor" in result.output
    assert "New complaint" not in result.output
    [logged] = [r for r in caplog.records if r.name == "crmbot.app"]
    assert "telegram" in logged.getMessage()
    # a real terminal session, where no test harness catches log records: the chat shows the
    # answer and nothing else
    shown = subprocess.run(
        [sys.executable, "-c", "from crmbot.cli import main; main()", "chat", "--db", demo_db, "--user", "Alice",
         "--now", NOW, "--no-reminders"],
        input="complaint from sarah connor: the kiosk is down\n", capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Complaint recorded for Sarah Connor" in shown.stdout
    assert shown.stderr == "" and "New complaint" not in shown.stdout


def test_every_help_text_reads_as_plain_english():
    """No Python type tags ("<bool>", "<str>") in any command's --help."""
    def commands(group, path=()):
        for name, command in getattr(group, "commands", {}).items():
            yield (*path, name)
            yield from commands(command, (*path, name))

    from typer.main import get_command
    for path in [(), *commands(get_command(cli))]:
        shown = run(*path, "--help").output
        assert "Usage:" in shown and not any(tag in shown for tag in ("<bool>", "<str>", "<int>", "<float>")), (path, shown)


def test_members_are_listed_for_people_and_for_scripts_and_their_roles_change_with_an_audit(demo_db):
    table = run("member", "list", "--db", demo_db).output
    header = next(line for line in table.splitlines() if "Name" in line)
    assert all(word in header for word in ("ID", "Name", "Role", "Language", "Time zone", "Active", "E-mail", "Accounts"))
    listed = json.loads(run("member", "list", "--db", demo_db, "--format", "json").output)
    assert {m["name"]: m["role"] for m in listed} == {"Alice": "manager", "Bob": "rep", "Admin": "admin"}
    assert set(listed[0]) == {"id", "name", "role", "locale", "timezone", "active", "email", "identities"}

    refused = run("member", "role", "Admin", "rep", "--db", demo_db)
    assert refused.exit_code == 1 and "only admin" in refused.output
    assert run("member", "role", "alice", "admin", "--db", demo_db).exit_code == 0
    assert run("member", "role", "Admin", "rep", "--db", demo_db).exit_code == 0
    assert run("member", "remove", "bob", "--db", demo_db).exit_code == 0
    assert run("member", "remove", "nobody", "--db", demo_db).exit_code == 1
    after = {m["name"]: (m["role"], m["active"]) for m in json.loads(run("member", "list", "--db", demo_db, "--format", "json").output)}
    assert after == {"Alice": ("admin", True), "Bob": ("rep", False), "Admin": ("rep", True)}

    # a removed member is let in no more; `member add` takes them back
    refused = run("chat", "--db", demo_db, "--user", "Bob", "--now", NOW, input="find petr\n")
    assert refused.exit_code != 0 and "not a member" in refused.output
    assert run("member", "add", "Bob", "--role", "rep", "--db", demo_db).exit_code == 0
    back = run("chat", "--db", demo_db, "--user", "Bob", "--now", NOW, input="find petr dvorak\n")
    assert back.exit_code == 0 and "Petr Dvořák" in back.output

    with sqlite3.connect(demo_db) as db:
        recorded = db.execute("SELECT action, platform FROM audit_entries WHERE entity = 'member'").fetchall()
    assert recorded == [("update", "cli")] * 4  # two role changes, the removal and the return


def test_a_member_gets_an_email_address_for_mail_intake(demo_db):
    assert run("member", "add", "Alice", "--role", "manager", "--email", "Alice <Alice@Demo-Sales.Example>", "--db", demo_db).exit_code == 0
    listed = {m["name"]: m["email"] for m in json.loads(run("member", "list", "--db", demo_db, "--format", "json").output)}
    assert listed["Alice"] == "alice@demo-sales.example" and listed["Bob"] is None
    refused = run("member", "add", "Bob", "--email", "not an address", "--db", demo_db)
    assert refused.exit_code == 1 and "--email" in refused.output


def test_adding_an_address_to_a_known_member_keeps_their_role_and_an_address_is_one_members(demo_db):
    assert run("member", "add", "Alice", "--email", "alice@demo.example", "--db", demo_db).exit_code == 0
    listed = {m["name"]: (m["role"], m["email"]) for m in json.loads(run("member", "list", "--db", demo_db, "--format", "json").output)}
    assert listed["Alice"] == ("manager", "alice@demo.example")  # not demoted to rep
    taken = run("member", "add", "Bob", "--email", "ALICE@demo.example", "--db", demo_db)
    assert taken.exit_code == 1 and "already Alice's" in taken.output


def test_table_cells_are_shown_as_typed(demo_db, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per member
    assert run("member", "add", "Zed [CZ] [/]", "--db", demo_db).exit_code == 0
    assert "Zed [CZ] [/]" in run("member", "list", "--db", demo_db).output
