"""The customer resolver (crmbot.store.search) on the sample team in a real SQLite file:
customers who share a name told apart by the open deal a mention also names, and Chinese
names typed through an input-method homophone slip."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from crmbot import sample
from crmbot.store import models, teams
from crmbot.store.search import clear_winner


@pytest.fixture
def db_url(sqlite_db_url) -> str:
    return sqlite_db_url


async def _winner(app, text: str, about_deal: bool = False) -> str | None:
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        winner = clear_winner(await app.bot.index.search(session, team.id, text, about_deal=about_deal))
        return winner.display if winner else None


async def test_a_shared_surname_is_settled_by_the_open_deal_named_beside_it(demo):
    assert await _winner(demo, "horvat") is None  # Luka or Maja: asked
    assert (await _winner(demo, "horvat erp")).startswith("Luka Horvat")  # "Horvat ERP" is Luka's open deal
    assert (await _winner(demo, "acme web")).startswith("Jan Novák")  # "Acme website", not Eva of Acme
    assert await _winner(demo, "horvat zagreb") is None  # a word no deal of theirs holds settles nothing


async def test_a_closed_deal_settles_nothing(demo):
    async with demo.db.sessions() as session, session.begin():
        deal = await session.scalar(select(models.Deal).where(models.Deal.title == "Horvat ERP"))
        await session.execute(update(models.Deal).where(models.Deal.id == deal.id).values(stage="won"))
    assert await _winner(demo, "horvat erp") is None


async def test_a_chinese_name_typed_with_a_homophone_is_found_by_its_sound(demo):
    assert (await _winner(demo, "刘阳")).startswith("刘洋")  # liú yáng, as 刘洋
    assert (await _winner(demo, "王方")).startswith("王芳")  # wáng fāng, as 王芳
    assert await _winner(demo, "陈总") is None  # a name nobody in the book sounds like


async def test_a_company_named_alone_in_a_deal_move_is_its_person_with_the_open_deal(demo):
    assert await _winner(demo, "acme") is None  # Jan Novák or Eva Kučerová: asked
    assert (await _winner(demo, "acme", about_deal=True)).startswith("Jan Novák")  # "Acme website" is his
    # a shared surname in a deal move ("Horvat → lost") is the one of them with an open deal:
    # Maja Horvat has none to move; on its own the surname still asks
    assert (await _winner(demo, "horvat", about_deal=True)).startswith("Luka Horvat")
    assert await _winner(demo, "novak", about_deal=True) is None  # Jan Novák and Jana Nováková both have one
    assert await _winner(demo, "张", about_deal=True) is None  # 张伟 or 张丽: a name, not a company


async def test_a_person_named_beside_their_company_beats_a_colleague_read_from_the_company_alone(demo):
    assert (await _winner(demo, "eve acme")).startswith("Eva Kučerová")  # "Evě z Acme"
    assert (await _winner(demo, "acme evy")).startswith("Eva Kučerová")  # "od Evy": a short name's case
    assert (await _winner(demo, "evu")).startswith("Eva Kučerová")


async def test_the_reading_of_more_of_the_mention_wins_over_one_of_fewer_words(demo):
    # "Jan Novák iz Acme": the Slovenian ending makes "acma", a close spelling of Acme; Jan Novak
    # of Novak Plumbing reads only "jan novak" of it
    assert (await _winner(demo, "jan novak acma")).startswith("Jan Novák (Acme")
    assert await _winner(demo, "jan novak") is None  # Jan Novák or Jan Novak: asked


async def test_a_chinese_surname_alone_asks_when_several_share_it_and_its_company_settles_it(demo):
    assert await _winner(demo, "张") is None  # 张伟 or 张丽 ("小张", "张总")
    assert (await _winner(demo, "刘")).startswith("刘洋")  # the only 刘 ("刘总")
    assert (await _winner(demo, "华信 张")).startswith("张伟")  # "华信的张总": 张 of 上海华信科技


async def _offered(app, text: str) -> list[str]:
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        return [m.display for m in await app.bot.index.search(session, team.id, text)]


async def test_a_name_that_begins_like_no_one_in_the_book_is_someone_new_not_a_did_you_mean(demo):
    # "Tina Golob", "Kevin Marsh", "Ioan": near Lina (李娜), Elvin, Siân only past their first
    # letter, which slips and case endings leave alone: someone new, nobody to offer
    assert await _offered(demo, "tina golob") == []
    assert await _offered(demo, "kevin marsh") == []
    assert await _offered(demo, "ioan") == []
    # a slip or a case ending keeps the first letter, and is still offered or taken
    assert "Sara Conner (Conner Bakery)" in await _offered(demo, "sare")
    assert "Elvin Əliyev (Əliyev Logistika)" in await _offered(demo, "elvn")
    # a Welsh mutation changes the first letter the way the language does: "i Gerys" is Cerys
    assert "Cerys Thomas (Thomas Design)" in await _offered(demo, "gerys")


async def test_a_surname_alone_one_letter_from_another_customers_surname_asks(demo):
    # John Smith or Jon Smyth, Sarah Connor or Sara Conner: a surname typed from memory
    assert await _winner(demo, "smith") is None
    assert await _winner(demo, "conner") is None
    assert {"John Smith (Smith & Co)", "Jon Smyth (Smyth Outdoor)"} <= set(await _offered(demo, "smith"))
    # the whole name, the company, or a first name known to be one person settle it
    assert (await _winner(demo, "john smith")).startswith("John Smith")
    assert (await _winner(demo, "smith co")).startswith("John Smith")
    assert (await _winner(demo, "sarah")).startswith("Sarah Connor")
    # and so does the open deal the mention names ("Connor pilot": the Cyberdyne pilot)
    assert (await _winner(demo, "connor pilot")).startswith("Sarah Connor")
    # a surname far from every other is as sure as before
    assert (await _winner(demo, "svoboda")).startswith("Tomáš Svoboda")
