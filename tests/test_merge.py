"""Merging two records of one customer, by chat: a question with buttons first, then every row
either held moves to the one kept, the contact details are folded in, the index follows, and one
undo puts both customers and every moved row back exactly. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crmbot import sample
from crmbot.store import audit, changes, merges, models, teams
from crmbot.store.audit import Actor
from tests.conftest import NOW

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

# every table that holds rows of a customer, with what tells the rows apart in a snapshot
ROW_TABLES = (models.Interaction, models.Deal, models.Complaint, models.FollowUp, models.CustomerTag)


async def team_and_members(app):
    async with app.db.sessions() as session:
        team = await teams.team_by_name(session, sample.TEAM)
        members = {m.name: m for m in await teams.members_of(session, team.id)}
        return team, members


async def add_karels(app, owner_a: str = "Alice", owner_b: str | None = "Alice") -> tuple[int, int]:
    """Two records of one baker, each holding rows of every kind (a deleted call too)."""
    team, members = await team_and_members(app)
    async with app.db.sessions() as session, session.begin():
        rev = await teams.bump_customer_rev(session, team.id)
        short = models.Customer(team_id=team.id, name="Karel", company="Pekárna", emails=[], phones=["+420777000111"],
                                website="pekarna.cz", owner_id=members[owner_a].id, status="prospect", notes="prefers mornings",
                                created_at=NOW - timedelta(days=5), updated_at=NOW - timedelta(days=5), rev=rev)
        full = models.Customer(team_id=team.id, name="Karel Malý", company="Pekárna Malý", emails=["karel@maly.cz"],
                               phones=["00420 777 000 111", "+420 602 000 222"], address="Dlouhá 1, Praha", website="maly.cz",
                               owner_id=members[owner_b].id if owner_b else None, status="lead",
                               created_at=NOW - timedelta(days=9), updated_at=NOW - timedelta(days=9), rev=rev)
        session.add_all([short, full])
        await session.flush()
        for customer, word in ((short, "rolls"), (full, "bread")):
            session.add(models.Interaction(team_id=team.id, customer_id=customer.id, member_id=members["Alice"].id, kind="call",
                                           summary=f"wants {word}", happened_at=NOW - timedelta(days=1), created_at=NOW))
            session.add(models.Interaction(team_id=team.id, customer_id=customer.id, member_id=members["Alice"].id, kind="note",
                                           summary=f"old {word} note", happened_at=NOW - timedelta(days=2), created_at=NOW,
                                           deleted_at=NOW - timedelta(hours=1)))
            deal = models.Deal(team_id=team.id, customer_id=customer.id, owner_id=members["Alice"].id, title=f"{word} supply",
                               amount_minor=50_000, currency="CZK", stage="proposal", created_at=NOW - timedelta(days=3),
                               updated_at=NOW - timedelta(days=3))
            session.add(deal)
            await session.flush()
            session.add(models.DealStageChange(team_id=team.id, deal_id=deal.id, member_id=members["Alice"].id,
                                               from_stage=None, to_stage="proposal", changed_at=NOW - timedelta(days=3)))
            session.add(models.Complaint(team_id=team.id, customer_id=customer.id, member_id=members["Alice"].id,
                                         text=f"stale {word}", status="open", created_at=NOW - timedelta(days=1)))
            session.add(models.FollowUp(team_id=team.id, customer_id=customer.id, member_id=members["Alice"].id,
                                        due_at=NOW + timedelta(days=1), note=f"call about {word}", state="pending", created_at=NOW))
        return short.id, full.id


async def everything(app) -> dict:
    """Every row of the tables a merge touches, as snapshots keyed by (table, id)."""
    out = {}
    async with app.db.sessions() as session:
        for model in (models.Customer, models.DealStageChange, *ROW_TABLES):
            for row in await session.scalars(select(model).order_by(model.id)):
                data = audit.snapshot(row)
                data.pop("rev", None)  # the index's counter moves with every change, undo too
                out[(model.__tablename__, row.id)] = data
    return out


async def owned_by(app, customer_id: int) -> dict[str, int]:
    async with app.db.sessions() as session:
        return {m.__tablename__: len(list(await session.scalars(select(m).where(m.customer_id == customer_id))))
                for m in ROW_TABLES}


async def customer(app, customer_id: int) -> models.Customer:
    async with app.db.sessions() as session:
        return await session.get(models.Customer, customer_id)


async def search(app, text: str) -> list[int]:
    team, _ = await team_and_members(app)
    async with app.db.sessions() as session:
        return [m.customer_id for m in await app.bot.index.search(session, team.id, text, 5)]


@pytest.mark.both_engines
async def test_merge_asks_first_then_moves_every_row_and_one_undo_restores_both_exactly(alice, demo):
    short, full = await add_karels(demo)
    assert set(await search(demo, "karel")) >= {short, full}
    before = await everything(demo)

    [asked] = await alice.send("merge karel and karel maly")
    assert asked.kind == "merge_confirm" and "Karel (Pekárna)" in asked.text and "Karel Malý (Pekárna Malý)" in asked.text
    assert "1 interaction, 1 deal, 1 complaint, 1 follow-up" in asked.text  # the live rows each holds
    labels = [b.label for b in asked.buttons]
    assert labels[-1] == "Cancel" and {"Keep Karel (Pekárna)", "Keep Karel Malý (Pekárna Malý)"} <= set(labels)
    assert await everything(demo) == before  # a question changes nothing

    keep = next(b for b in asked.buttons if b.label == "Keep Karel (Pekárna)")
    merged, card = await alice.press(keep)
    assert merged.kind == "merged" and "Merged **Karel Malý (Pekárna Malý)** into **Karel (Pekárna)**" in merged.text
    assert "Moved over: 1 interaction, 1 deal, 1 complaint, 1 follow-up." in merged.text
    assert card.kind == "card" and "Karel Malý (Pekárna Malý)" in card.text

    assert await owned_by(demo, full) == {t.__tablename__: 0 for t in ROW_TABLES}
    assert await owned_by(demo, short) == {"interactions": 4, "deals": 2, "complaints": 2, "followups": 2,
                                           "customer_tags": 0}  # the deleted note moved too
    kept, gone = await customer(demo, short), await customer(demo, full)
    assert gone.deleted_at is not None and kept.deleted_at is None
    # the richer details: the fuller name and company, the address it lacked, every e-mail and
    # every number once (00420 777 000 111 is +420777000111); the differing website in the notes
    assert (kept.name, kept.company, kept.address) == ("Karel Malý", "Pekárna Malý", "Dlouhá 1, Praha")
    assert kept.emails == ["karel@maly.cz"] and kept.phones == ["+420777000111", "+420 602 000 222"]
    assert kept.website == "pekarna.cz" and kept.status == "prospect"
    assert kept.notes.startswith("prefers mornings\n") and "Merged with Karel Malý (Pekárna Malý)" in kept.notes
    assert "Website: maly.cz" in kept.notes
    assert kept.created_at == NOW - timedelta(days=9)  # as old as the older record
    # the index follows: one Karel left, found by the other record's number too
    found = await search(demo, "karel")
    assert short in found and full not in found
    assert await search(demo, "+420 602 000 222") == [short]

    [undone] = await alice.send("undo")
    assert undone.kind == "undone" and "customers merged" in undone.text
    assert "Karel (Pekárna) · Karel Malý (Pekárna Malý)" in undone.text  # both, as they were named before
    assert await everything(demo) == before
    assert set(await search(demo, "karel")) >= {short, full}
    assert await search(demo, "+420 602 000 222") == [full]


async def test_a_rep_merges_only_customers_they_may_edit(bob, demo):
    short, full = await add_karels(demo, owner_a="Bob", owner_b="Alice")
    before = await everything(demo)
    [refused] = await bob.send("merge karel and karel maly")
    assert refused.kind == "merge_not_yours" and "Alice" in refused.text and not refused.buttons
    assert await everything(demo) == before

    team, members = await team_and_members(demo)
    async with demo.db.sessions() as session, session.begin():  # nobody's now: a rep may take it over
        row = await session.get(models.Customer, full)
        await changes.update(session, Actor(team.id, None, "cli", "test"), NOW, row, owner_id=None)
    [asked] = await bob.send("merge karel and karel maly")
    assert asked.kind == "merge_confirm"
    keep = next(b for b in asked.buttons if b.label.startswith("Keep Karel Malý"))
    merged, _ = await bob.press(keep)
    assert merged.kind == "merged"
    assert (await customer(demo, short)).deleted_at is not None
    assert (await customer(demo, full)).owner_id == members["Bob"].id  # the kept one had no owner: it takes Bob's


async def test_a_merge_that_names_one_customer_or_nobody_is_answered_not_guessed(alice, demo):
    [same] = await alice.send("merge petr dvorak and petr dvořák")
    assert same.kind == "merge_same" and "Petr Dvořák" in same.text
    [one] = await alice.send("merge petr dvorak")
    assert one.kind == "merge_needs_two"
    [nobody] = await alice.send("merge petr dvorak and zygmunt qwerty")
    assert nobody.kind == "customer_unknown" and not nobody.buttons  # no "create them" for a merge
    [which] = await alice.send("merge novak and petr dvorak")  # several Nováks: asked, the answer kept for the second
    assert which.kind == "customer_which"
    choice = next(b for b in which.buttons if b.label.startswith("Jan Novák (Acme"))
    [asked] = await alice.press(choice)
    assert asked.kind == "merge_confirm" and "Jan Novák (Acme s.r.o.)" in asked.text and "Petr Dvořák" in asked.text


async def test_undo_of_a_merge_is_refused_once_a_moved_row_changed_since(alice, demo):
    short, full = await add_karels(demo)
    [asked] = await alice.send("merge karel and karel maly")
    await alice.press(next(b for b in asked.buttons if b.label == "Keep Karel (Pekárna)"))
    [given] = await alice.send("/assign karel maly to Bob")  # the merged customer changes again
    assert given.kind == "reassigned", given.text
    [history] = await alice.send("what did I change")
    assert history.kind == "history" and "2. " in history.text and "customers merged" in history.text.split("2. ", 1)[1]
    [refused] = await alice.press(history.buttons[1])  # undo the merge, the second-newest change
    assert refused.kind == "undo_blocked" and "customer changed" in refused.text and "Undo that one first" in refused.text
    assert (await customer(demo, full)).deleted_at is not None and (await customer(demo, short)).owner_id is not None


def test_every_table_holding_customer_rows_is_moved_by_a_merge():
    """A table with a foreign key to customers is a customer's rows: a merge must move them
    (a new one, tags for instance, is one line in merges.OWNED)."""
    held = {table.name for table in models.Base.metadata.sorted_tables
            if any(fk.column.table.name == "customers" for fk in table.foreign_keys)}
    assert held == {owned.model.__tablename__ for owned in merges.OWNED}


@pytest.mark.both_engines
async def test_a_repeated_row_is_dropped_not_doubled_and_undo_brings_it_back(demo):
    """`Owned.same_when`: a row the survivor holds already (as a tag would be) is deleted, not
    moved; undo restores it."""
    short, full = await add_karels(demo)
    team, members = await team_and_members(demo)
    repeats = (merges.Owned(models.Interaction, same_when=("kind", "summary")), *merges.OWNED[1:])
    async with demo.db.sessions() as session, session.begin():
        session.add(models.Interaction(team_id=team.id, customer_id=full, member_id=members["Alice"].id, kind="call",
                                       summary="wants rolls", happened_at=NOW, created_at=NOW))  # short holds this call already
    before = await everything(demo)
    actor = Actor(team.id, members["Alice"].id, "console", "merge-with-repeats")
    async with demo.db.sessions() as session, session.begin():
        pair = await merges.lock_pair(session, team.id, short, full)
        plan = merges.plan(pair[short], pair[full])
        moved = await merges.merge(session, actor, NOW, pair[short], pair[full], plan.values, owned=repeats)
    assert moved["interactions"] == 1  # "wants bread" moved; the repeated "wants rolls" did not
    async with demo.db.sessions() as session:
        calls = list(await session.scalars(select(models.Interaction).where(
            models.Interaction.customer_id == short, models.Interaction.summary == "wants rolls")))
    assert len(calls) == 1 and calls[0].deleted_at is None
    async with demo.db.sessions() as session, session.begin():
        entries = await audit.group(session, team.id, actor.group_id)
        await audit.undo_group(session, Actor(team.id, members["Alice"].id, "console", "undo"), NOW, entries)
    assert await everything(demo) == before


async def test_tags_merge_once_each_and_a_tag_taken_off_the_kept_record_comes_back(demo):
    """Tags are unique per customer (soft-deleted ones too): the kept record ends with each tag
    either record carried, once, and undo puts every tag row back as it was."""
    short, full = await add_karels(demo)
    team, members = await team_and_members(demo)
    async with demo.db.sessions() as session, session.begin():
        tags = {}
        for word in ("vip", "hot", "new", "old"):
            tags[word] = models.Tag(team_id=team.id, name=word, key=word, created_at=NOW)
            session.add(tags[word])
        await session.flush()
        gone = NOW - timedelta(hours=1)
        for customer, word, deleted in ((short, "vip", None), (short, "hot", gone), (full, "vip", None),
                                        (full, "hot", None), (full, "new", None), (full, "old", gone)):
            session.add(models.CustomerTag(team_id=team.id, customer_id=customer, tag_id=tags[word].id, created_at=NOW,
                                           deleted_at=deleted))
    before = await everything(demo)
    actor = Actor(team.id, members["Alice"].id, "console", "merge-tags")
    async with demo.db.sessions() as session, session.begin():
        pair = await merges.lock_pair(session, team.id, short, full)
        moved = await merges.merge(session, actor, NOW, pair[short], pair[full], merges.plan(pair[short], pair[full]).values)
    assert moved["customer_tags"] == 1  # "new"; "old" moves too, still taken off
    async with demo.db.sessions() as session:
        rows = list(await session.scalars(select(models.CustomerTag).where(models.CustomerTag.customer_id == short)))
        names = {t.id: t.name for t in await session.scalars(select(models.Tag))}
    live = sorted(names[r.tag_id] for r in rows if r.deleted_at is None)
    assert live == ["hot", "new", "vip"]  # "hot" was taken off the kept record but the other carried it
    assert sorted(names[r.tag_id] for r in rows) == ["hot", "new", "old", "vip"]
    async with demo.db.sessions() as session, session.begin():
        entries = await audit.group(session, team.id, actor.group_id)
        await audit.undo_group(session, Actor(team.id, members["Alice"].id, "console", "undo"), NOW, entries)
    assert await everything(demo) == before


@pytest.mark.both_engines
async def test_a_row_deleted_outright_comes_back_with_its_id_on_undo(demo):
    team, members = await team_and_members(demo)
    actor = Actor(team.id, members["Alice"].id, "console", "delete-a-stage-change")
    async with demo.db.sessions() as session, session.begin():
        row = await session.scalar(select(models.DealStageChange).order_by(models.DealStageChange.id).limit(1))
        kept = audit.snapshot(row)
        await changes.delete(session, actor, NOW, row)
    async with demo.db.sessions() as session, session.begin():
        assert await session.get(models.DealStageChange, kept["id"]) is None
        await audit.undo_group(session, Actor(team.id, members["Alice"].id, "console", "undo"), NOW,
                               await audit.group(session, team.id, actor.group_id))
    async with demo.db.sessions() as session:
        assert audit.snapshot(await session.get(models.DealStageChange, kept["id"])) == kept


@pytest.mark.parametrize("code, text, names", [
    ("en", "merge jana novakova with petra dvorakova", ("Jana Nováková (Beta Logistics)", "Petra Dvořáková (Kvetiny Petra)")),
    ("cs", "slouč Tomáše Svobodu a Martina Procházku", ("Tomáš Svoboda (Svoboda Auto)", "Martin Procházka (Procházka & syn)")),
    ("sl", "združi Luka Horvat in Maja Horvat", ("Luka Horvat (Horvat d.o.o.)", "Maja Horvat (Zeleni vrt)")),
    ("zh", "合并张伟和张丽", ("张伟 (上海华信科技)", "张丽 (杭州绿茶)")),
    ("cy", "cyfuno Rhys Evans a Gareth Davies", ("Rhys Evans (Evans Hire)", "Gareth Davies (Davies Motors)")),
    ("az", "Aysel Məmmədova və Günel Məmmədli birləşdir", ("Aysel Məmmədova (Bakı Tekstil)", "Günel Məmmədli (Gənclik Mebel)")),
])
def test_merge_is_understood_in_every_language(parser, index, code, text, names):
    from tests.parsing import resolve

    intent = parser.parse(text, code, NOW, "Europe/Prague")
    assert intent.name == "merge_customers" and not intent.alternatives, (intent.name, intent.alternatives)
    assert tuple(resolve(index, m) for m in intent.slots["mentions"]) == names, intent.slots["mentions"]
