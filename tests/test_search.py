"""The fuzzy customer resolver (crmbot.store.search) on a real SQLite file.

Customers are written the way the app writes them (a new team revision per transaction), some
through a second App with its own engine, as another process would.
"""

from __future__ import annotations

import json
import random
import sys
import unicodedata
from collections import namedtuple
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, strategies as st
from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process
from sqlalchemy import select

from crmbot.app import App, build
from crmbot.config import Settings
from bench.names import make_customers
from crmbot.store import changes, limits, models, snapshot, teams
from crmbot.store.audit import Actor
from crmbot.store.erasure import erase_customer
import crmbot.store.search as search_module
from crmbot.store.search import (
    ACCEPT, RIVAL_GAP, TOKEN_CUTOFF, TOKEN_CUTOFF_SHORT, TeamIndex, _WordFolder, _wratio_by_span, base_probes,
)
from crmbot.store.token_index import TokenIndex
from crmbot.text import fold

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


# -- the token index: candidates from shared bigrams, never a scan of the vocabulary ---------------


def _vocabulary(size: int, seed: int) -> list[str]:
    """Name-like words with the repeats and shared endings real surnames have."""
    pick = random.Random(seed)
    stems = ["nov", "dvor", "svob", "proch", "kuc", "mamed", "aliy", "jon", "evan", "smit", "zupan", "horv", "kovac"]
    endings = ["ak", "akova", "oda", "odova", "azka", "era", "erova", "ov", "ova", "es", "s", "h", "cic", "at", "ic", ""]
    words = {f"{pick.choice(stems)}{''.join(pick.choice('aeiouklmnrstv') for _ in range(pick.randrange(0, 4)))}{pick.choice(endings)}"
             for _ in range(size)}
    return sorted(w for w in words if w) + ["张", "张伟", "伟", "华信", "信科", "ab", "abc"]


def _typos(word: str, pick: random.Random) -> list[str]:
    """Edits at distance 1 and 2: deletion, insertion, substitution, transposition."""
    def edit(w: str) -> str:
        i = pick.randrange(len(w))
        kind = pick.randrange(4)
        if kind == 0 and len(w) > 1:
            return w[:i] + w[i + 1:]
        if kind == 1:
            return w[:i] + pick.choice("aeiouxz") + w[i:]
        if kind == 2:
            return w[:i] + pick.choice("aeiouxz") + w[i + 1:]
        return w[:i] + w[i + 1:i + 2] + w[i] + w[i + 2:] if i + 1 < len(w) else w
    once = edit(word)
    return [once, edit(once)]


def test_token_index_finds_exactly_what_a_full_scan_finds():
    vocabulary = _vocabulary(3000, 7)
    index = TokenIndex()
    for token in vocabulary:
        index.add(token)
    pick = random.Random(11)
    queries = [typo for word in pick.sample(vocabulary, 300) for typo in _typos(word, pick)]
    queries += ["张", "张伟", "华", "ab", "abd", "x", "qqqqqqqqqq", "novakovaaaa"]
    for query in queries:
        for cutoff in (TOKEN_CUTOFF, TOKEN_CUTOFF_SHORT):
            scanned = {t: s for t, s, _ in process.extract(query, vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)}
            assert dict(index.similar(query, cutoff)) == scanned, (query, cutoff)
            best = sorted(scanned.items(), key=lambda ts: (-ts[1], ts[0]))[:5]
            assert index.similar(query, cutoff, limit=5) == best, (query, cutoff)


def test_token_index_typos_transpositions_and_cjk():
    index = TokenIndex()
    for token in ("novak", "novakova", "dvorak", "svoboda", "mammadova", "张", "张伟", "华信"):
        index.add(token)
    close = lambda word, cutoff=TOKEN_CUTOFF: {t for t, _ in index.similar(word, cutoff)}  # noqa: E731
    assert "novak" in close("nowak")  # substitution
    assert "novak" in close("novka")  # transposition
    assert "novakova" in close("nvakva")  # two deletions
    assert "svoboda" in close("svbodaa")  # deletion and insertion
    assert "mammadova" in close("memmedova")  # two substitutions: a missing ə read as e
    assert close("张伟", TOKEN_CUTOFF_SHORT) == {"张伟"}
    assert close("张", TOKEN_CUTOFF_SHORT) == {"张"}
    assert close("qwerty") == set()
    assert index.add("novak") is index.add("".join(["nov", "ak"]))  # one string per token


def test_a_compact_bulk_vocabulary_answers_as_tokens_added_one_by_one():
    # the vocabulary a PostgreSQL worker keeps in one buffer with sorted hashes (and a bulk
    # build's postings laid out in two passes) finds what the plain one does, number for number
    vocabulary = _vocabulary(2500, 13) + ["ǆemal", "straße", "əliyeva", "上海华信科技", "a"]
    pick = random.Random(17)
    pick.shuffle(vocabulary)
    compact, plain = TokenIndex(compact=True), TokenIndex()
    compact.extend(vocabulary, distinct=True)
    for token in vocabulary:
        plain.add(token)
    assert len(compact) == len(plain) == len(vocabulary)
    assert list(compact.tokens) == vocabulary and dict(compact.ids.items()) == plain.ids
    for number, token in enumerate(vocabulary):
        assert compact.ids[token] == number and compact.tokens[number] == token and token in compact.ids
    for missing in ("novakx", "", "zz", "张三"):
        assert missing not in compact.ids and compact.ids.get(missing) is None
    queries = [typo for word in pick.sample(vocabulary, 150) for typo in _typos(word, pick)] + ["张伟", "ab"]
    for query in queries:
        for cutoff in (TOKEN_CUTOFF, TOKEN_CUTOFF_SHORT):
            assert compact.similar(query, cutoff) == plain.similar(query, cutoff), (query, cutoff)
            assert compact.similar(query, cutoff, limit=5) == plain.similar(query, cutoff, limit=5)
    # a token joining after the bulk build gets the next number and is found misspelt
    assert compact.ids[compact.add("wachocki")] == len(vocabulary) and compact.add("wachocki") == "wachocki"
    assert ("wachocki", fuzz.ratio("wachockki", "wachocki")) in compact.similar("wachockki", TOKEN_CUTOFF)
    assert compact.add(vocabulary[0]) == vocabulary[0] and len(compact) == len(vocabulary) + 1


def test_candidates_scored_by_span_in_one_call_score_as_one_call_each():
    spans = ["jan novak", "jan novak", "novak", "petr", "jan novak", "王芳"]
    names = ["jan novak", "jana novakova", "pavel novak", "petra", "honza", "王芳"]
    companies = ["acme s.r.o.", "", "novak & syn", "", "jan novak a.s.", "上海华信"]
    name_scores, company_scores = _wratio_by_span(spans, names, companies)
    for span, name, company, got, got_company in zip(spans, names, companies, name_scores, company_scores):
        assert got == fuzz.WRatio(span, name)
        expected = max(fuzz.WRatio(span, company, processor=default_process),
                       fuzz.WRatio(span, f"{name} {company}", processor=default_process)) if company else 0.0
        assert got_company == expected


def test_word_folding_is_fold():
    folder = _WordFolder()
    for text in ("Jan Novák", "  Ǆ  straße ", "a ¨", "a¨b", "ﬀ ½", "x\u00a0y", "İstanbul Əliyeva", "\u3000张\u3000伟",
                 "Horvat d.o.o.", "O'Neil & Co", ""):
        assert folder(text) == fold(text), text


async def test_a_new_word_from_another_worker_is_found_misspelt(app, other, team):
    # looked for before it exists: nothing close is held, and the look-up is remembered
    assert all("Wąchocki" not in m.display for m in await search(app, team, "wachockki"))
    await add(other, team, [("Zbigniew Wąchocki", None, None, None)])
    assert await top(app, team, "wachockki") == "Zbigniew Wąchocki"  # insertion
    assert await top(app, team, "zbigniew wahcocki") == "Zbigniew Wąchocki"  # transposition
    assert await top(app, team, "zbignew wachoki") == "Zbigniew Wąchocki"  # two deletions


async def test_a_word_no_customer_holds_any_more_finds_no_one(app, other, team):
    assert await top(app, team, "cyberdine") == "Sarah Connor (Cyberdyne)"
    async with other.db.sessions() as session, session.begin():
        rev = await teams.bump_customer_rev(session, team)
        sarah = await session.scalar(select(models.Customer).where(models.Customer.name == "Sarah Connor"))
        sarah.company, sarah.rev = "Skynet", rev
    assert all("Cyberdyne" not in m.display for m in await search(app, team, "cyberdine"))
    assert await top(app, team, "skynett") == "Sarah Connor (Skynet)"


# -- the bulk build, its snapshot, and a second worker that reads it ----------------------------


def _rows(book):
    Row = namedtuple("Row", "id name company emails phones deleted")
    return [Row(i + 1, c["name"], c["company"], json.dumps(c["emails"]), json.dumps(c["phones"]), False)
            for i, c in enumerate(book)]


def test_a_bulk_build_holds_what_customers_added_one_by_one_hold():
    rows = _rows(make_customers(3000, 5)) + _rows([
        {"name": "张伟", "company": "上海华信科技", "emails": ["A@b.cn", "c@d.cn"], "phones": ["+86 138 0000 0000"]},
        {"name": "- 张伟 Li", "company": "& Co", "emails": [], "phones": []},
        {"name": "Horvat d.o.o. O'Neil", "company": None, "emails": [], "phones": ["١٢٣٤٥٦٧٨٩"]},
        {"name": "Marek Marek", "company": "Marek s.r.o.", "emails": ["jan.novak@acme.cz"], "phones": ["+420 777 123 456"]},
    ])
    rows = [row._replace(id=10_000 + i) if i >= 3000 else row for i, row in enumerate(rows)]
    bulk = TeamIndex()
    bulk.load(*zip(*[(r.id, r.name, r.company, r.emails, r.phones) for r in rows]))
    one_by_one = TeamIndex()
    one_by_one.load([rows[0].id], [rows[0].name], [rows[0].company], [rows[0].emails], [rows[0].phones])
    one_by_one.apply(rows[1:])
    assert sorted(bulk.vocab.tokens) == sorted(one_by_one.vocab.tokens)
    for token, token_id in bulk.vocab.ids.items():
        for mine, theirs in ((bulk.names, one_by_one.names), (bulk.companies, one_by_one.companies)):
            held = theirs.holders(one_by_one.vocab.ids[token], None)
            assert sorted(mine.holders(token_id, None).tolist()) == sorted(held.tolist()), token
    pick = random.Random(3)
    for row in pick.sample(rows[:3000], 150) + rows[3000:]:
        for text in (row.name, *json.loads(row.emails), *json.loads(row.phones)):
            assert bulk.search(text) == one_by_one.search(text), text


def test_a_snapshot_reads_back_as_the_index_it_was():
    rows = _rows(make_customers(2000, 9))
    built = TeamIndex()
    built.load(*zip(*[(r.id, r.name, r.company, r.emails, r.phones) for r in rows]))
    restored = TeamIndex.from_parts(snapshot.decode(snapshot.encode(built.parts())))
    for row in random.Random(4).sample(rows, 200):
        for text in (row.name, row.name.lower()[:-1], *json.loads(row.emails), *json.loads(row.phones)):
            assert restored.search(text) == built.search(text), text
    assert snapshot.decode(b"crmbot-index-0\n" + b"\0" * 16) is None  # another format: built afresh


async def test_a_new_worker_reads_the_kept_index_and_the_changes_since(app, other, db_path, team):
    assert await top(app, team, "Tomas Svobda") == "Tomáš Svoboda (Svoboda Auto)"
    await app.bot.index.close()  # the first worker has written its build down
    async with app.db.sessions() as session:
        kept = await snapshot.read(session, team)
    assert kept is not None and kept[0] == await _rev(app, team)
    # changes after the snapshot: a new customer, a rename, a deletion
    await add(app, team, [("Řehoř Ždárský", None, "rehor@zdarsky.cz", None)])
    async with app.db.sessions() as session, session.begin():
        rev = await teams.bump_customer_rev(session, team)
        lucie = await session.scalar(select(models.Customer).where(models.Customer.name == "Lucie Černá"))
        lucie.name, lucie.rev = "Lucie Bílá", rev
        martin = await session.scalar(select(models.Customer).where(models.Customer.name == "Martin Procházka"))
        martin.deleted_at, martin.rev = NOW, rev
    fresh = build(Settings(), db=db_path, clock=lambda: NOW)  # a third worker, started now
    try:
        assert await top(fresh, team, "rehor zdarsky") == "Řehoř Ždárský"
        assert await top(fresh, team, "lucie bila") == "Lucie Bílá (Černá Design)"
        assert all("Procházka" not in m.display for m in await search(fresh, team, "martin prochazka"))
        assert [m.display for m in await search(fresh, team, "rehor@zdarsky.cz")] == ["Řehoř Ždárský"]
        for text in ("Petr Dvorak", "sara conner", "novak", "acme", "602555111", "eva kucrova"):
            assert await search(fresh, team, text) == await search(other, team, text), text
    finally:
        await fresh.close()


async def test_erasing_a_customer_drops_the_kept_index(app, team):
    await search(app, team, "novak")
    await app.bot.index.close()
    async with app.db.sessions() as session, session.begin():
        assert await snapshot.read(session, team) is not None
        customer = await session.scalar(select(models.Customer).where(models.Customer.name == "Eva Kučerová"))
        await erase_customer(session, Actor(team_id=team, member_id=None, platform="console", group_id="erase"), customer, NOW)
    async with app.db.sessions() as session:
        assert await snapshot.read(session, team) is None
    assert all("Kučerová" not in m.display for m in await search(app, team, "eva kucerova"))


async def _rev(app: App, team_id: int) -> int:
    async with app.db.sessions() as session:
        return await teams.customer_rev(session, team_id)


def test_combining_marks_live_in_the_first_two_planes():
    # crmbot.text folds with a character class made from planes 0 and 1 only
    assert not [code for code in range(0x20000, sys.maxunicode + 1) if unicodedata.combining(chr(code))]


def test_pinyin_typed_letters_and_case_endings_in_a_bulk_build_one_by_one_and_a_snapshot():
    """The name-reading features hold however the index was made: built in bulk, added to
    customer by customer after a build, or read back from a kept snapshot."""
    rows = _rows(make_customers(500, 11)) + _rows([
        {"name": "王芳", "company": None, "emails": [], "phones": []},
        {"name": "张丽", "company": "上海华信科技", "emails": [], "phones": []},
        {"name": "Rəşad Quliyev", "company": None, "emails": [], "phones": []},
        {"name": "Ivan Horvatič", "company": None, "emails": [], "phones": []},
    ])
    rows = [row._replace(id=10_000 + i) if i >= 500 else row for i, row in enumerate(rows)]
    bulk = TeamIndex()
    bulk.load(*zip(*[(r.id, r.name, r.company, r.emails, r.phones) for r in rows]))
    one_by_one = TeamIndex()
    one_by_one.load(*zip(*[(r.id, r.name, r.company, r.emails, r.phones) for r in rows[:500]]))
    one_by_one.apply(rows[500:])
    restored = TeamIndex.from_parts(snapshot.decode(snapshot.encode(bulk.parts())))
    wanted = {"wang fang": "王芳", "wangfang": "王芳", "zl": "张丽", "rashad quliyev": "Rəşad Quliyev",
              "horvaticem": "Ivan Horvatič"}
    for index in (bulk, one_by_one, restored):
        for text, name in wanted.items():
            best = index.search(text)[0]
            assert best.display.startswith(name) and best.score >= ACCEPT, (text, best)
    assert bulk.bases("horvaticem") == ("horvatic",) and bulk.bases("horvatic") == ()


def test_folding_many_at_once_is_folding_each():
    """fold_many folds ASCII texts one by one and the rest joined: the answers (and their order)
    must be fold's, whatever the mix."""
    from crmbot.text import fold_many

    texts = ["Jan NOVÁK", "  Ada   Lovelace ", "", "Rəşad Xəkezadə", "ＡＢＣ  s.r.o.", "张伟", "Łukasz\tBrzęczyszczykiewicz",
             "Smith & Sons", "ǅemal", "a\u0301b", "Straße"]
    for mixed in (texts, texts[::-1], [t for t in texts if t.isascii()], [t for t in texts if not t.isascii()]):
        assert fold_many(mixed) == [fold(t) for t in mixed]


WORDS = st.text(alphabet="abeiouyklmnv", min_size=1, max_size=9)


@given(WORDS, st.sets(WORDS, max_size=40))
def test_the_base_forms_of_a_word_are_known_from_its_probes_alone(token, held):
    """The index in the database reads only `base_probes` of a typed word: the words whose
    holders decide its base forms (an oracle asked about every word it wants)."""
    asked: list[str] = []
    everything, probes_only = TeamIndex(), TeamIndex()
    everything._holds = lambda word: asked.append(word) or word in held
    probes = set(base_probes(token))
    probes_only._holds = lambda word: word in held and word in probes
    assert probes_only.bases(token) == everything.bases(token)
    assert set(asked) <= probes


# -- the first build on SQLite: columns read a chunk at a time, and what it is made of ---------


async def _book_rows(app: App, team_id: int) -> list:
    """The team's live customers read row by row through SQLAlchemy, as a reference."""
    c = models.Customer
    async with app.db.sessions() as session:
        result = await session.execute(
            select(c.id, c.name, c.company, c.emails, c.phones).where(c.team_id == team_id, c.deleted_at.is_(None)).order_by(c.id))
        return [(r.id, r.name, r.company, json.dumps(r.emails), json.dumps(r.phones)) for r in result]


def _index_of_rows(rows) -> TeamIndex:
    index = TeamIndex()
    index.load(*zip(*rows))
    return index


async def _first_build_answers_as_rows_read_one_by_one(app: App, team_id: int, texts: list[str]) -> None:
    reference = _index_of_rows(await _book_rows(app, team_id))
    async with app.db.sessions() as session:
        built = await app.bot.index.for_team(session, team_id)
    assert list(built.vocab.tokens) == list(reference.vocab.tokens)  # the same tokens, numbered alike
    assert built.live == reference.live
    for text in texts:
        assert built.search(text) == reference.search(text), text


async def test_the_first_build_read_a_chunk_at_a_time_answers_as_rows_read_one_by_one(app, monkeypatch):
    """The SQLite build reads each column of a chunk of rows as one string; what it builds answers
    every search as an index of the same rows read one by one: deleted customers left out, no
    company, no address, several addresses, one address shared by two, Chinese and Azerbaijani names."""
    monkeypatch.setattr(search_module, "SQLITE_CHUNK_ROWS", 97)  # several chunks, the last one short
    team_id = await make_team(app, "Chunks")
    book = make_customers(600, 21)
    await add(app, team_id, [(c["name"], c["company"], (c["emails"] or [None])[0], (c["phones"] or [None])[0]) for c in book])
    await add(app, team_id, [*PEOPLE, ("王芳", None, None, None), ("张丽", "上海华信科技", "zl@huaxin.cn", None),
                             ("Rəşad Quliyev", "", None, "+994 50 123 45 67"), ("Ivan Horvatič", None, "jan.novak@acme.cz", None)])
    async with app.db.sessions() as session, session.begin():
        rev = await teams.bump_customer_rev(session, team_id)
        several = await session.scalar(select(models.Customer).where(models.Customer.name == "Eva Kučerová"))
        several.emails, several.phones, several.rev = ["eva@kvitek.cz", "EVA@home.cz"], ["+420 777 123 457", "602 000 111"], rev
        gone = await session.scalar(select(models.Customer).where(models.Customer.name == "Sara Conner"))
        gone.deleted_at, gone.rev = NOW, rev
    picked = random.Random(8).sample(book, 60)
    texts = [c["name"] for c in picked] + [c["name"].lower()[1:] for c in picked] + [
        "jan.novak@acme.cz", "eva@home.cz", "602000111", "+420 777 123 457", "sara conner", "wang fang", "zl",
        "rashad quliyev", "horvaticem", "上海华信", "novak", "acme"]
    await _first_build_answers_as_rows_read_one_by_one(app, team_id, texts)
    assert [m.display for m in await search(app, team_id, "jan.novak@acme.cz")] == ["Jan Novák (Acme s.r.o.)", "Ivan Horvatič"]
    assert [m.display for m in await search(app, team_id, "eva@home.cz")] == ["Eva Kučerová (Kvítek Zahrady)"]
    assert all("Sara Conner" not in m.display for m in await search(app, team_id, "sara conner"))


async def test_a_name_holding_a_nul_is_built_from_the_rows_one_by_one(app):
    """A NUL in a name would cut its column wrongly: that book is read row by row instead."""
    team_id = await make_team(app, "Nul")
    await add(app, team_id, [*PEOPLE, ("Zdeněk\x00Veselý", None, "zdenek@vesely.cz", None)])
    await _first_build_answers_as_rows_read_one_by_one(app, team_id, ["Petr Dvorak", "zdenek@vesely.cz", "sara conner"])
    assert [m.display for m in await search(app, team_id, "zdenek@vesely.cz")] == ["Zdeněk\x00Veselý"]


def test_pinyin_read_segment_by_segment_is_lazy_pinyin():
    """A name's pinyin is read segment by segment, each segment once: the syllables must be
    `lazy_pinyin`'s for the whole run, for names, phrases whose reading differs from their
    characters' (重庆, 银行), and runs mixing kana."""
    from pypinyin import lazy_pinyin

    from crmbot.store.search import _pinyin_of
    from crmbot.text import cjk_runs

    runs = {run for c in make_customers(3000, 4) for text in (c["name"], c["company"] or "") for run in cjk_runs(fold(text))}
    runs |= {"重庆", "长城银行", "银行行长", "朝阳", "单于", "曾国藩", "ひらがな漢字", "東京タワー", "张ー"}
    assert len(runs) > 300
    for run in sorted(runs):
        syllables = [fold(s) for s in lazy_pinyin(run)]
        assert _pinyin_of(run) == (*syllables, "".join(syllables), "".join(s[0] for s in syllables)), run


async def _writing(session, team_id: int) -> models.Team:
    """What a message does before it searches: a write first (its rate-limit upsert), then the
    team's row read with its sender, whose revision is then known to the transaction."""
    await limits.hit(session, "test:writer", NOW)
    team = await session.get(models.Team, team_id)
    teams.known_customer_rev(session, team)
    return team


async def test_a_revision_known_to_a_transaction_follows_its_own_customer_writes(app, team):
    assert not [m for m in await search(app, team, "Zdeněk Kovář") if m.display.startswith("Zdeněk")]
    actor = Actor(team_id=team, member_id=None, platform="console", group_id="known-rev")
    async with app.db.sessions() as session, session.begin():
        await _writing(session, team)
        await changes.create(session, actor, NOW, models.Customer(
            team_id=team, name="Zdeněk Kovář", company=None, emails=[], phones=[], created_at=NOW, updated_at=NOW))
        # the same transaction finds who it just wrote: the bump made it read the revision again
        found = await app.bot.index.search(session, team, "Zdeněk Kovář")
        assert found and found[0].display == "Zdeněk Kovář"


async def test_a_customer_rolled_back_in_a_savepoint_leaves_the_next_one_findable(app, team):
    """An upload's trial import runs in a savepoint that is rolled back, and the transaction goes
    on to search and to write the customers for real: the index must not take the rolled-back
    revision as read, or the real customers, written at that same revision, are never read in."""
    actor = Actor(team_id=team, member_id=None, platform="console", group_id="savepoint-rev")

    def customer():
        return models.Customer(team_id=team, name="Zdeněk Kovář", company=None, emails=[], phones=[],
                               created_at=NOW, updated_at=NOW)

    async with app.db.sessions() as session, session.begin():
        await _writing(session, team)
        trial = await session.begin_nested()
        await changes.create(session, actor, NOW, customer())
        await trial.rollback()
        assert not [m for m in await app.bot.index.search(session, team, "Zdeněk Kovář") if m.display.startswith("Zdeněk")]
        await changes.create(session, actor, NOW, customer())
        found = await app.bot.index.search(session, team, "Zdeněk Kovář")
        assert found and found[0].display == "Zdeněk Kovář"


async def test_a_revision_known_to_one_transaction_is_read_again_in_the_next(app, other, team):
    async with app.db.sessions() as session:
        async with session.begin():
            await _writing(session, team)
            assert await teams.customer_rev(session, team) == await _rev(app, team)
            assert await app.bot.index.search(session, team, "novak")  # the index, at that revision
        await add(other, team, [("Zdeněk Kovář", None, None, None)])  # another process, in between
        async with session.begin():
            found = await app.bot.index.search(session, team, "Zdeněk Kovář")
            assert found and found[0].display == "Zdeněk Kovář"


def test_which_positions_hold_a_token_is_their_holders_looked_up():
    """`Postings.held_by` (bisection in the bulk holders, then the changes since) answers what
    `np.isin` over `holders` answers: after a build, and with customers changed, erased and
    added since (stale bulk positions, holders kept apart)."""
    rows = _rows(make_customers(1500, 7))
    index = TeamIndex()
    index.load(*zip(*[(r.id, r.name, r.company, r.emails, r.phones) for r in rows]))
    rng = random.Random(3)
    changed = [rows[i]._replace(name=rows[rng.randrange(1500)].name, company=rows[rng.randrange(1500)].company)
               for i in rng.sample(range(1500), 200)]
    erased = [rows[i]._replace(deleted=True) for i in rng.sample(range(1500), 100)]
    added = [row._replace(id=5000 + i) for i, row in enumerate(rng.sample(rows, 200))]
    index.apply(changed + erased + added)
    assert index._stale is not None and index._stale.any()
    for token in rng.sample(list(index.vocab.ids), 400):
        token_id = index.vocab.ids[token]
        positions = np.array(sorted(rng.sample(range(len(index._names)), 60)), dtype=np.int64)
        for postings in (index.names, index.companies):
            holders = postings.holders(token_id, index._stale)
            if len(holders):  # some of them among the positions asked about, too
                positions = np.union1d(positions, rng.sample(list(holders), min(5, len(holders))))
            assert (postings.held_by(token_id, positions, index._stale) == np.isin(positions, holders)).all(), token
