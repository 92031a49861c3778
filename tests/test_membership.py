"""Who may use crmbot (crmbot.membership), on both engines: invites admit exactly one person,
even when two people send the same code at the same moment to two workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crmbot import membership
from crmbot.app import App, build
from crmbot.config import Settings
from crmbot.messages import ChatRef, Incoming, UserRef
from crmbot.store import models, teams
from tests.conftest import NOW
from tests.support.contention import both_blocked_then_released

ROUNDS = 4


@pytest.fixture
async def workers(db_url, clock) -> AsyncIterator[tuple[App, App]]:
    """Two independent App instances (own engine and pool) on one database: two processes."""
    first, second = (build(Settings(_env_file=None), db=db_url, clock=clock) for _ in range(2))
    async with first.db.sessions() as session, session.begin():
        await teams.create_team(session, "Race", NOW)
    yield first, second
    await first.close()
    await second.close()


def dm(user_id: str, text: str, *, adapter: str = "telegram", workspace: str | None = None, name: str = "") -> Incoming:
    return Incoming(chat=ChatRef(adapter, user_id), user=UserRef(adapter, user_id, name or f"Person {user_id}", workspace=workspace),
                    text=text)


async def invite(app: App, role: str = "rep", **options) -> str:
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, "Race")
        return (await teams.create_invite(session, team.id, role, NOW, **options)).code


async def join(app: App, incoming: Incoming, now=NOW) -> int | None:
    """One stranger's message in its own transaction, as Bot.handle runs it: the member id, or None."""
    async with app.db.sessions() as session, session.begin():
        member = await membership.join_with_invite(session, incoming, now, app.i18n)
        return member.id if member else None


async def count(app: App, model) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_an_invite_sent_by_two_people_at_once_admits_exactly_one(workers):
    one, two = workers
    for round_ in range(ROUNDS):
        code = await invite(one)
        joins = [join(one, dm(f"{round_}01", f"/start {code}")), join(two, dm(f"{round_}02", f"/start {code}"))]
        if round_ % 2:
            joins.reverse()  # both orders of arrival
        if one.db.is_postgres:  # both claims wait on the invite's row lock, then race for it
            lock = select(models.Invite).where(models.Invite.code == code).with_for_update()
            admitted = await both_blocked_then_released(one, lock, joins)
        else:  # SQLite has one writer at a time: the second claim waits on the file lock instead
            admitted = await asyncio.gather(*joins)
        assert sum(m is not None for m in admitted) == 1, admitted
    assert await count(one, models.Member) == ROUNDS
    assert await count(one, models.Identity) == ROUNDS
    async with one.db.sessions() as session:
        assert None not in set(await session.scalars(select(models.Invite.used_at)))


async def test_an_invite_is_spent_once_and_expires(workers):
    one, _ = workers
    code = await invite(one, valid_for=timedelta(days=1))
    assert await join(one, dm("1", f"/start@crmbot {code}")) is not None
    assert await join(one, dm("2", f"/start {code}")) is None  # spent
    late = await invite(one, valid_for=timedelta(days=1))
    assert await join(one, dm("3", f"/join {late}"), now=NOW + timedelta(days=1)) is None  # expired
    assert await join(one, dm("4", f"/join {late}")) is not None
    assert await count(one, models.Member) == 2


async def test_an_invite_for_a_known_member_binds_their_new_identity(workers):
    one, _ = workers
    async with one.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, "Race")
        jana = await teams.create_member(session, team.id, "Jana", NOW, role="manager")
        code = (await teams.create_invite(session, team.id, "manager", NOW, member_id=jana.id)).code
    assert await join(one, dm("77", f"/start {code}", adapter="slack", workspace="T1")) == jana.id
    async with one.db.sessions() as session:
        assert (await membership.member_for(session, UserRef("slack", "77", workspace="T1"))).id == jana.id
        assert await membership.member_for(session, UserRef("slack", "77", workspace="T2")) is None
    assert await count(one, models.Member) == 1


async def test_a_bound_workspace_admits_on_first_use_unless_invite_only(workers):
    one, _ = workers
    async with one.db.sessions() as session, session.begin():
        await teams.bind_workspace(session, await teams.team_by_name(session, "Race"), "T1", default_role="manager")
    async with one.db.sessions() as session, session.begin():
        assert await membership.open_team(session, "T9") is None
        assert await membership.workspace_join(session, dm("U1", "hi", adapter="slack", workspace="T9"), NOW, one.i18n) is None
        carol = await membership.workspace_join(session, dm("U1", "hi", adapter="slack", workspace="T1", name="Carol"), NOW, one.i18n)
        assert (carol.name, carol.role) == ("Carol", "manager")
        await teams.bind_workspace(session, await teams.team_by_name(session, "Race"), "T1", invite_only=True)
        assert await membership.open_team(session, "T1") is None
        assert await membership.workspace_join(session, dm("U2", "hi", adapter="slack", workspace="T1"), NOW, one.i18n) is None


@pytest.mark.parametrize(("message", "code"), [
    ("/start abc", "abc"), ("/START@crmbot  abc ", "abc"), ("/join abc", "abc"),
    ("/start", None), ("start abc", None), ("/startabc", None), ("/help abc", None),
])
def test_invite_code_is_read_from_start_or_join(message, code):
    assert membership.invite_code(message) == code
