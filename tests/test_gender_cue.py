"""People who share a surname told apart by the grammar of the message: a title ("pana
Horvata", "gospe Horvat", "Ms Horvat") or a man's case ending on the surname ("Horvatovi",
"s Horvatom": a woman's foreign surname is not declined in Czech or Slovenian). Real parser,
real resolver, the sample team (Luka Horvat and Maja Horvat) in a real SQLite file."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crmbot import sample
from crmbot.store import models, teams
from crmbot.store.name_gender import first_name_gender
from crmbot.store.search import clear_winner, gender_cue
from tests.conftest import NOW


@pytest.fixture
def db_url(sqlite_db_url) -> str:
    return sqlite_db_url


async def _understood(app, parser, text: str, lang: str) -> str | None:
    intent = parser.parse(text, lang, NOW)
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        found = await app.bot.index.search(session, team.id, intent.mention, gender=gender_cue(intent.slots))
    winner = clear_winner(found)
    return winner.display.split(" (")[0] if winner else None


@pytest.mark.parametrize("text, lang, who", [
    ("zavolej panu Horvatovi zítra", "cs", "Luka Horvat"),
    ("mluvil jsem s Horvatem", "cs", "Luka Horvat"),
    ("připomeň mi zavolat paní Horvat ve čtvrtek", "cs", "Maja Horvat"),
    ("Gospodu Horvatu sem pustil sporočilo", "sl", "Luka Horvat"),
    ("sestanek s Horvatom v Mariboru", "sl", "Luka Horvat"),
    ("pisal gospe Horvat glede sadik", "sl", "Maja Horvat"),
    ("called Mr Horvat about the ERP", "en", "Luka Horvat"),
    ("called Ms Horvat", "en", "Maja Horvat"),
])
async def test_a_title_or_a_mans_case_ending_says_which_horvat(demo, parser, text, lang, who):
    assert await _understood(demo, parser, text, lang) == who


@pytest.mark.parametrize("text, lang", [
    ("volal jsem Horvat", "cs"),  # no title, no ending: either
    ("poslem Horvat ponudbo", "sl"),  # a man's ending on another word ("poslem") says nothing of Horvat
    ("horvatova me je klicala", "sl"),  # "-ova": a woman's form or a possessive, not a man's case
    ("pan Novák a paní Horvat", "cs"),  # both titles: two people
    ("call Horvat, don't miss it", "en"),  # a title only beside the name: "miss" is a verb here
    ("Horvat on MS Teams", "en"),
    ("Horvatovi chtějí nabídku", "cs"),  # "the Horvats": a plural, not a man's dative
    ("volala manželka pana Horvata", "cs"),  # Mr Horvat's wife called: not him
    ("Horvat先生的太太来电", "zh"),
])
async def test_without_a_clear_cue_a_shared_surname_still_asks(demo, parser, text, lang):
    assert await _understood(demo, parser, text, lang) is None


@pytest.mark.parametrize("name, gender", [
    ("Luka Horvat", "m"), ("Maja Horvat", "f"), ("Petr Dvořák", "m"), ("Petra Dvořáková", "f"),
    ("Aysel Məmmədova", "f"), ("Cerys Thomas", "f"), ("Dafydd Evans", "m"),
    ("Andrea Rossi", None), ("Ing. Eva Horvat", "f"), ("Dr Luka Horvat", "m"), ("Karen Smith", "f"),
    ("Vojta Horvat", "m"), ("Saša Novak", None), ("Jure Novak", None), ("张伟", None), ("Novák", None),
])
def test_a_first_name_says_its_gender_only_when_it_is_clear(name, gender):
    assert first_name_gender(name) == gender


async def test_a_call_to_mr_horvat_is_logged_against_luka_without_asking(alice, demo):
    replies = await alice.send("called Mr Horvat, wants the ERP quote")
    assert not any(r.buttons for r in replies), [r.text for r in replies]
    async with demo.db.sessions() as session:
        call = (await session.scalars(select(models.Interaction).order_by(models.Interaction.id.desc()))).first()
        customer = await session.get(models.Customer, call.customer_id)
    assert customer.name == "Luka Horvat" and "ERP quote" in call.summary
