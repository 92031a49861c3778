"""Duplicates: adding a customer we already hold asks "is this X?" (chat and the console), and
`crmbot duplicates` lists likely duplicate pairs with a score, found without comparing every
pair yet missing none a full comparison finds."""

from __future__ import annotations

import pytest

import json
import random
from collections import defaultdict
from itertools import combinations

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel
from sqlalchemy import func, select
from typer.testing import CliRunner

from bench.names import make_customers
from crmbot.cli import cli
from crmbot import sample
from crmbot.store import duplicates, models, teams
from tests.conftest import NOW as SEEDED

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

NOW = SEEDED.isoformat()


async def customers_named(app, name: str) -> list[models.Customer]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(models.Customer).where(
            models.Customer.name == name, models.Customer.deleted_at.is_(None)).order_by(models.Customer.id)))


async def customer_count(app) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(models.Customer).where(models.Customer.deleted_at.is_(None)))


@pytest.mark.both_engines
async def test_a_held_email_asks_is_this_x_and_yes_keeps_one_record_with_the_new_number(alice, demo):
    before = await customer_count(demo)
    [asked] = await alice.send("new customer Petr Dvorak, PETR@dvorakstavby.cz, +420 608 999 000")
    assert asked.kind == "customer_same" and "Petr Dvořák (Dvořák Stavby)" in asked.text and "the same e-mail address" in asked.text
    assert [b.label for b in asked.buttons] == ["✅ Yes, it's Petr Dvořák (Dvořák Stavby)", "➕ No, a different person: add them", "Cancel"]
    assert await customer_count(demo) == before  # asked, not added

    used, card = await alice.press(asked.buttons[0])
    assert used.kind == "customer_used" and "+420608999000" in used.text and card.kind == "card"
    [petr] = await customers_named(demo, "Petr Dvořák")
    assert petr.phones == ["+420 731 222 333", "+420608999000"] and await customer_count(demo) == before
    [undone] = await alice.send("undo")  # the number added to him is a change like any other
    assert undone.kind == "undone"
    [petr] = await customers_named(demo, "Petr Dvořák")
    assert petr.phones == ["+420 731 222 333"]


async def test_a_rep_saying_yes_to_a_colleagues_customer_adds_nothing_to_it_and_is_told(bob, demo):
    [asked] = await bob.send("new customer Jan Novak, jan.novak@acme.cz, +420 608 999 000")  # Alice's customer
    assert asked.kind == "customer_same" and asked.buttons[0].label == "✅ Yes, it's Jan Novák (Acme s.r.o.)"
    used, card = await bob.press(asked.buttons[0])
    assert used.kind == "customer_used" and "not added: Alice looks after this customer" in used.text and card.kind == "card"
    [jan] = await customers_named(demo, "Jan Novák")
    assert jan.phones == ["+420 777 123 456"]


@pytest.mark.both_engines
async def test_a_held_phone_asks_whatever_its_spacing_but_another_country_code_is_someone_else(alice, demo):
    [asked] = await alice.send("new customer Pavel Novotný, 00420 731-222-333")
    assert asked.kind == "customer_same" and "Petr Dvořák" in asked.text and "the same phone number" in asked.text
    await alice.press(asked.buttons[-1])  # cancel
    assert await customers_named(demo, "Pavel Novotný") == []
    [added] = await alice.send("new customer Pavel Novotný, +421 731 222 333")  # Slovakia: not Petr's number
    assert added.kind == "customer_added"
    assert len(await customers_named(demo, "Pavel Novotný")) == 1


async def test_a_near_name_asks_in_the_same_company_or_with_none_given_but_not_in_another(alice, demo):
    [asked] = await alice.send("new customer Petr Dvorak from Dvořák Stavby")
    assert asked.kind == "customer_same" and "a very similar name" in asked.text
    [added] = await alice.press(asked.buttons[1])  # no: a new customer after all
    assert added.kind == "customer_added"
    assert len(await customers_named(demo, "Petr Dvorak")) == 1
    [other] = await alice.send("new customer Lucie Cerna from Modrý Kámen")  # a namesake at another firm
    assert other.kind == "customer_added"
    await alice.send("new customer Karel Malý from Pekárna, karel@maly.cz")
    [part] = await alice.send("new customer Karel from Pekárna")  # his first name alone, same bakery
    assert part.kind == "customer_same" and "Karel Malý (Pekárna)" in part.text
    [elsewhere] = await alice.send("new customer Karel from Řeznictví")
    assert elsewhere.kind == "customer_added"


async def test_yes_runs_what_the_new_customer_was_wanted_for_with_the_held_one(alice, demo):
    [unknown] = await alice.send("called zbynek kratochvil, wants a quote")
    assert unknown.kind == "customer_not_found"
    await alice.send("new customer Zbyněk Kratochvíl from Pekárna")  # meanwhile the card is made
    [asked] = await alice.press(unknown.buttons[0])  # "Create Zbynek Kratochvil": is this the one just added?
    assert asked.kind == "customer_same" and "Zbyněk Kratochvíl (Pekárna)" in asked.text
    used, logged = await alice.press(asked.buttons[0])
    assert used.kind == "customer_used" and logged.kind == "logged" and "Zbyněk Kratochvíl (Pekárna)" in logged.text
    [him] = await customers_named(demo, "Zbyněk Kratochvíl")
    async with demo.db.sessions() as session:
        calls = list(await session.scalars(select(models.Interaction).where(models.Interaction.customer_id == him.id)))
    assert [c.summary for c in calls] == ["called zbynek kratochvil, wants a quote"]
    assert await customers_named(demo, "Zbynek Kratochvil") == []


def test_the_terminal_chat_asks_with_numbers_and_a_number_answers(demo_file):
    runner = CliRunner()
    db = demo_file
    chat = runner.invoke(cli, ["chat", "--db", db, "--user", "Alice", "--now", NOW, "--no-reminders"],
                         input="new customer Jana Novakova, jana@beta-logistics.cz\n1\n", catch_exceptions=False)
    assert chat.exit_code == 0, chat.output
    question = chat.output.split("someone I already have?", 1)[1]
    assert "Jana Nováková (Beta Logistics) — the same e-mail address" in question
    assert "[1] ✅ Yes, it's Jana Nováková (Beta Logistics)" in question and "[2] ➕ No, a different person: add them" in question
    assert "[3] Cancel" in question and "Kept Jana Nováková (Beta Logistics), no second record." in question
    listed = json.loads(runner.invoke(cli, ["export", "--db", db]).output)["customers"]
    assert [c["name"] for c in listed].count("Jana Nováková") == 1 and "Jana Novakova" not in [c["name"] for c in listed]


def test_crmbot_duplicates_lists_likely_pairs_with_a_score_for_people_and_scripts(demo_file):
    runner = CliRunner()
    db = demo_file
    typed = ("new customer Karel Malý from Pekárna, karel@maly.cz\nnew customer Karel from Pekárna\n2\n"
             "new customer Jan Novak from Novak Plumbing\n2\n"  # the same name and firm: added anyway
             "new customer Petra Dvorakova, +420608444555\n2\n")  # Petra's number, another spelling
    chat = runner.invoke(cli, ["chat", "--db", db, "--user", "Alice", "--now", NOW, "--no-reminders"], input=typed)
    assert chat.exit_code == 0, chat.output
    result = runner.invoke(cli, ["duplicates", "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    pairs = json.loads(result.output)
    found = {(p["first"]["name"], p["second"]["name"]): (p["score"], p["reasons"]) for p in pairs}
    assert found[("Petra Dvořáková", "Petra Dvorakova")] == (100.0, ["name", "phone"])
    assert found[("Jan Novak", "Jan Novak")] == (100.0, ["name"])
    assert found[("Karel Malý", "Karel")] == (85.0, ["name_part"])
    assert ("Jan Novák", "Jan Novak") not in found  # Acme and Novak Plumbing: two people
    assert [p["score"] for p in pairs] == sorted((p["score"] for p in pairs), reverse=True)
    assert set(pairs[0]) == {"score", "reasons", "first", "second"} and set(pairs[0]["first"]) == {"id", "name", "company"}

    table = runner.invoke(cli, ["duplicates", "--db", db, "--limit", "1"])
    assert table.exit_code == 0 and "3 likely duplicate pairs, the 1 likeliest shown" in table.output
    header = next(line for line in table.output.splitlines() if "Score" in line)
    assert all(word in header for word in ("Score", "Why", "ID", "Customer"))
    strict = json.loads(runner.invoke(cli, ["duplicates", "--db", db, "--format", "json", "--min-score", "90"]).output)
    assert {p["score"] for p in strict} == {100.0}
    assert runner.invoke(cli, ["duplicates", "--db", db, "--min-score", "101"]).exit_code != 0


def _full_scan(book: duplicates.Book) -> set[tuple[int, int]]:
    """What `likely_pairs` promises, by comparing every pair: folded names (words sorted) equal,
    or equal once at most one letter is dropped from each (every typo of one letter added,
    dropped, changed or swapped), with a ratio at the cutoff; companies equal or one unknown.
    And every pair sharing an e-mail or a number in E.164."""
    names = [" ".join(sorted(words)) for words in duplicates._folded_words(book.names)]
    companies = [" ".join(words) for words in duplicates._folded_words(book.companies)]
    found = set()
    # a shared address: every row holding it, pairwise (exact keys miss nothing)
    holders = defaultdict(list)
    for row, (emails, phones) in enumerate(zip(book.emails, book.phones)):
        for key in {("email", e.lower()) for e in emails} | {("phone", duplicates.phone_number(p)) for p in phones}:
            holders[key].append(row)
    for rows in holders.values():
        found.update((book.ids[a], book.ids[b]) for a, b in combinations(rows, 2))
    # names: every pair's distance and ratio, as matrices (rapidfuzz's C loops, not Python's)
    lengths = np.array([len(name) for name in names])
    close = ((process.cdist(names, names, scorer=Indel.distance, dtype=np.int32) <= 2)
             & (np.abs(lengths[:, None] - lengths[None, :]) <= 1)
             & (process.cdist(names, names, scorer=fuzz.ratio, dtype=np.float64) >= duplicates.NAME_CUTOFF))
    for a, b in zip(*np.nonzero(np.triu(close, 1))):
        a, b = int(a), int(b)
        if companies[a] and companies[b] and companies[a] != companies[b] or not names[a] or not names[b]:
            continue
        found.add((book.ids[a], book.ids[b]))
    return found


def test_the_blocking_misses_no_pair_a_full_scan_finds():
    rng = random.Random(5)
    rows = make_customers(1500, seed=3)
    for row in rng.sample(rows, 300):  # copies with a typo, without the company, with another number format
        name = row["name"]
        at = rng.randrange(len(name))
        typo = rng.choice((name[:at] + name[at + 1:], name[:at] + "x" + name[at:], name[:at] + name[at + 1:at + 2] + name[at:at + 1] + name[at + 2:]))
        rows.append({"name": typo, "company": rng.choice((row["company"], None)), "emails": [],
                     "phones": [row["phones"][0].replace("+", "00")] if rng.random() < 0.2 else []})
    book = duplicates.Book(list(range(1, len(rows) + 1)), [r["name"] for r in rows], [r["company"] for r in rows],
                           [r["emails"] for r in rows], [r["phones"] for r in rows])
    pairs = duplicates.likely_pairs(book)
    expected = _full_scan(book)
    found = {(p.first, p.second) for p in pairs if set(p.reasons) & {"email", "phone", "name"}}
    assert len(expected) > 250 and found == expected


@pytest.mark.both_engines
async def test_the_team_book_is_read_alike_on_both_engines(demo):
    """`crmbot duplicates` reads the addresses as stored JSON text: the same pairs on SQLite and PostgreSQL."""
    async with demo.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        rev = await teams.bump_customer_rev(session, team.id)
        session.add(models.Customer(team_id=team.id, name="Ms Nováková", company=None, emails=["Jana@Beta-Logistics.cz"],
                                    phones=["00420 602-555-111"], status="lead", created_at=SEEDED, updated_at=SEEDED, rev=rev))
    async with demo.db.sessions() as session:
        book = await duplicates.team_book(session, team.id)
    found = {(book.names[book.ids.index(p.first)], book.names[book.ids.index(p.second)]): p for p in duplicates.likely_pairs(book)}
    pair = found[("Jana Nováková", "Ms Nováková")]
    assert (pair.score, pair.reasons) == (100.0, ("email", "phone"))
    assert len(book.ids) == len(sample.CUSTOMERS) + 1
