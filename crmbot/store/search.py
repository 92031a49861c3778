"""Typo-tolerant customer look-up that stays fast at 100k customers.

An exhaustive rapidfuzz scan over every name costs ~175 ms at 100k customers, so each team
gets an in-memory inverted index from name/company tokens to customers. A query's tokens are
matched against the (much smaller) token vocabulary with rapidfuzz, the customers holding
similar tokens are ranked by how rare and how close those tokens are, and only the best few
are scored with WRatio against the full name.

The index follows the database, not the other way round: every customer write bumps the
team's `customer_rev`, and each search first reads that one number and re-reads only the
rows changed since, so customers added by another process or worker are found at once.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import customers as customer_store
from crmbot.store import models, teams
from crmbot.text import fold, phone_key, words

# below these similarities a query token is not taken to mean a name token
TOKEN_CUTOFF_SHORT = 85  # tokens of up to 3 characters: "jan" ~ "jana", not "jim"
TOKEN_CUTOFF = 75  # longer tokens, which leaves room for typos and inflected endings
CANDIDATES = 40  # customers scored with WRatio per query


@dataclass(frozen=True)
class Match:
    customer_id: int
    display: str
    score: float
    span: str  # the words of the query that matched this customer


@dataclass
class _Entry:
    display: str
    name_key: str
    company_key: str
    tokens: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]


@dataclass
class TeamIndex:
    rev: int = -1
    entries: dict[int, _Entry] = field(default_factory=dict)
    postings: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    vocab: list[str] = field(default_factory=list)
    by_email: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    by_phone: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    _similar: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- keeping up with the database -------------------------------------------------------

    def apply(self, rows: list[models.Customer]) -> None:
        grew = False
        for row in rows:
            self._remove(row.id)
            if row.deleted_at is None:
                grew |= self._add(row)
            self.rev = max(self.rev, row.rev)
        if grew:
            self._similar.clear()

    def _add(self, row: models.Customer) -> bool:
        name_key, company_key = fold(row.name or ""), fold(row.company or "")
        tokens = tuple(dict.fromkeys(words(name_key) + words(company_key)))
        entry = _Entry(
            display=row.display_name,
            name_key=name_key,
            company_key=company_key,
            tokens=tokens,
            emails=tuple(e.lower() for e in row.emails or []),
            phones=tuple(k for k in (phone_key(p) for p in row.phones or []) if k),
        )
        self.entries[row.id] = entry
        grew = False
        for token in tokens:
            if token not in self.postings:
                self.vocab.append(token)
                grew = True
            self.postings[token].add(row.id)
        for email in entry.emails:
            self.by_email[email].add(row.id)
        for phone in entry.phones:
            self.by_phone[phone].add(row.id)
        return grew

    def _remove(self, customer_id: int) -> None:
        entry = self.entries.pop(customer_id, None)
        if entry is None:
            return
        for token in entry.tokens:
            holders = self.postings.get(token)
            if holders is not None:
                holders.discard(customer_id)
        for email in entry.emails:
            self.by_email[email].discard(customer_id)
        for phone in entry.phones:
            self.by_phone[phone].discard(customer_id)

    # -- searching -----------------------------------------------------------------------------

    def similar_tokens(self, token: str) -> list[tuple[str, float]]:
        found = self._similar.get(token)
        if found is None:
            cutoff = TOKEN_CUTOFF_SHORT if len(token) <= 3 else TOKEN_CUTOFF
            found = [(t, s) for t, s, _ in process.extract(token, self.vocab, scorer=fuzz.ratio, score_cutoff=cutoff, limit=25)]
            if len(self._similar) > 50_000:
                self._similar.clear()
            self._similar[token] = found
        return found

    def exact(self, text: str) -> list[Match] | None:
        """E-mail addresses and phone numbers are looked up exactly, never fuzzily."""
        lowered = text.strip().lower()
        if "@" in lowered:
            for word in lowered.split():
                if "@" in word:
                    ids = self.by_email.get(word.strip(".,;:<>()"), set())
                    return [Match(i, self.entries[i].display, 100.0, word) for i in sorted(ids)]
        key = phone_key(text)
        if key and sum(ch.isdigit() for ch in text) >= 6:
            ids = self.by_phone.get(key, set())
            return [Match(i, self.entries[i].display, 100.0, text.strip()) for i in sorted(ids)]
        return None

    def search(self, text: str, limit: int = 5, ignore: frozenset[str] = frozenset()) -> list[Match]:
        exact = self.exact(text)
        if exact is not None:
            return exact[:limit]
        query = [t for t in words(fold(text)) if t not in ignore and (len(t) >= 2 or not t.isascii())]
        if not query or not self.entries:
            return []
        total = len(self.entries)
        # customer -> {query position: (token similarity, weight of that evidence)}
        hits: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)
        for position, token in enumerate(query):
            for name_token, similarity in self.similar_tokens(token):
                holders = self.postings.get(name_token)
                if not holders:
                    continue
                # rare tokens say more about who is meant than common ones
                evidence = (similarity, similarity * math.log(1 + total / len(holders)))
                for customer_id in holders:
                    seen = hits[customer_id].get(position)
                    if seen is None or similarity > seen[0]:
                        hits[customer_id][position] = evidence
        if not hits:
            return []
        weight_of = {c: sum(w for _, w in found.values()) for c, found in hits.items()}
        best = heapq.nlargest(CANDIDATES, weight_of, key=weight_of.__getitem__)
        widest = max(len(hits[c]) for c in best)
        scored = []
        for customer_id in best:
            entry = self.entries[customer_id]
            positions = sorted(hits[customer_id])
            span = " ".join(query[p] for p in positions)
            score = fuzz.WRatio(span, entry.name_key)
            if entry.company_key:
                score = max(score, fuzz.WRatio(span, entry.company_key), fuzz.WRatio(span, f"{entry.name_key} {entry.company_key}"))
            # a customer matching fewer of the mentioned words is a worse reading of the mention
            score *= 0.9 ** (widest - len(positions))
            scored.append(Match(customer_id, entry.display, round(score, 1), span))
        scored.sort(key=lambda m: (-m.score, m.customer_id))
        return scored[:limit]


class CustomerIndex:
    """The fuzzy indexes of every team, owned by the app (no module-level state)."""

    def __init__(self) -> None:
        self._teams: dict[int, TeamIndex] = {}

    async def for_team(self, session: AsyncSession, team_id: int) -> TeamIndex:
        index = self._teams.setdefault(team_id, TeamIndex())
        current = await teams.customer_rev(session, team_id)
        if current != index.rev:
            async with index.lock:
                if current != index.rev:
                    index.apply(await customer_store.changed_since(session, team_id, index.rev))
                    index.rev = max(index.rev, current)
        return index

    async def search(self, session: AsyncSession, team_id: int, text: str, limit: int = 5) -> list[Match]:
        return (await self.for_team(session, team_id)).search(text, limit)
