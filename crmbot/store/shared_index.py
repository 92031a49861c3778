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
import io
import struct
from array import array
from dataclasses import dataclass, field
from itertools import chain
from types import SimpleNamespace

import numpy as np
from sqlalchemy import Text, cast, delete, select, text as sql, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crmbot.store import models, teams
from crmbot.store.search import (
    SYNC_BATCH, Match, TeamIndex, _display, _query_tokens, _WordFolder, base_probes, customer_tokens, similar_tokens,
    sounded,
)
from crmbot.store.token_index import TokenIndex
from crmbot.text import fold, has_cjk, phone_key

S, T, P, C = models.SearchState, models.SearchToken, models.SearchPosting, models.SearchContact
NAME, COMPANY, LIVE = 0, 1, 2  # kinds of posting; a LIVE row (token -1) per live customer
EMAIL, PHONE = 0, 1  # kinds of contact
COPY_ROWS = 200_000  # rows per chunk of a first build's COPY


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
    await session.execute(delete(P).where(P.team_id == team_id))
    await session.execute(delete(C).where(C.team_id == team_id))
    await session.execute(delete(T).where(T.team_id == team_id))
    rows = []
    query = select(*_columns()).where(c.team_id == team_id, c.deleted_at.is_(None)).order_by(c.id)
    async for batch in (await session.stream(query)).partitions(SYNC_BATCH):
        rows.extend(tuple(row) for row in batch)
    index = TeamIndex()
    await asyncio.to_thread(index.load, *(zip(*rows) if rows else ([],) * 5))
    del rows
    postings, contacts = await asyncio.to_thread(_laid_out, index, team_id)
    tokens = index.vocab.tokens
    await _copy(session, "search_tokens", ["team_id", "seq", "token"], [(team_id, seq, t) for seq, t in enumerate(tokens)])
    await _copy(session, "search_contacts", ["team_id", "kind", "key", "customer_id"], contacts)
    await _copy_binary(session, "search_postings", ["team_id", "token", "kind", "customer_id", "sort_key"], postings)
    return index.live, len(tokens)


def _laid_out(index: TeamIndex, team_id: int) -> tuple[list[bytes], list[tuple]]:
    """A bulk build's postings as COPY BINARY chunks, and its contacts as rows."""
    ids = np.frombuffer(index._ids, dtype=np.int64)
    order = np.frombuffer(index._order, dtype=np.int64)
    tokens, kinds, positions = [], [], []
    for kind, postings in ((NAME, index.names), (COMPANY, index.companies)):
        ptr, holders = postings.parts()
        tokens.append(np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr)))
        kinds.append(np.full(len(holders), kind, dtype=np.int64))
        positions.append(holders.astype(np.int64))
    tokens.append(np.full(len(ids), -1, dtype=np.int64))
    kinds.append(np.full(len(ids), LIVE, dtype=np.int64))
    positions.append(np.arange(len(ids), dtype=np.int64))
    token, kind, position = np.concatenate(tokens), np.concatenate(kinds), np.concatenate(positions)
    chunks = [_binary_rows([(np.full(len(token[at:at + COPY_ROWS]), team_id), ">i4"), (token[at:at + COPY_ROWS], ">i4"),
                            (kind[at:at + COPY_ROWS], ">i2"), (ids[position[at:at + COPY_ROWS]], ">i4"),
                            (order[position[at:at + COPY_ROWS]], ">i8")])
              for at in range(0, len(token), COPY_ROWS)]
    contacts = []
    for kind, found in ((EMAIL, index.emails), (PHONE, index.phones)):
        keys, held = found.pairs()
        contacts.extend(zip([team_id] * len(keys), [kind] * len(keys), keys, ids[held].tolist()))
    return chunks, list(dict.fromkeys(contacts))


def _binary_rows(columns: list[tuple[np.ndarray, str]]) -> bytes:
    """Rows of fixed-size integers in PostgreSQL's binary COPY format (no header)."""
    fields = [("count", ">i2")]
    for i, (_, code) in enumerate(columns):
        fields += [(f"size{i}", ">i4"), (f"value{i}", code)]
    rows = np.empty(len(columns[0][0]), dtype=fields)
    rows["count"] = len(columns)
    for i, (values, code) in enumerate(columns):
        rows[f"size{i}"] = np.dtype(code).itemsize
        rows[f"value{i}"] = values
    return rows.tobytes()


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


async def _copy_binary(session: AsyncSession, table: str, columns: list[str], chunks: list[bytes]) -> None:
    data = b"".join([b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0), *chunks, struct.pack(">h", -1)])
    driver = await _driver(session)
    if hasattr(driver, "copy_to_table"):  # asyncpg
        await driver.copy_to_table(table, source=io.BytesIO(data), columns=columns, format="binary")
        return
    async with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        await copy.write(data)


async def _apply(session: AsyncSession, team_id: int, state) -> tuple[int, int]:
    """Re-index the customer rows changed since the index's revision (deleted ones leave it)."""
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
        gone = await session.execute(
            delete(P).where(P.team_id == team_id, P.customer_id.in_(ids), P.kind == LIVE).returning(P.customer_id))
        live -= len(gone.all())
        await session.execute(delete(P).where(P.team_id == team_id, P.customer_id.in_(ids)))
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
        postings = [{"team_id": team_id, "token": -1, "kind": LIVE, "customer_id": cid, "sort_key": h.sort_key} for cid, h in held]
        postings += [{"team_id": team_id, "token": seqs[w], "kind": kind, "customer_id": cid, "sort_key": h.sort_key}
                     for cid, h in held for kind, words_held in ((NAME, h.names), (COMPANY, h.companies)) for w in words_held]
        contacts = list(dict.fromkeys((kind, key, cid) for cid, h in held for kind, keys in ((EMAIL, h.emails), (PHONE, h.phones))
                                      for key in keys))
        if postings:
            await session.execute(pg_insert(P), postings)
        if contacts:
            await session.execute(pg_insert(C), [{"team_id": team_id, "kind": k, "key": key, "customer_id": cid}
                                                 for k, key, cid in contacts])
        live += len(held)
    return live, next_seq


async def forget_customer(session: AsyncSession, team_id: int, customer_id: int) -> None:
    """An erasure: the customer's tokens that no one else holds leave the database at once (the
    rest of its entries go with the next catch-up)."""
    await session.execute(sql(
        "DELETE FROM search_tokens WHERE team_id = :team AND seq IN ("
        " SELECT p.token FROM search_postings p WHERE p.team_id = :team AND p.customer_id = :customer AND p.kind IN (0, 1)"
        " AND NOT EXISTS (SELECT 1 FROM search_postings o WHERE o.team_id = :team AND o.token = p.token"
        " AND o.kind IN (0, 1) AND o.customer_id <> :customer))"), {"team": team_id, "customer": customer_id})
    await session.execute(delete(P).where(P.team_id == team_id, P.customer_id == customer_id, P.kind != LIVE))
    await session.execute(delete(C).where(C.team_id == team_id, C.customer_id == customer_id))


# -- searching ---------------------------------------------------------------------------------------


@dataclass
class _Vocabulary:
    """A team's tokens as this worker last read them, with the index of close spellings."""

    index: TokenIndex = field(default_factory=TokenIndex)
    seqs: array = field(default_factory=lambda: array("q"))  # token id in `index` -> its number
    next_seq: int = 0
    similar: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def take(self, rows: list[tuple[int, str]]) -> None:
        fresh = [(seq, token) for seq, token in rows if token not in self.index.ids]
        if not len(self.index) and fresh:
            self.index.extend([token for _, token in fresh])
        else:
            for _, token in fresh:
                self.index.add(token)
        self.seqs.extend(seq for seq, _ in fresh)
        if rows:
            self.next_seq = max(self.next_seq, rows[-1][0] + 1)
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
        live, vocabulary = await self._ready(session, team_id)
        found = await self._search(session, team_id, live, vocabulary, text, limit)
        if found or not has_cjk(text):
            return found
        latin = sounded(text)  # a homophone slip of the input method (see TeamIndex.search)
        return await self._search(session, team_id, live, vocabulary, latin, limit) if latin else []

    async def _ready(self, session: AsyncSession, team_id: int) -> tuple[int, _Vocabulary]:
        """The team's live customers, and its vocabulary read up to date; the index brought up
        to the committed customers first when it is behind."""
        team = models.Team
        query = (select(team.customer_rev, S.rev, S.live, S.tokens).select_from(team)
                 .outerjoin(S, S.team_id == team.id).where(team.id == team_id))
        row = (await session.execute(query)).one()
        if row.rev is None or row.rev < (row.customer_rev or 0):
            await sync(session.bind, team_id)
            row = (await session.execute(query)).one()
        vocabulary = self._vocabularies.setdefault(team_id, _Vocabulary())
        if (row.tokens or 0) > vocabulary.next_seq:
            async with vocabulary.lock:
                if row.tokens > vocabulary.next_seq:
                    fresh = (await session.execute(
                        select(T.seq, T.token).where(T.team_id == team_id, T.seq >= vocabulary.next_seq).order_by(T.seq)
                    )).all()
                    await asyncio.to_thread(vocabulary.take, fresh) if len(fresh) > 10_000 else vocabulary.take(fresh)
        return row.live or 0, vocabulary

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

    async def _search(self, session: AsyncSession, team_id: int, live: int, vocabulary: _Vocabulary, text: str,
                      limit: int) -> list[Match]:
        exact = await self._exact(session, team_id, text)
        if exact is not None:
            return exact[:limit]
        tokens = [q for q in _query_tokens(fold(text)) if len(q[0]) >= 2 or not q[0].isascii()]
        if not tokens or not live:
            return []
        similar = {q[0]: vocabulary.similar_tokens(q[0]) for q in tokens}
        wanted = set(chain.from_iterable((t for t, _ in found) for found in similar.values()))
        wanted.update(chain.from_iterable(base_probes(q) for q, _, start, end in tokens if start == 0 and end == len(q)))
        wanted.update(similar)
        ids = vocabulary.index.ids
        known = sorted((vocabulary.seqs[ids[t]], t) for t in wanted if t in ids)
        view = await self._view(session, team_id, live, known)
        view._similar = similar
        ranked = view.rank(text)
        if isinstance(ranked, list):
            return ranked
        best = [view._ids[p] for p in ranked.best]
        c = models.Customer
        rows = await session.execute(select(c.id, c.name, c.company).where(c.team_id == team_id, c.id.in_(best)))
        at = {customer_id: p for customer_id, p in zip(best, ranked.best)}
        for row in rows:
            view._names[at[row.id]], view._companies[at[row.id]] = row.name or "", row.company
        return view.score(ranked, limit)

    async def _view(self, session: AsyncSession, team_id: int, live: int, known: list[tuple[int, str]]) -> TeamIndex:
        """A `TeamIndex` of the customers holding the given tokens only (positions 0 .. n-1 in
        the order of their ids), enough to rank a search as the whole index would."""
        seqs = np.array([seq for seq, _ in known], dtype=np.int64)
        found = np.array((await session.execute(
            select(P.token, P.kind, P.customer_id, P.sort_key)
            .where(P.team_id == team_id, P.token.in_(seqs.tolist()), P.kind.in_((NAME, COMPANY)))
        )).all() or np.zeros((0, 4)), dtype=np.int64).reshape(-1, 4)
        token, kind, customer, sort_key = found.T
        ids, position = np.unique(customer, return_inverse=True)
        order = np.zeros(len(ids), dtype=np.int64)
        order[position] = sort_key
        local = np.searchsorted(seqs, token)
        view = TeamIndex(vocab=SimpleNamespace(ids={t: i for i, (_, t) in enumerate(known)}))
        for which, postings in ((NAME, view.names), (COMPANY, view.companies)):
            mine = kind == which
            pairs = np.lexsort((position[mine], local[mine]))
            postings.load(local[mine][pairs], position[mine][pairs], len(known))
        view._ids, view._order = array("q", ids.tobytes()), array("q", order.tobytes())
        view._names, view._companies = [None] * len(ids), [None] * len(ids)
        view.live = live
        return view
