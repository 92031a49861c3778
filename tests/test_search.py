"""The fuzzy customer resolver (crmbot.store.search) on a real SQLite file.

Customers are written the way the app writes them (a new team revision per transaction), some
through a second App with its own engine, as another process would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from crmbot.app import App, build
from crmbot.config import Settings
from crmbot.store.search import ACCEPT, RIVAL_GAP
from crmbot.store import models, teams

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)

PEOPLE = [
    # name, company, email, phone
    ("Jan Novák", "Acme s.r.o.", "jan.novak@acme.cz", "+420 777 123 456"),
    ("Jana Nováková", "Beta Logistics", "jana@beta-logistics.cz", "+420 602 555 111"),
    ("Jan Novak", "Novak Plumbing", "jan@novakplumbing.com", "+1 415 555 0100"),
    ("Petr Dvořák", "Dvořák Stavby", "petr@dvorakstavby.cz", "+420 731 222 333"),
    ("Tomáš Svoboda", "Svoboda Auto", "tomas@svoboda-auto.cz", "+420 720 111 999"),
    ("Lucie Černá", "Černá Design", "lucie@cernadesign.cz", "+420 775 888 777"),
    ("Martin Procházka", None, "martin@prochazka.cz", "+420 739 333 222"),
    ("Eva Kučerová", "Kvítek Zahrady", "eva@kvitek.cz", "+420 777 123 457"),
    ("Sarah Connor", "Cyberdyne", "sarah@cyberdyne.com", "+1 310 555 0187"),
    ("Sara Conner", "Conner Bakery", "sara@connerbakery.com", "+1 614 555 0123"),
]


@pytest.fixture
def db_path(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'search.db'}"


@pytest.fixture
async def app(db_path) -> AsyncIterator[App]:
    built = build(Settings(), db=db_path, clock=lambda: NOW)
    yield built
    await built.close()


@pytest.fixture
async def other(db_path, app) -> AsyncIterator[App]:
    """A second App on the same file: its own engine and its own index, like another process."""
    built = build(Settings(), db=db_path, clock=lambda: NOW)
    yield built
    await built.close()


async def make_team(app: App, name: str) -> int:
    async with app.db.sessions() as session, session.begin():
        return (await teams.create_team(session, name, NOW)).id


async def add(app: App, team_id: int, people) -> list[int]:
    """Customers in one transaction, with the revision bump every customer write makes."""
    async with app.db.sessions() as session, session.begin():
        rev = await teams.bump_customer_rev(session, team_id)
        rows = [
            models.Customer(team_id=team_id, name=name, company=company, emails=[email] if email else [],
                            phones=[phone] if phone else [], created_at=NOW, updated_at=NOW, rev=rev)
            for name, company, email, phone in people
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def search(app: App, team_id: int, text: str, limit: int = 5):
    async with app.db.sessions() as session:
        return await app.bot.index.search(session, team_id, text, limit)


async def top(app: App, team_id: int, text: str) -> str | None:
    found = await search(app, team_id, text)
    return found[0].display if found else None


@pytest.fixture
async def team(app) -> int:
    team_id = await make_team(app, "A")
    await add(app, team_id, PEOPLE)
    return team_id


async def test_missing_diacritics_still_find_the_accented_name(app, team):
    assert await top(app, team, "Petr Dvorak") == "Petr Dvořák (Dvořák Stavby)"
    assert await top(app, team, "tomas svoboda") == "Tomáš Svoboda (Svoboda Auto)"
    # and the other way round: accents typed where the stored name has none
    assert await top(app, team, "Jan Novák Plumbing") == "Jan Novak (Novak Plumbing)"


async def test_novak_finds_novak_among_the_close_names(app, team):
    found = await search(app, team, "Novak")
    names = [m.display for m in found]
    assert "Jan Novák (Acme s.r.o.)" in names and "Jan Novak (Novak Plumbing)" in names


async def test_typos_and_transpositions(app, team):
    assert await top(app, team, "Tomas Svobda") == "Tomáš Svoboda (Svoboda Auto)"  # deletion
    assert await top(app, team, "martin prochazak") == "Martin Procházka"  # transposition
    assert await top(app, team, "Lucie Cerma") == "Lucie Černá (Černá Design)"  # substitution
    assert await top(app, team, "eva kucrova") == "Eva Kučerová (Kvítek Zahrady)"


async def test_first_name_alone_is_enough_when_it_is_unique(app, team):
    found = await search(app, team, "lucie")
    assert found[0].display == "Lucie Černá (Černá Design)"
    # clear enough for the handlers to take it without asking back
    assert found[0].score >= ACCEPT
    assert all(m.score < found[0].score - RIVAL_GAP for m in found[1:])


async def test_company_name_finds_its_person(app, team):
    assert await top(app, team, "acme") == "Jan Novák (Acme s.r.o.)"
    assert await top(app, team, "cyberdyne") == "Sarah Connor (Cyberdyne)"
    assert await top(app, team, "kvitek zahrady") == "Eva Kučerová (Kvítek Zahrady)"


async def test_ambiguous_mention_gives_several_close_results(app, team):
    found = await search(app, team, "sara conner")
    assert {m.display for m in found[:2]} == {"Sarah Connor (Cyberdyne)", "Sara Conner (Conner Bakery)"}
    found = await search(app, team, "jan novak")
    close = [m for m in found if m.score >= found[0].score - RIVAL_GAP]
    # Jan Novák and Jan Novak are one and the same to a fuzzy match: the bot must ask back
    assert {"Jan Novák (Acme s.r.o.)", "Jan Novak (Novak Plumbing)"} <= {m.display for m in close}


async def test_email_and_phone_are_exact_lookups(app, team):
    found = await search(app, team, "jana@beta-logistics.cz")
    assert [m.display for m in found] == ["Jana Nováková (Beta Logistics)"] and found[0].score == 100
    assert await search(app, team, "jana@beta-logistic.cz") == []  # no fuzzy e-mail matches
    # the same number written differently: spaces, no country code
    found = await search(app, team, "602555111")
    assert [m.display for m in found] == ["Jana Nováková (Beta Logistics)"]
    assert [m.display for m in await search(app, team, "+420 777 123 457")] == ["Eva Kučerová (Kvítek Zahrady)"]


async def test_customer_added_by_another_engine_is_found_without_restart(app, other, team):
    assert await top(app, team, "Rehor Zdarsky") != "Řehoř Ždárský"  # index built and warm
    await add(other, team, [("Řehoř Ždárský", None, "rehor@zdarsky.cz", "+420 601 000 111")])
    assert await top(app, team, "Rehor Zdarsky") == "Řehoř Ždárský"
    assert [m.display for m in await search(app, team, "rehor@zdarsky.cz")] == ["Řehoř Ždárský"]


async def test_renamed_and_deleted_customers_follow_the_database(app, other, team):
    assert await top(app, team, "Martin Prochazka") == "Martin Procházka"
    async with other.db.sessions() as session, session.begin():
        rev = await teams.bump_customer_rev(session, team)
        martin = await session.scalar(select(models.Customer).where(models.Customer.name == "Martin Procházka"))
        martin.deleted_at, martin.rev = NOW, rev  # soft delete, as the handlers do
        lucie = await session.scalar(select(models.Customer).where(models.Customer.name == "Lucie Černá"))
        lucie.name, lucie.rev = "Lucie Bílá", rev
    found = await search(app, team, "Martin Prochazka")
    assert all("Procházka" not in m.display for m in found)
    assert await search(app, team, "martin@prochazka.cz") == []
    assert await top(app, team, "lucie bila") == "Lucie Bílá (Černá Design)"
    assert all(m.display != "Lucie Černá (Černá Design)" for m in await search(app, team, "lucie cerna"))


async def test_teams_never_see_each_others_customers(app, other):
    team_a, team_b = await make_team(app, "A"), await make_team(app, "B")
    ids_a = set(await add(app, team_a, PEOPLE))
    ids_b = set(await add(other, team_b, PEOPLE))  # the same names, e-mails and phones
    for text in ("novak", "Jan Novák", "acme", "lucie", "sara conner", "jana@beta-logistics.cz", "602555111"):
        found_a = await search(app, team_a, text)
        found_b = await search(app, team_b, text)
        assert found_a and {m.customer_id for m in found_a} <= ids_a, text
        assert found_b and {m.customer_id for m in found_b} <= ids_b, text
    # a customer only team B has is not found from team A
    await add(other, team_b, [("Řehoř Ždárský", None, None, None)])
    assert all("Ždárský" not in m.display for m in await search(app, team_a, "rehor zdarsky"))
    assert await top(app, team_b, "rehor zdarsky") == "Řehoř Ždárský"
