"""The customer look-up index kept in PostgreSQL, so that workers hold no customers of it.

A team's index lives in four tables (models `Search*`): its name tokens, numbered; who holds
each token (person's name, company, or the customer's own row); e-mail addresses and phone
keys; and how far it has read the team's customers (`search_states.rev`). A worker keeps only
the team's token vocabulary in the process, with the bigram index that finds the tokens close
to a typed word (`TokenIndex`, a few seconds to read at a million customers, tens of MB); the
customers holding those tokens, their sort keys and then the names of the best few are read
from the database for each search, and ranked by the same code as the in-process index
(`TeamIndex.rank` / `score` over a small `TeamIndex` of just those customers), so both answer
alike.

Following the customers: every customer write bumps the team's `customer_rev`. A search that
finds the index behind brings it up to date first, in a transaction of its own that holds the
team's `search_states` row (one worker at a time), with the rows changed since: the next search
of every worker sees every change at once. The first time it reads all of the team's customers
(a minute at a million, once per database, not per worker)."""

from __future__ import annotations

import asyncio
from array import array
from dataclasses import dataclass, field
from itertools import chain
from types import SimpleNamespace

import numpy as np
from sqlalchemy import ARRAY, Integer, Text, bindparam, cast, delete, select, text as sql, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crmbot.store import models, teams
from crmbot.store.search import (
    SYNC_BATCH, Match, TeamIndex, _display, _query_tokens, _warm, _WordFolder, base_probes, customer_tokens,
    similar_tokens, sounded,
)
from crmbot.store.token_index import TokenIndex
from crmbot.text import fold, has_cjk, phone_key

S, T, P, H, C = models.SearchState, models.SearchToken, models.SearchPosting, models.SearchHeld, models.SearchContact
NAME, COMPANY = 0, 1  # kinds of posting
EMAIL, PHONE = 0, 1  # kinds of contact
ID_BITS = (1 << 40) - 1  # a sort key's low bits are the customer's id


# -- keeping the tables up with the customers ---------------------------------------------------------


async def sync(engine: AsyncEngine, team_id: int) -> None:
    """Bring the team's index up to the committed customers, in a transaction of its own."""
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(pg_insert(S).values(team_id=team_id, rev=-1, live=0, tokens=0).on_conflict_do_nothing())
        state = (await session.execute(select(S.rev, S.live, S.tokens).where(S.team_id == team_id).with_for_update())).one()
        current = await teams.customer_rev(session, team_id)
        if state.rev >= current:
            return  # another worker brought it up while this one waited for the row
        if state.rev < 0:
            live, tokens = await _build(session, team_id)
        else:
            live, tokens = await _apply(session, team_id, state)
        await session.execute(update(S).where(S.team_id == team_id).values(rev=current, live=live, tokens=tokens))


def _columns():
    c = models.Customer
    return c.id, c.name, c.company, cast(c.emails, Text).label("emails"), cast(c.phones, Text).label("phones")


async def _build(session: AsyncSession, team_id: int) -> tuple[int, int]:
    """Index every live customer of the team: tokens worked out in bulk (`TeamIndex.load`, in a
    worker thread), then written with COPY."""
    c = models.Customer
    for table in (P, H, C, T):
        await session.execute(delete(table).where(table.team_id == team_id))
    rows = []
    query = select(*_columns()).where(c.team_id == team_id, c.deleted_at.is_(None)).order_by(c.id)
    async for batch in (await session.stream(query)).partitions(SYNC_BATCH):
        rows.extend(tuple(row) for row in batch)
    index = TeamIndex()
    await asyncio.to_thread(index.load, *(zip(*rows) if rows else ([],) * 5))
    del rows
    postings, held, contacts = await asyncio.to_thread(_laid_out, index, team_id)
    tokens = index.vocab.tokens
    await _copy(session, "search_tokens", ["team_id", "seq", "token"], [(team_id, seq, t) for seq, t in enumerate(tokens)])
    await _copy(session, "search_postings", ["team_id", "token", "kind", "holders"], postings)
    await _copy(session, "search_held", ["team_id", "customer_id", "names", "companies"], held)
    await _copy(session, "search_contacts", ["team_id", "kind", "key", "customer_id"], contacts)
    return index.live, len(tokens)


def _laid_out(index: TeamIndex, team_id: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """A bulk build as rows: postings (each token's holders' sort keys), each customer's tokens,
    and the contacts."""
    ids = np.frombuffer(index._ids, dtype=np.int64)
    order = np.frombuffer(index._order, dtype=np.int64).astype("<i8")
    postings, by_customer = [], []
    for kind, found in ((NAME, index.names), (COMPANY, index.companies)):
        ptr, holders = found.parts()
        keys = order[holders]
        for token in np.flatnonzero(np.diff(ptr)).tolist():
            postings.append((team_id, token, kind, keys[ptr[token]:ptr[token + 1]].tobytes()))
        # the same pairs by customer: each customer's token numbers
        tokens = np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr))
        by = np.argsort(holders, kind="stable")
        starts = np.searchsorted(holders[by], np.arange(len(ids) + 1))
        flat = tokens[by].astype("<i4")
        by_customer.append([flat[starts[p]:starts[p + 1]].tobytes() for p in range(len(ids))])
    held = list(zip([team_id] * len(ids), ids.tolist(), *by_customer))
    contacts = []
    for kind, found in ((EMAIL, index.emails), (PHONE, index.phones)):
        keys, at = found.pairs()
        contacts.extend(zip([team_id] * len(keys), [kind] * len(keys), keys, ids[at].tolist()))
    return postings, held, list(dict.fromkeys(contacts))


async def _driver(session: AsyncSession):
    return (await (await session.connection()).get_raw_connection()).driver_connection


async def _copy(session: AsyncSession, table: str, columns: list[str], rows: list[tuple]) -> None:
    driver = await _driver(session)
    if hasattr(driver, "copy_records_to_table"):  # asyncpg
        await driver.copy_records_to_table(table, records=rows, columns=columns)
        return
    async with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)


def _numbers(blob: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(blob, dtype=dtype)


async def _apply(session: AsyncSession, team_id: int, state) -> tuple[int, int]:
    """Re-index the customer rows changed since the index's revision (deleted ones leave it):
    each out of the postings it held, and into those it holds now."""
    c = models.Customer
    live, next_seq = state.live, state.tokens
    rows = (await session.execute(
        select(*_columns(), c.deleted_at.is_not(None).label("deleted"))
        .where(c.team_id == team_id, c.rev > state.rev).order_by(c.id)
    )).all()
    folder = _WordFolder()
    for at in range(0, len(rows), SYNC_BATCH):
        batch = rows[at:at + SYNC_BATCH]
        ids = [row.id for row in batch]
        gone = (await session.execute(
            delete(H).where(H.team_id == team_id, H.customer_id.in_(ids)).returning(H.names, H.companies))).all()
        live -= len(gone)
        await session.execute(delete(C).where(C.team_id == team_id, C.customer_id.in_(ids)))
        held = [(row.id, customer_tokens(row, folder)) for row in batch if not row.deleted]
        words = list(dict.fromkeys(chain.from_iterable(h.names + h.companies for _, h in held)))
        seqs: dict[str, int] = {}
        for start in range(0, len(words), SYNC_BATCH):
            found = await session.execute(select(T.token, T.seq).where(T.team_id == team_id, T.token.in_(words[start:start + SYNC_BATCH])))
            seqs.update(found.all())
        fresh = [w for w in words if w not in seqs]
        if fresh:
            seqs.update(zip(fresh, range(next_seq, next_seq + len(fresh))))
            await session.execute(pg_insert(T), [{"team_id": team_id, "seq": seqs[w], "token": w} for w in fresh])
            next_seq += len(fresh)
        # (token, kind) -> the sort keys joining it; every posting a changed customer left or joins
        joining: dict[tuple[int, int], list[int]] = {}
        for names, companies in gone:
            for kind, blob in ((NAME, names), (COMPANY, companies)):
                for token in _numbers(blob, "<i4").tolist():
                    joining.setdefault((token, kind), [])
        for customer_id, h in held:
            for kind, words_held in ((NAME, h.names), (COMPANY, h.companies)):
                for word in words_held:
                    joining.setdefault((seqs[word], kind), []).append(h.sort_key)
        await _update_postings(session, team_id, joining, np.array(ids, dtype=np.int64))
        if held:
            await session.execute(pg_insert(H), [
                {"team_id": team_id, "customer_id": customer_id,
                 "names": np.array([seqs[w] for w in h.names], dtype="<i4").tobytes(),
                 "companies": np.array([seqs[w] for w in h.companies], dtype="<i4").tobytes()} for customer_id, h in held])
        contacts = list(dict.fromkeys((kind, key, customer_id) for customer_id, h in held
                                      for kind, keys in ((EMAIL, h.emails), (PHONE, h.phones)) for key in keys))
        if contacts:
            await session.execute(pg_insert(C), [{"team_id": team_id, "kind": k, "key": key, "customer_id": customer_id}
                                                 for k, key, customer_id in contacts])
        live += len(held)
    return live, next_seq


async def _update_postings(session: AsyncSession, team_id: int, joining: dict[tuple[int, int], list[int]],
                           leaving: np.ndarray) -> None:
    """Each touched posting without the `leaving` customers, with the keys `joining` it."""
    tokens = sorted({token for token, _ in joining})
    current: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(tokens), SYNC_BATCH):
        found = await session.execute(select(P.token, P.kind, P.holders).where(
            P.team_id == team_id, P.token.in_(tokens[start:start + SYNC_BATCH])))
        current.update(((token, kind), holders) for token, kind, holders in found)
    kept, emptied = [], []
    for (token, kind), keys in joining.items():
        before = _numbers(current.get((token, kind), b""), "<i8")
        after = np.concatenate((before[~np.isin(before & ID_BITS, leaving)], np.array(keys, dtype="<i8")))
        if len(after):
            kept.append({"team_id": team_id, "token": token, "kind": kind, "holders": after.astype("<i8").tobytes()})
        elif (token, kind) in current:
            emptied.append((token, kind))
    for token, kind in emptied:
        await session.execute(delete(P).where(P.team_id == team_id, P.token == token, P.kind == kind))
    if kept:
        upsert = pg_insert(P)
        await session.execute(upsert.on_conflict_do_update(index_elements=[P.team_id, P.token, P.kind],
                                                           set_={"holders": upsert.excluded.holders}), kept)


async def forget_customer(session: AsyncSession, team_id: int, customer_id: int) -> None:
    """An erasure: the customer's tokens that no one else holds leave the database at once, and
    its contacts (its postings go with the next catch-up, which reads what it held)."""
    await session.execute(delete(C).where(C.team_id == team_id, C.customer_id == customer_id))
    row = (await session.execute(select(H.names, H.companies).where(H.team_id == team_id, H.customer_id == customer_id))).first()
    if row is None:
        return
    tokens = set(_numbers(row.names, "<i4").tolist()) | set(_numbers(row.companies, "<i4").tolist())
    if not tokens:
        return
    shared = set()
    for token, holders in await session.execute(select(P.token, P.holders).where(P.team_id == team_id, P.token.in_(tokens))):
        if np.any((_numbers(holders, "<i8") & ID_BITS) != customer_id):
            shared.add(token)
    if tokens - shared:
        await session.execute(delete(T).where(T.team_id == team_id, T.seq.in_(tokens - shared)))


# -- searching ---------------------------------------------------------------------------------------


@dataclass
class _Vocabulary:
    """A team's tokens as this worker last read them, with the index of close spellings."""

    index: TokenIndex = field(default_factory=TokenIndex)
    seqs: array = field(default_factory=lambda: array("q"))  # token id in `index` -> its number
    next_seq: int = 0
    similar: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def take(self, seqs: array, tokens: list[str]) -> None:
        """Tokens numbered after those already read (their numbers, ascending, and the tokens).
        A first read of many is built off the event loop into an index of its own, put in place
        in one step: searches of this team running meanwhile see the old index or the new one,
        never half of one. No row object per token: at a million customers a new worker reads
        400k of them, and its peak memory is what this holds at once."""
        if not tokens:
            return
        if not len(self.index):
            # with the first read, not on a search: what scoring sets up on first use (pinyin's
            # tables, half a second, on the first Chinese candidate), as the in-process build does
            await asyncio.to_thread(_warm)
        if not len(self.index) and len(tokens) > 10_000:
            built = TokenIndex(compact=True)
            await asyncio.to_thread(built.extend, tokens, True)  # the table holds each token once
            self.seqs = array("q", seqs)
            self.index = built
        else:
            ids = self.index.ids
            for seq, token in zip(seqs, tokens):
                if token not in ids:
                    self.index.add(token)
                    self.seqs.append(seq)
        self.next_seq = max(self.next_seq, seqs[-1] + 1)
        self.similar.clear()

    def similar_tokens(self, token: str) -> tuple[tuple[str, float], ...]:
        found = self.similar.get(token)
        if found is None:
            if len(self.similar) > 50_000:
                self.similar.clear()
            found = self.similar[token] = similar_tokens(self.index, token)
        return found


class SharedIndex:
    """Searches of the index kept in the database, for every team; one per app."""

    def __init__(self) -> None:
        self._vocabularies: dict[int, _Vocabulary] = {}

    async def search(self, session: AsyncSession, team_id: int, text: str, limit: int = 5) -> list[Match]:
        vocabulary = self._vocabularies.setdefault(team_id, _Vocabulary())
        found = await self._search(session, team_id, vocabulary, text, limit)
        if found or not has_cjk(text):
            return found
        latin = sounded(text)  # a homophone slip of the input method (see TeamIndex.search)
        return await self._search(session, team_id, vocabulary, latin, limit) if latin else []

    async def _bring_up(self, session: AsyncSession, team_id: int, vocabulary: _Vocabulary, state) -> None:
        """The index brought up to the committed customers when it is behind them, and the
        vocabulary read up to the index."""
        if state.rev is None or state.rev < (state.customer_rev or 0):
            await sync(session.bind, team_id)
        async with vocabulary.lock:
            # as one string and one array, not a row per token: a new worker reads a million
            # customers' tokens without holding them twice over as rows
            seqs, joined = (await (await session.connection()).execute(_TOKENS_SINCE, {"team": team_id, "since": vocabulary.next_seq})).one()
            tokens = joined.split("\n") if seqs else []
            seqs = array("q", seqs or [])
            # (neither the string nor a list of numbers is held while the index is built)
            del joined
            await vocabulary.take(seqs, tokens)

    async def _state(self, session: AsyncSession, team_id: int, vocabulary: _Vocabulary):
        """The index's state, brought up first if it is behind."""
        team = models.Team
        query = (select(team.customer_rev, S.rev, S.live, S.tokens).select_from(team)
                 .outerjoin(S, S.team_id == team.id).where(team.id == team_id))
        state = (await session.execute(query)).one()
        if _behind(state, vocabulary):
            await self._bring_up(session, team_id, vocabulary, state)
            state = (await session.execute(query)).one()
        return state

    async def _state_and_postings(self, session: AsyncSession, team_id: int, seqs: list[int]):
        """The index's state and the postings of the given tokens, in one statement (one
        snapshot, one round trip)."""
        # on the connection, past the ORM: a search is a few plain statements
        rows = (await (await session.connection()).execute(_STATE_AND_POSTINGS, {"team": team_id, "tokens": seqs})).all()
        state = next(SimpleNamespace(customer_rev=r[1], rev=r[2], live=r[3], tokens=r[4]) for r in rows if r[0] == 0)
        return state, [(r[1], r[2], r[5]) for r in rows if r[0] == 1]

    async def _exact(self, session: AsyncSession, team_id: int, text: str) -> list[Match] | None:
        """E-mail addresses and phone numbers, exactly (as `TeamIndex.exact`)."""
        lowered = text.strip().lower()
        if "@" in lowered:
            for word in lowered.split():
                if "@" in word:
                    return await self._holders_of(session, team_id, EMAIL, word.strip(".,;:<>()"), word)
        key = phone_key(text)
        if key and sum(ch.isdigit() for ch in text) >= 6:
            return await self._holders_of(session, team_id, PHONE, key, text.strip())
        return None

    async def _holders_of(self, session: AsyncSession, team_id: int, kind: int, key: str, span: str) -> list[Match]:
        c = models.Customer
        rows = await session.execute(
            select(c.id, c.name, c.company).join(C, (C.customer_id == c.id) & (C.team_id == c.team_id))
            .where(C.team_id == team_id, C.kind == kind, C.key == key, c.deleted_at.is_(None)).distinct().order_by(c.id))
        return [Match(row.id, _display(row.name, row.company), 100.0, span) for row in rows]

    async def _search(self, session: AsyncSession, team_id: int, vocabulary: _Vocabulary, text: str, limit: int) -> list[Match]:
        tokens = [q for q in _query_tokens(fold(text)) if len(q[0]) >= 2 or not q[0].isascii()]
        if _is_contact(text):
            await self._state(session, team_id, vocabulary)
            return (await self._exact(session, team_id, text))[:limit]
        if not tokens:
            return []
        for attempt in range(2):
            # the vocabulary as this look-up reads it: another search may fill it while this
            # one waits for the database below (a new worker's first messages, side by side),
            # and the look-up made on the empty one must then be made again, not taken as current
            read_to = vocabulary.next_seq
            similar = {q[0]: vocabulary.similar_tokens(q[0]) for q in tokens}
            wanted = set(chain.from_iterable((t for t, _ in found) for found in similar.values()))
            wanted.update(chain.from_iterable(base_probes(q) for q, _, start, end in tokens if start == 0 and end == len(q)))
            wanted.update(similar)
            ids = vocabulary.index.ids
            known = sorted((vocabulary.seqs[ids[t]], t) for t in wanted if t in ids)
            state, postings = await self._state_and_postings(session, team_id, [seq for seq, _ in known])
            if attempt or not _behind(state, vocabulary, read_to):
                # (still behind the second time: the message's own customers, not yet committed,
                # which the index reads once they are)
                break
            await self._bring_up(session, team_id, vocabulary, state)  # then again, on the index as it is now
        if not state.live:
            return []
        view = self._view(postings, state.live or 0, known)
        view._similar = similar
        ranked = view.rank(text)
        if isinstance(ranked, list):
            return ranked
        best = [view._ids[p] for p in ranked.best]
        # one statement text whatever the number of candidates (an array, not a parameter
        # each): the driver converts it once and the server plans it once
        rows = await (await session.connection()).execute(_NAMES, {"team": team_id, "ids": best})
        at = {customer_id: p for customer_id, p in zip(best, ranked.best)}
        for row in rows:
            view._names[at[row.id]], view._companies[at[row.id]] = row.name or "", row.company
        return view.score(ranked, limit)

    @staticmethod
    def _view(rows: list[tuple[int, int, bytes]], live: int, known: list[tuple[int, str]]) -> TeamIndex:
        """A `TeamIndex` of the customers holding the given tokens only (positions 0 .. n-1 in
        the order of their ids), enough to rank a search as the whole index would."""
        seqs = np.array([seq for seq, _ in known], dtype=np.int64)
        keys = [_numbers(holders, "<i8") for _, _, holders in rows]
        sizes = [len(k) for k in keys]
        key = np.concatenate(keys).astype(np.int64) if keys else np.zeros(0, dtype=np.int64)
        token = np.repeat(np.searchsorted(seqs, [t for t, _, _ in rows]), sizes).astype(np.int64)
        kind = np.repeat([k for _, k, _ in rows], sizes).astype(np.int64)
        ids, position = np.unique(key & ID_BITS, return_inverse=True)
        order = np.zeros(len(ids), dtype=np.int64)
        order[position] = key
        view = TeamIndex(vocab=SimpleNamespace(ids={t: i for i, (_, t) in enumerate(known)}))
        for which, postings in ((NAME, view.names), (COMPANY, view.companies)):
            mine = kind == which
            pairs = np.lexsort((position[mine], token[mine]))
            postings.load(token[mine][pairs], position[mine][pairs], len(known))
        view._ids, view._order = array("q", ids.tobytes()), array("q", order.tobytes())
        view._names, view._companies = [None] * len(ids), [None] * len(ids)
        view.live = live
        return view


def _behind(state, vocabulary: _Vocabulary, read_to: int | None = None) -> bool:
    """Whether the index is behind the customers, or this worker's vocabulary behind the index
    (`read_to`: the vocabulary as a look-up read it, when it may have grown since)."""
    seen = vocabulary.next_seq if read_to is None else read_to
    return state.rev is None or state.rev < (state.customer_rev or 0) or (state.tokens or 0) > seen


def _is_contact(text: str) -> bool:
    """Whether `TeamIndex.exact` reads the text as an e-mail address or phone number."""
    return "@" in text or (bool(phone_key(text)) and sum(ch.isdigit() for ch in text) >= 6)


_TOKENS_SINCE = sql(
    "SELECT array_agg(seq ORDER BY seq), string_agg(token, E'\\n' ORDER BY seq) FROM search_tokens"
    " WHERE team_id = :team AND seq >= :since")
_NAMES = sql("SELECT id, name, company FROM customers WHERE team_id = :team AND id = ANY(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(Integer)))
_STATE_AND_POSTINGS = sql(
    "SELECT 0, t.customer_rev, s.rev, s.live, s.tokens, NULL::bytea FROM teams t"
    " LEFT JOIN search_states s ON s.team_id = t.id WHERE t.id = :team"
    " UNION ALL SELECT 1, p.token, p.kind, NULL, NULL, p.holders FROM search_postings p"
    " WHERE p.team_id = :team AND p.token = ANY(:tokens)"
).bindparams(bindparam("tokens", type_=ARRAY(Integer)))
