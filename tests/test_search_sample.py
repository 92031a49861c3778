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


async def _winner(app, text: str) -> str | None:
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        winner = clear_winner(await app.bot.index.search(session, team.id, text))
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
