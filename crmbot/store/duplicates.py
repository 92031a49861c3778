"""Likely duplicate customers of a team, with a score, without comparing every pair.

Three kinds of evidence, each found by grouping on a key rather than by an O(n²) scan:

* the same e-mail address (case aside) or the same phone number in E.164: certain (100);
* near-identical names: equal once diacritics, case and word order are set aside, or equal
  once at most one letter is dropped from each, which every typo of one letter is (a letter
  added, dropped or changed, two letters swapped). Candidates share a key of the names'
  one-deletion neighbourhoods (each name, and it with each letter dropped), so no such pair is
  missed; each is then scored with rapidfuzz's `ratio` over the whole folded name and kept
  from NAME_CUTOFF up. Names in different companies are different people; a pair where one
  company is unknown scores lower;
* in the same company, one name holding all the words of the other ("Karel", "Karel Malý").
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models
from crmbot.store.search import _json_list
from crmbot.text import fold_many, has_cjk, normalise_phone, words

CERTAIN = 100.0
NAME_CUTOFF = 88.0  # rapidfuzz ratio of two folded names: one typo in a name of 9 letters or more
UNKNOWN_COMPANY_PENALTY = 10.0  # a near name where one of the two has no company given
NAME_PART = 85.0  # "Karel" and "Karel Malý" in the same company
MIN_TYPO_KEY = 5  # shorter names lose no letter (one letter is too much of them); Chinese names are paired only when equal
MAX_HOLDERS = 50  # an address or number more customers share is a switchboard, not a person
MAX_SAME_NAME = 500  # beyond this many holders of one name, only those in the same company are paired
MAX_COMPANY = 300  # beyond this many customers of one company, names are not compared word by word

_NOT_DIGITS = re.compile(r"\D")
_NOT_ASCII_DIGITS = bytes(c for c in range(128) if not chr(c).isdigit())


@dataclass(frozen=True)
class Pair:
    first: int  # the older record's customer id
    second: int
    score: float
    reasons: tuple[str, ...]  # "email", "phone", "name", "name_part"


@dataclass
class Book:
    """A team's live customers as the duplicate search reads them (position = row)."""

    ids: list[int]
    names: list[str]
    companies: list[str | None]
    emails: list[list[str]]
    phones: list[list[str]]


def phone_number(raw: str) -> str:
    """A stored phone as one key: E.164 ("+420777123456") when it has its country code (+ or
    00), else its digits (a national number meets only the same national number)."""
    raw = str(raw).strip()
    if raw.startswith("+") and raw.isascii():  # stored numbers are E.164 already: no parsing needed
        return "+" + raw.encode().translate(None, _NOT_ASCII_DIGITS).decode()
    if raw.startswith("+"):
        return "+" + _NOT_DIGITS.sub("", raw)
    if raw.startswith("00"):
        return "+" + _NOT_DIGITS.sub("", raw)[2:]
    number = normalise_phone(raw)
    return number if number.startswith("+") else _NOT_DIGITS.sub("", number)


class _Found:
    """The best evidence per pair of positions."""

    def __init__(self) -> None:
        self.best: dict[tuple[int, int], float] = {}
        self.reasons: dict[tuple[int, int], set[str]] = defaultdict(set)

    def add(self, a: int, b: int, score: float, reason: str) -> None:
        key = (a, b) if a < b else (b, a)
        if score > self.best.get(key, -1.0):
            self.best[key] = score
        self.reasons[key].add(reason)


def _same_key(found: _Found, keys: list[list[str]], reason: str) -> None:
    """Pairs of positions holding the same key (an address, a number)."""
    flat = [(key, position) for position, held in enumerate(keys) for key in held if key]
    repeated = {key for key, n in Counter(key for key, _ in flat).items() if n > 1}  # most are held once
    holders: dict[str, list[int]] = defaultdict(list)
    for key, position in flat:
        if key in repeated:
            holders[key].append(position)
    for group in holders.values():
        group = list(dict.fromkeys(group))  # a customer holding a number twice is not a pair with itself
        if 2 <= len(group) <= MAX_HOLDERS:
            for a, b in combinations(group, 2):
                found.add(a, b, CERTAIN, reason)


def _compatible(company_a: str, company_b: str) -> bool:
    return not company_a or not company_b or company_a == company_b


def _near_names(found: _Found, name_keys: list[str], company_keys: list[str]) -> None:
    """Pairs whose folded names (words sorted) are equal, or equal with at most one letter
    dropped from each, scored by ratio."""
    by_name: dict[str, list[int]] = defaultdict(list)
    for position, key in enumerate(name_keys):
        if key:
            by_name[key].append(position)
    for group in by_name.values():  # the same name: pairs within one company, or with one unknown
        if len(group) > 1:
            _pair_up(found, group, group, company_keys, 100.0)
    distinct = list(by_name)
    # every distinct name and each of its one-letter deletions, as (hash, name number): names
    # sharing a hash are candidates (a rare hash collision only costs one extra ratio)
    variants, owners = [], []
    for number, key in enumerate(distinct):
        if has_cjk(key):
            continue
        # a short name stands for itself only: it meets the longer names one letter more
        made = {key, *(key[:i] + key[i + 1:] for i in range(len(key)))} if len(key) >= MIN_TYPO_KEY else (key,)
        variants.extend(made)
        owners.extend([number] * len(made))
    if not variants:
        return
    hashes = np.fromiter(map(hash, variants), dtype=np.int64, count=len(variants))
    owner = np.array(owners, dtype=np.int64)
    order = np.argsort(hashes, kind="stable")
    hashes, owner = hashes[order], owner[order]
    starts = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
    sizes = np.diff(np.r_[starts, len(hashes)])
    close = set()
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
        members = sorted(set(owner[start:start + size].tolist()))
        close.update(combinations(members, 2))
    if not close:
        return
    lefts, rights = zip(*sorted(close))
    scores = process.cpdist([distinct[i] for i in lefts], [distinct[i] for i in rights], scorer=fuzz.ratio, dtype=np.float64)
    for left, right, score in zip(lefts, rights, scores.tolist()):
        if score >= NAME_CUTOFF:
            _pair_up(found, by_name[distinct[left]], by_name[distinct[right]], company_keys, score)


def _pair_up(found: _Found, lefts: list[int], rights: list[int], company_keys: list[str], score: float) -> None:
    """Add the pairs of these two groups of name holders whose companies allow it."""
    same_group = lefts is rights
    if len(lefts) * len(rights) > MAX_SAME_NAME ** 2 // 4:
        by_company: dict[str, list[int]] = defaultdict(list)
        for position in rights:
            by_company[company_keys[position]].append(position)
        pairs = ((a, b) for a in lefts for b in by_company.get(company_keys[a], ()) if company_keys[a] and a != b)
    elif same_group:
        pairs = combinations(lefts, 2)
    else:
        pairs = ((a, b) for a in lefts for b in rights)
    for a, b in pairs:
        if a == b or not _compatible(company_keys[a], company_keys[b]):
            continue
        penalty = 0.0 if company_keys[a] and company_keys[a] == company_keys[b] else UNKNOWN_COMPANY_PENALTY
        found.add(a, b, round(score - penalty, 1), "name")


def _name_parts(found: _Found, name_keys: list[str], company_keys: list[str]) -> None:
    """In one company, a name holding every word of another ("karel" in "karel maly")."""
    by_company: dict[str, list[int]] = defaultdict(list)
    for position, company in enumerate(company_keys):
        if company and name_keys[position]:
            by_company[company].append(position)
    for group in by_company.values():
        if not 2 <= len(group) <= MAX_COMPANY:
            continue
        held = {position: set(name_keys[position].split()) for position in group}
        for a, b in combinations(group, 2):
            if held[a] != held[b] and (held[a] < held[b] or held[b] < held[a]):
                found.add(a, b, NAME_PART, "name_part")


def _folded_words(texts: list[str | None]) -> list[list[str]]:
    """The folded words of each text; each distinct word folded once (names share most words)."""
    split = [(text or "").split() for text in texts]
    distinct = list(dict.fromkeys(word for parts in split for word in parts))
    folded = dict(zip(distinct, ([w] if w.isalnum() else words(w) for w in fold_many(distinct))))
    return [[piece for word in parts for piece in folded[word]] for parts in split]


def likely_pairs(book: Book, min_score: float = 0.0) -> list[Pair]:
    """Every likely duplicate pair of the book, best first (then by the older record)."""
    found = _Found()
    _same_key(found, [[str(e).strip().lower() for e in held] for held in book.emails], "email")
    _same_key(found, [[phone_number(p) for p in held] for held in book.phones], "phone")
    name_keys = [" ".join(sorted(found_words)) for found_words in _folded_words(book.names)]
    company_keys = [" ".join(found_words) for found_words in _folded_words(book.companies)]
    _near_names(found, name_keys, company_keys)
    _name_parts(found, name_keys, company_keys)
    pairs = []
    for (a, b), score in found.best.items():
        if score >= min_score:
            first, second = sorted((book.ids[a], book.ids[b]))
            pairs.append(Pair(first, second, score, tuple(sorted(found.reasons[(a, b)]))))
    pairs.sort(key=lambda p: (-p.score, p.first, p.second))
    return pairs


async def team_book(session: AsyncSession, team_id: int) -> Book:
    """The team's live customers, in id order, with the columns the search reads."""
    c = models.Customer
    rows = (await session.execute(
        select(c.id, c.name, c.company, cast(c.emails, Text), cast(c.phones, Text))
        .where(c.team_id == team_id, c.deleted_at.is_(None)).order_by(c.id)
    )).all()
    return Book([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                [_json_list(r[3]) for r in rows], [_json_list(r[4]) for r in rows])
