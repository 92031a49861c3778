"""Typo-tolerant customer look-up that stays fast at 1M customers.

An exhaustive rapidfuzz scan over every name costs ~2 s at 1M customers, so each team gets an
in-memory inverted index from name/company tokens to customers. A query's tokens are matched
against the token vocabulary through `TokenIndex` (shared character bigrams, so only the
tokens that can be close are scored: the same tokens a scan of the whole vocabulary would
find), the customers holding similar tokens are ranked by how rare and how close those tokens
are, and only the best few are scored with WRatio against the full name.

Customers are positions 0, 1, ... in numpy arrays (postings, ids, sort keys), not objects: a
first build lays a million out in bulk (`TeamIndex.load`), and the garbage collector has
little to walk. The build is written to the database (`crmbot.store.snapshot`), so the next
worker reads it in a second or two instead of building.

The index follows the database, not the other way round: every customer write bumps the
team's `customer_rev`, and each search first reads that one number and re-reads only the
rows changed since, so customers added by another process or worker are found at once."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import re
from array import array
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import chain

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein
from rapidfuzz.utils import default_process
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, snapshot, teams
from crmbot.store.db import flushed_connection
from crmbot.store.name_gender import first_name_gender
from crmbot.store.postings import Postings, expand
from crmbot.store.token_index import TokenIndex
from crmbot.text import CJK, bigrams, cjk_runs, fold, fold_many, has_cjk, phone_key, words

log = logging.getLogger(__name__)

# below these similarities a query token is not taken to mean a name token
TOKEN_CUTOFF_SHORT = 85  # tokens of up to 3 characters: "jan" ~ "jana", not "jim"
TOKEN_CUTOFF = 75  # longer tokens, which leaves room for typos and inflected endings
SIMILAR_TOKENS = 25  # vocabulary tokens considered per query token
CANDIDATES = 60  # customers scored with WRatio per query
# WRatio scores "petr" 90 against both "Petr Dvořák" and "Petra Dvořáková"; a word typed
# exactly as it stands in a name is worth this much more, so the exact reading wins
EXACT_WORD_BONUS = 5.0
# A word of the company is weaker evidence than the same word of the person's name: on a tie
# the person wins ("called Holub": Barbora Holubová before Josef Skála of Holub Textil).
COMPANY_EVIDENCE = 3.0
# Rare tokens say more about who is meant than common ones, but never more than a closer
# spelling: the bonus for rarity stays below the gap between an exact and a one-typo token.
RARITY_CAP = 6.0
# evidence touching more than 1/DENSE of the customers is summed over an array of all of them
DENSE = 16
# customers whose evidence is further than this below the best are not worth scoring
WEIGHT_MARGIN = 25.0
# A typed word no name holds may be a name with a case ending: "Elvinlə", "Horvatu", "Majo",
# "Kovačičevi", "jana'n" are Elvin, Horvat, Maja, Kovačič, Jana. Such a word is read as the name
# it extends (or whose last vowel it swaps) by at most this many letters, the stem kept at
# least MIN_STEM long; it then counts as a close, not exact, spelling of that name.
MAX_ENDING = 4
MIN_STEM = 3
VOWELS = "aeiouy"
SWAPPED_ENDINGS = "oiuy"
INFLECTED_SIMILARITY = 90.0
# a name of MIN_STEM letters ending in -a keeps its stem in its other cases: "Evě", "Evu", "Evy"
# are Eva; only that one reading is tried for a word this short
SHORT_ENDINGS = "eiouy"


def _short_bases(token: str) -> list[str]:
    return [token[:-1] + "a"] if len(token) == MIN_STEM and token[-1] in SHORT_ENDINGS and token.isalpha() else []


_ALL_CJK = re.compile(f"[{CJK}]+")


def _name_tokens(key: str, person: bool = False) -> list[str]:
    """Index tokens of a folded name: its words, and for text written without spaces (Chinese)
    its character bigrams, so 华信 finds 上海华信科技; a person's first character is their
    family name, so 张总 (Mr Zhang) finds 张伟 and 张丽."""
    if not has_cjk(key):
        return words(key)  # most names: their words are their tokens
    if key.isalnum() and _ALL_CJK.fullmatch(key):  # one run of CJK letters: what the loop below makes of it
        family = [key[0]] if person and 2 <= len(key) <= 4 else []
        return family + bigrams(key) + ([key] if len(key) > 2 else [])
    tokens: list[str] = []
    for word in words(key):
        if not has_cjk(word):
            tokens.append(word)
            continue
        for run in cjk_runs(word):
            if person and not tokens and 2 <= len(run) <= 4:
                tokens.append(run[0])  # the family name opens a Chinese name
            tokens.extend(bigrams(run))
            if len(run) > 2:
                tokens.append(run)
        tokens.extend(w for w in words(re.sub(f"[{CJK}]+", " ", word)))
    return tokens


# letters that people without the keyboard write as two Latin letters or another vowel
# ("Rəşad" is typed "rashad", "Əliyev" "aliyev"): names holding them are indexed in that spelling too
_SPELLED = {"ə": "a", "ş": "sh", "ç": "ch", "ğ": "gh"}
_SPELLED_RE = re.compile("|".join(_SPELLED))


def _typed_tokens(name: str) -> list[str]:
    """The words of a name as typed without its own letters: "Rəşad Quliyev" -> "rashad"."""
    lowered = name.casefold()
    if not _SPELLED_RE.search(lowered):
        return []
    return words(fold(_SPELLED_RE.sub(lambda m: _SPELLED[m.group(0)], lowered)))


def _pinyin_of(run: str) -> tuple[str, ...]:
    """A Chinese name's syllables, then run together, then initials ("wang", "fang",
    "wangfang", "wf")."""
    syllables = [s for segment in _pinyin_reader().seg(run) for s in _segment_syllables(segment)]
    return (*syllables, "".join(syllables), "".join(s[0] for s in syllables))


# names repeat, so each is worked out once (a bulk build, which reads each distinct name once
# anyway, asks `_pinyin_of`: a cache of every name would be 40k more objects to collect)
_pinyin = lru_cache(maxsize=65_536)(_pinyin_of)


@lru_cache(maxsize=1)
def _pinyin_reader():
    """What `pypinyin.lazy_pinyin` makes on each call (its defaults), made once; only books with
    Chinese names pay for its tables. Those are ~200k lists and dicts read from JSON, which live
    as long as the process: read with the collector paused (else each full collection while
    they load walks all read so far, tenths of a second at a time, in the middle of a build),
    then put out of its sight."""
    paused = gc.isenabled()
    gc.disable()
    try:
        from pypinyin.converter import UltimateConverter
        from pypinyin.core import Pinyin

        reader = Pinyin(UltimateConverter(v_to_u=False, neutral_tone_with_five=False, tone_sandhi=False))
        reader.lazy_pinyin("中文")  # its tables load on first use
    finally:
        if paused:
            gc.enable()
    gc.freeze()
    return reader


@lru_cache(maxsize=65_536)
def _segment_syllables(segment: str) -> tuple[str, ...]:
    """The folded syllables of one word of a run as `lazy_pinyin` segments it. `lazy_pinyin(run)`
    is its segments' syllables one after the other, each segment read on its own (a list of
    segments is taken as already cut), so the few thousand family-name and given-name
    characters that make up 40k Chinese names are each read once, not once per name."""
    return tuple(fold(s) for s in _pinyin_reader().lazy_pinyin([segment]))


def _latin_tokens(key: str, pinyin=_pinyin) -> tuple[str, ...]:
    """A Chinese person's name as colleagues type it in Latin letters: its pinyin syllables
    ("wang", "fang"), run together ("wangfang") and as initials ("wf"), so "ms wang", "Li Na"
    and "zl" find 王芳, 李娜 and 张丽. Other names have no such tokens."""
    runs = cjk_runs(key)
    if not runs or len(runs[0]) > 4:
        return ()
    return pinyin(runs[0])


def _latin_forms(name: str, name_key: str) -> tuple[str, ...]:
    """The whole name as typed in Latin letters, for WRatio: a Chinese name's syllables, run
    together and as initials; a name with ə ş ç ğ spelled without them; else none."""
    latin = _latin_tokens(name_key)
    if latin:
        return (" ".join(latin[:-2]), latin[-2], latin[-1])
    typed = " ".join(_typed_tokens(name))
    return (typed,) if typed else ()


def similar_tokens(vocab: TokenIndex, token: str) -> tuple[tuple[str, float], ...]:
    """The SIMILAR_TOKENS vocabulary tokens closest to a typed word, with their similarity."""
    cutoff = TOKEN_CUTOFF_SHORT if len(token) <= 3 else TOKEN_CUTOFF
    # sorted by the token too, so ties do not depend on the order customers arrived in
    return tuple(sorted(vocab.similar(token, cutoff, SIMILAR_TOKENS), key=lambda ts: (-ts[1], ts[0])))


def _query_tokens(key: str) -> list[tuple[str, int, int, int]]:
    """(token, piece, start, end) for each query token: a CJK run becomes its bigrams, each
    remembering where in its run it came from, so the words a customer matched can be put back
    together ("给张伟" matching on 张伟 is scored as "张伟")."""
    out = []
    for piece, word in enumerate(words(key)):
        if not has_cjk(word):
            out.append((word, piece, 0, len(word)))
            continue
        for run in cjk_runs(word):
            start = word.index(run)
            if len(run) == 1:
                out.append((run, piece, start, start + 1))
            else:
                out.extend((gram, piece, start + i, start + i + 2) for i, gram in enumerate(bigrams(run)))
        rest = re.sub(f"[{CJK}]+", " ", word)
        out.extend((w, piece, 0, 0) for w in words(rest))
    return out


# how sure a mention must be: the handlers, `crmbot parse` and the accuracy tests share this rule
ACCEPT = 80.0  # a mention this close to one customer, and no rival near it, is that customer
RIVAL_GAP = 4.0  # a second match within this many points makes the mention ambiguous
SUGGEST = 60.0  # below ACCEPT but above this we ask "did you mean…?"


@dataclass(frozen=True)
class Match:
    customer_id: int
    display: str
    score: float
    span: str  # the words of the query that matched this customer
    # the typed words this customer holds exactly as typed: "sara connor" holds "connor" for
    # Sarah Connor and "sara" for Sara Conner, so neither is a clear winner
    exact: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Ranked:
    """A search's candidates before their names are read (`TeamIndex.rank`): the folded mention,
    its tokens (as `_query_tokens` gives them) and their words, the base forms of inflected
    words, the candidates' positions best first, which tokens each matched (its span), and
    which typed words and base forms each holds exactly."""

    key: str
    tokens: list[tuple[str, int, int, int]]
    query: list[str]
    bases: list[tuple[str, ...]]
    best: list[int]
    spans: list[list[int]]
    held: list[frozenset[str]]


class _WordFolder:
    """`fold` word by word, each distinct word once: names share most of their words ("jan",
    "s.r.o."), and folding is the dearest part of indexing a customer. Folding never joins or
    splits words, so the result is fold(text) itself. One per batch of rows, so it stays small."""

    def __init__(self) -> None:
        self._folded: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        out = []
        for word in text.split():
            folded = self._folded.get(word)
            if folded is None:
                folded = self._folded[word] = fold(word)
            if folded:
                out.append(folded)
        return " ".join(out)


_TEXT_END = "\0"  # str.split() does not split at NUL: a word of its own only where put between texts


def _json_list(text: str | None) -> list[str]:
    """A JSON list of strings as stored. The usual one-address list is read without the JSON
    parser, which would cost seconds over a million rows."""
    if not text or text == "[]":
        return []
    if text.startswith('["') and text.endswith('"]') and '"' not in text[2:-2] and "\\" not in text:
        return [text[2:-2]]
    return json.loads(text) or []


def _display(name: str, company: str | None) -> str:
    return f"{name} ({company})" if company else name


# folding word by word, each word once: names share most of their words
_fold_word = lru_cache(maxsize=262_144)(fold)


@lru_cache(maxsize=32_768)
def _keys(name: str, company: str | None) -> tuple[str, str, tuple[str, ...]]:
    """A candidate's folded name and company, and its name as typed in Latin letters
    (`_latin_forms`), for scoring: a few dozen per search, so they are worked out when asked
    rather than kept for every customer; the customers that common words find come up search
    after search, and are worked out once."""
    name_key = " ".join(filter(None, map(_fold_word, name.split())))
    company_key = " ".join(filter(None, map(_fold_word, company.split()))) if company else ""
    # plain ASCII holds neither Chinese letters nor ə ş ç ğ: most names, no regex needed
    return name_key, company_key, () if name.isascii() else _latin_forms(name, name_key)


_NOT_DIGITS = bytes(c for c in range(128) if not chr(c).isdigit() and chr(c) != "\n")


def _phone_key(phone: str) -> str:
    """`phone_key`, without a regular expression for the usual plain ASCII number."""
    if phone.isascii():
        digits = phone.encode().translate(None, _NOT_DIGITS).decode()
        return digits[-9:] if len(digits) >= 6 else ""
    return phone_key(phone)


def _phone_keys(lines: str) -> str:
    """The phone key of each line of `lines` at once, when they are all plain ASCII."""
    if not lines.isascii():
        return "\n".join(map(_phone_key, lines.split("\n")))
    return "\n".join(d[-9:] if len(d) >= 6 else "" for d in lines.encode().translate(None, _NOT_DIGITS).decode().split("\n"))


def _contact_pairs(texts: list, many, one) -> tuple[list[str], list[int]]:
    """(keys, positions) of every address stored as a JSON list in texts[position]. Usually each
    list holds one plain address: then all are cut out of one joined string and keyed in one go
    (`many` maps lines to keys). Otherwise each list is read on its own and keyed by `one`."""
    texts = ['[""]' if not t or t == "[]" else t for t in texts]
    joined = "\n".join(texts)
    n = len(texts)
    if joined.count('"') == 2 * n and joined.count('["') == n and joined.count('"]') == n and "\\" not in joined:
        keys = many(joined[2:-2].replace('"]\n["', "\n")).split("\n") if n else []
        return keys, range(n)
    keys, positions = [], []
    for position, text in enumerate(texts):
        for key in map(one, _json_list(text)):
            keys.append(key)
            positions.append(position)
    return keys, positions


def _members(values: np.ndarray, ascending: np.ndarray) -> np.ndarray:
    """Which of values are in the ascending array, by bisection (no sorting of a big array)."""
    if not len(ascending):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(ascending, values), len(ascending) - 1)
    return ascending[at] == values


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


class _Contacts:
    """E-mail address or phone key -> the positions holding it. The bulk part is kept outside
    Python objects but for the keys themselves: the keys in a list, the position of each in an
    array, and their hashes sorted (a million addresses there cost a tenth of a second and a few
    arrays, where a dict of them cost most of a second and ~80 MB). Positions changed since are
    masked out of it, and what they hold now is kept apart."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._positions = np.zeros(0, dtype=np.int64)
        self._hashes = np.zeros(0, dtype=np.int64)  # hash() of each key, ascending
        self._by_hash = np.zeros(0, dtype=np.int64)  # the key holding each of them
        self.extra: dict[str, set[int]] = defaultdict(set)

    def load(self, keys: list[str], positions) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        given = np.fromiter(map(bool, keys), dtype=bool, count=len(keys))
        if not given.all():  # no address, or one that gives no key
            keys = [key for key in keys if key]
            positions = positions[given]
        # hash() of a str is this process's own: worked out here, never kept in a snapshot
        hashes = np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))
        order = np.argsort(hashes, kind="stable")
        self._keys, self._positions, self._hashes, self._by_hash = keys, positions, hashes[order], order

    def pairs(self) -> tuple[list[str], np.ndarray]:
        return self._keys, self._positions

    def find(self, key: str, stale: np.ndarray | None) -> list[int]:
        found, hashes, wanted = [], self._hashes, hash(key)
        at = int(np.searchsorted(hashes, wanted))
        while at < len(hashes) and hashes[at] == wanted:
            i = int(self._by_hash[at])
            if self._keys[i] == key:
                found.append(int(self._positions[i]))
            at += 1
        if stale is not None:
            found = [p for p in found if not stale[p]]
        return found + sorted(self.extra.get(key, ()))


@dataclass(frozen=True)
class Held:
    """What one customer row puts in the index: its name tokens, its company tokens (those not
    in the name), its e-mail addresses and phone keys, and its sort key among equal evidence."""

    names: tuple[str, ...]
    companies: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    sort_key: int


def customer_tokens(row, fold_words: _WordFolder) -> Held:
    """A customer row's tokens, as the bulk build lays them out (rows of `_catch_up`)."""
    name_key, company_key = fold_words(row.name or ""), fold_words(row.company or "")
    # as in the bulk build: a Chinese name's pinyin, and ə ş ç ğ as typed without them
    person = [*_name_tokens(name_key, person=True), *_latin_tokens(name_key), *_typed_tokens(row.name or "")]
    names = tuple(dict.fromkeys(person))
    companies = tuple(t for t in dict.fromkeys(_name_tokens(company_key)) if t not in names)
    emails = tuple(dict.fromkeys(e.lower() for e in _json_list(row.emails)))
    phones = tuple(dict.fromkeys(k for k in map(phone_key, _json_list(row.phones)) if k))
    return Held(names, companies, emails, phones, (len(name_key) << 40) | row.id)


@dataclass
class TeamIndex:
    """One team's customers by position (0, 1, ... in the order they were read), with the
    postings from name and company tokens to positions. Positions of the first build are the
    "bulk"; customers changed later are masked there and kept in small structures."""

    rev: int = -1
    # every distinct token once, with the index that finds the ones close to a typed word
    vocab: TokenIndex = field(default_factory=TokenIndex)
    names: Postings = field(default_factory=Postings)
    companies: Postings = field(default_factory=Postings)
    emails: _Contacts = field(default_factory=_Contacts)
    phones: _Contacts = field(default_factory=_Contacts)
    # position -> customer id, and its sort key among equal evidence: name length, then id. Of
    # those holding the same tokens the shortest name is the one the mention covers most
    # ("prochazka": Jan Procházka before Vojtěch Procházka), which WRatio will prefer too.
    _ids: array = field(default_factory=lambda: array("q"))
    _order: array = field(default_factory=lambda: array("q"))
    # position -> name and company as stored; None for a deleted customer
    _names: list = field(default_factory=list)
    _companies: list = field(default_factory=list)
    _bulk_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # sorted
    _later: dict[int, int] = field(default_factory=dict)  # customer id -> position, after the bulk
    _stale: np.ndarray | None = None  # bulk positions changed since the build
    # what a changed customer holds now: position -> (name token ids, company token ids, e-mails, phones)
    _held: dict[int, tuple] = field(default_factory=dict)
    live: int = 0
    _similar: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- keeping up with the database -------------------------------------------------------

    def apply(self, rows) -> None:
        """Take in changed customer rows, as `_catch_up` reads them."""
        if not self._names:
            live = [r for r in rows if not r.deleted]
            self.load([r.id for r in live], [r.name for r in live], [r.company for r in live],
                      [r.emails for r in live], [r.phones for r in live])
            return
        vocab_size = len(self.vocab)
        folded = _WordFolder()
        for row in rows:
            position = self._position(row.id)
            if position is not None:
                self._forget(position)
            if not row.deleted:
                self._put(row, position, folded)
        if len(self.vocab) > vocab_size:
            self._similar.clear()

    def load(self, ids: list[int], names: list[str | None], companies: list[str | None], emails: list, phones: list) -> None:
        """The first build, in bulk, from live customers' columns in the order of their ids:
        each distinct word is folded and split into tokens once, and the (token, customer)
        pairs are laid out in numpy arrays."""
        n = len(ids)
        names = [name or "" for name in names]
        companies = list(companies)
        token_ids: dict[str, int] = {}
        name_pairs, name_lengths = self._word_pairs(names, token_ids, person=True)
        company_pairs, _ = self._word_pairs([c or "" for c in companies], token_ids)
        # a word of the company that is also the person's is evidence for the name only
        if len(name_pairs):
            at = np.minimum(np.searchsorted(name_pairs, company_pairs), len(name_pairs) - 1)
            company_pairs = company_pairs[name_pairs[at] != company_pairs]
        self.vocab.extend(list(token_ids), distinct=True)
        for postings, pairs in ((self.names, name_pairs), (self.companies, company_pairs)):
            postings.load(pairs >> 32, pairs & 0xFFFFFFFF, len(token_ids))
        self.emails.load(*_contact_pairs(emails, lambda addresses: addresses.lower(), str.lower))
        self.phones.load(*_contact_pairs(phones, _phone_keys, _phone_key))
        id_array = np.array(ids, dtype=np.int64)
        self._ids = array("q", id_array.tobytes())
        self._order = array("q", ((name_lengths.astype(np.int64) << 40) | id_array).tobytes())
        self._names, self._companies = names, companies
        if n > 1 and not bool(np.all(id_array[1:] > id_array[:-1])):
            raise ValueError("rows must come in the order of their ids")  # positions are found by bisection
        self._bulk_ids = id_array
        self.live = n
        self._similar.clear()

    @staticmethod
    def _word_pairs(texts: list[str], token_ids: dict[str, int], person: bool = False):
        """(token id << 32 | position) for every token of every text, and the folded length
        of each text. `_name_tokens` of a folded text is the tokens of its words one after the
        other, so each distinct word is folded and split into tokens once. For a person
        (person=True), the first word with tokens reads a Chinese family name off its first
        run, a word with ə ş ç ğ is held as typed without them too (`_typed_tokens`), and the
        first word with Chinese letters gives the name's pinyin (`_latin_tokens`)."""
        n = len(texts)
        # every word of every text in one split, a word of its own between texts telling
        # where each ends (unless some text holds that word: then each text is split alone)
        flat = f" {_TEXT_END} ".join(texts).split()
        if flat.count(_TEXT_END) == max(n - 1, 0):
            distinct = dict.fromkeys(flat)
            distinct.pop(_TEXT_END, None)
            number = dict(zip(distinct, range(len(distinct))))
            number[_TEXT_END] = -1
            occurrences = np.fromiter(map(number.__getitem__, flat), dtype=np.int64, count=len(flat))
            ends = occurrences < 0
            rows = np.cumsum(ends)[~ends]
            occurrences = occurrences[~ends]
        else:
            counts = np.fromiter(map(len, map(str.split, texts)), dtype=np.int64, count=n)
            flat = " ".join(texts).split()
            distinct = dict.fromkeys(flat)
            number = dict(zip(distinct, range(len(distinct))))
            occurrences = np.fromiter(map(number.__getitem__, flat), dtype=np.int64, count=len(flat))
            rows = np.repeat(np.arange(n, dtype=np.int64), counts)
        folded = fold_many(list(distinct))
        # a word that is all letters or digits is its own one token: most words, no regex needed
        # tuples of strings: the collector stops looking at them after one look (lists it walks each time)
        # (an ASCII word holds no Chinese letters: no regular expression asked for most of them)
        held = [(key,) if key.isalnum() and (key.isascii() or not has_cjk(key)) else tuple(_name_tokens(key)) for key in folded]
        latin_pairs = np.zeros(0, dtype=np.int64)
        if person:
            typed: dict[int, list[str]] = {}
            if _SPELLED_RE.search(" ".join(distinct).casefold()):  # most books hold none: one look
                typed = {i: tuple(t) for i, word in enumerate(distinct) if (t := _typed_tokens(word))}
            for i, extra in typed.items():
                held[i] = held[i] + extra
            first = np.flatnonzero(np.fromiter(map(len, held), dtype=np.int64, count=len(held))[occurrences] > 0)
            first = first[np.unique(rows[first], return_index=True)[1]]  # each text's first word with tokens
            variant, word_of = np.arange(len(held)), list(range(len(held)))
            chinese = [i for i, key in enumerate(folded) if not key.isascii() and has_cjk(key)]
            for i in chinese:
                as_person = (*_name_tokens(folded[i], person=True), *typed.get(i, ()))
                if as_person != held[i]:
                    variant[i] = len(held)
                    held.append(as_person)
                    word_of.append(i)
            occurrences[first] = variant[occurrences[first]]
            occurrences_words = np.array(word_of, dtype=np.int64)[occurrences]
            if chinese:
                latin_pairs = TeamIndex._latin_pairs(folded, chinese, occurrences_words, rows, token_ids)
        else:
            occurrences_words = occurrences
        ptr = np.zeros(len(held) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, held), dtype=np.int64, count=len(held)), out=ptr[1:])
        flat_tokens = list(chain.from_iterable(held))
        fresh = [t for t in dict.fromkeys(flat_tokens) if t not in token_ids]
        token_ids.update(zip(fresh, range(len(token_ids), len(token_ids) + len(fresh))))
        items = np.fromiter(map(token_ids.__getitem__, flat_tokens), dtype=np.int64, count=len(flat_tokens))
        source, tokens = expand(ptr, items, occurrences)
        pairs = _sorted_unique(np.concatenate(((tokens << 32) | rows[source], latin_pairs)))
        word_lengths = np.fromiter(map(len, folded), dtype=np.int64, count=len(folded))
        lengths = word_lengths[occurrences_words]
        spaces = np.bincount(rows, weights=lengths > 0, minlength=n)
        return pairs, np.bincount(rows, weights=lengths, minlength=n) + np.maximum(spaces - 1, 0)

    @staticmethod
    def _latin_pairs(folded: list[str], chinese: list[int], occurrences: np.ndarray, rows: np.ndarray,
                     token_ids: dict[str, int]) -> np.ndarray:
        """(token id << 32 | position) for the pinyin of each Chinese name: `_latin_tokens` of a
        name is that of its first word with Chinese letters (its first run is in that word)."""
        latin = [_latin_tokens(folded[i], _pinyin_of) for i in chinese]
        fresh = [t for t in dict.fromkeys(chain.from_iterable(latin)) if t not in token_ids]
        token_ids.update(zip(fresh, range(len(token_ids), len(token_ids) + len(fresh))))
        # word -> its row in a CSR of pinyin token ids (-1: a word with no Chinese letters)
        row_of = np.full(len(folded), -1, dtype=np.int64)
        row_of[chinese] = np.arange(len(chinese))
        ptr = np.zeros(len(latin) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, latin), dtype=np.int64, count=len(latin)), out=ptr[1:])
        items = np.fromiter(map(token_ids.__getitem__, chain.from_iterable(latin)), dtype=np.int64, count=int(ptr[-1]))
        at = np.flatnonzero(row_of[occurrences] >= 0)
        at = at[np.unique(rows[at], return_index=True)[1]]  # each name's first Chinese word
        source, tokens = expand(ptr, items, row_of[occurrences[at]])
        return (tokens << 32) | rows[at][source]

    # -- a snapshot of the first build, for the next worker ------------------------------------

    def take(self, other: TeamIndex) -> None:
        """Become `other` (a restored snapshot), keeping this index's lock and revision."""
        for name in self.__dataclass_fields__:
            if name not in ("lock", "rev"):
                setattr(self, name, getattr(other, name))

    def parts(self) -> dict[str, object] | None:
        """The index as built in bulk (None once anything changed since, or before a build)."""
        vocab, names, companies = self.vocab.parts(), self.names.parts(), self.companies.parts()
        if self._stale is not None or self._later or not self._names or None in (vocab, names, companies):
            return None
        email_keys, email_positions = self.emails.pairs()
        phone_keys, phone_positions = self.phones.pairs()
        return {
            **vocab, "ids": np.frombuffer(self._ids, dtype=np.int64).copy(),
            "order": np.frombuffer(self._order, dtype=np.int64).copy(),
            "names": self._names, "companies": [c or "" for c in self._companies],
            "name_ptr": names[0], "name_holders": names[1], "company_ptr": companies[0], "company_holders": companies[1],
            "email_keys": email_keys, "email_positions": email_positions,
            "phone_keys": phone_keys, "phone_positions": phone_positions,
        }

    @classmethod
    def from_parts(cls, parts: dict) -> TeamIndex:
        index = cls(vocab=TokenIndex.from_parts(parts),
                    names=Postings.from_parts(parts["name_ptr"], parts["name_holders"]),
                    companies=Postings.from_parts(parts["company_ptr"], parts["company_holders"]))
        index.emails.load(parts["email_keys"], parts["email_positions"])
        index.phones.load(parts["phone_keys"], parts["phone_positions"])
        index._ids, index._order = array("q", parts["ids"].tobytes()), array("q", parts["order"].tobytes())
        index._names, index._companies = parts["names"], [c or None for c in parts["companies"]]
        index._bulk_ids = parts["ids"]
        index.live = len(index._names)
        return index

    def _position(self, customer_id: int) -> int | None:
        position = self._later.get(customer_id)
        if position is not None:
            return position
        at = int(np.searchsorted(self._bulk_ids, customer_id))
        return at if at < len(self._bulk_ids) and self._bulk_ids[at] == customer_id else None

    def _forget(self, position: int) -> None:
        if self._names[position] is None:
            return
        self.live -= 1
        self._names[position] = self._companies[position] = None
        held = self._held.pop(position, None)
        if held is None:  # still as the bulk build read it: mask it there
            if self._stale is None:
                self._stale = np.zeros(len(self._bulk_ids), dtype=bool)
            self._stale[position] = True
            return
        name_tokens, company_tokens, emails, phones = held
        for tokens, postings in ((name_tokens, self.names), (company_tokens, self.companies)):
            for token in tokens:
                postings.remove(token, position)
        for keys, contacts in ((emails, self.emails), (phones, self.phones)):
            for key in keys:
                contacts.extra[key].discard(position)
                if not contacts.extra[key]:
                    del contacts.extra[key]

    def _put(self, row, position: int | None, fold_words: _WordFolder) -> None:
        if position is None:
            position = len(self._names)
            self._later[row.id] = position
            self._ids.append(row.id)
            self._order.append(0)
            self._names.append(None)
            self._companies.append(None)
        elif position < len(self._bulk_ids):
            if self._stale is None:
                self._stale = np.zeros(len(self._bulk_ids), dtype=bool)
            self._stale[position] = True
        self._names[position], self._companies[position] = row.name or "", row.company
        held = customer_tokens(row, fold_words)
        self._order[position] = held.sort_key
        add, ids = self.vocab.add, self.vocab.ids
        name_tokens = tuple(ids[add(t)] for t in held.names)
        company_tokens = tuple(ids[add(t)] for t in held.companies)
        for tokens, postings in ((name_tokens, self.names), (company_tokens, self.companies)):
            for token in tokens:
                postings.add(token, position)
        emails, phones = held.emails, held.phones
        for keys, contacts in ((emails, self.emails), (phones, self.phones)):
            for key in keys:
                contacts.extra[key].add(position)
        self._held[position] = (name_tokens, company_tokens, emails, phones)
        self.live += 1

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocab)

    # -- searching -----------------------------------------------------------------------------

    def similar_tokens(self, token: str) -> tuple[tuple[str, float], ...]:
        found = self._similar.get(token)
        if found is None:
            found = similar_tokens(self.vocab, token)
            if len(self._similar) > 50_000:
                self._similar.clear()
            self._similar[token] = found
        return found

    def _match(self, position: int, score: float, span: str, exact: frozenset[str] = frozenset()) -> Match:
        return Match(self._ids[position], _display(self._names[position], self._companies[position]), score, span, exact)

    def exact(self, text: str) -> list[Match] | None:
        """E-mail addresses and phone numbers are looked up exactly, never fuzzily."""
        lowered = text.strip().lower()
        if "@" in lowered:
            for word in lowered.split():
                if "@" in word:
                    found = self.emails.find(word.strip(".,;:<>()"), self._stale)
                    return sorted((self._match(p, 100.0, word) for p in set(found)), key=lambda m: m.customer_id)
        key = phone_key(text)
        if key and sum(ch.isdigit() for ch in text) >= 6:
            found = self.phones.find(key, self._stale)
            return sorted((self._match(p, 100.0, text.strip()) for p in set(found)), key=lambda m: m.customer_id)
        return None

    def _holds(self, token: str) -> bool:
        """Whether some live customer holds the token in their name or company."""
        token_id = self.vocab.ids.get(token)
        return token_id is not None and (self.names.holds(token_id, self._stale) or self.companies.holds(token_id, self._stale))

    def bases(self, token: str) -> tuple[str, ...]:
        """The name tokens an unknown typed word may be an inflected form of (see MAX_ENDING);
        none for a word some name holds as it is ("novakova" is Nováková, not Novák)."""
        if len(token) < MIN_STEM or has_cjk(token):
            return ()
        if len(token) == MIN_STEM:
            short = _short_bases(token)
            return () if not short or self._holds(token) else tuple(b for b in short if self._holds(b))
        if self._holds(token):
            return ()
        # a stem left without its vowel ("prochazk" from "Procházkovi" less -ovi) gets it back
        found: list[str] = [token + v for v in VOWELS[:-1] if token[-1] not in VOWELS and self._holds(token + v)]
        for cut in range(1, MAX_ENDING + 1):
            stem = token[:-cut]
            if len(stem) < MIN_STEM:
                break
            # an ending cut off ("horvat-u", "elvin-le"), or a last vowel swapped ("maj-o" for maja)
            # (not a last "e": "Jane" is an English name as often as a Czech form of Jana)
            swapped = (stem + v for v in VOWELS) if cut == 1 and token[-1] in SWAPPED_ENDINGS else ()
            for base in (stem, *swapped):
                if len(base) > MIN_STEM and base not in found and self._holds(base):
                    found.append(base)
        # the longest reading is the nearest: "novakovy" is Nováková before Novák
        longest = max(map(len, found), default=0)
        return tuple(b for b in found if len(b) == longest)

    def _evidence(self, token: str, total: int, bases: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
        """The positions this query token points at (ascending) and how strongly: the best of
        their tokens, weighed by closeness and rarity. An inflected word (`bases`) points at
        the holders of the names it inflects, as a close spelling of them."""
        groups, ids = [], self.vocab.ids
        for base in bases:
            for postings, malus in ((self.names, 0.0), (self.companies, COMPANY_EVIDENCE)):
                holders = postings.holders(ids[base], self._stale)
                if len(holders):
                    rarity = min(RARITY_CAP, math.log(total / len(holders)))
                    groups.append((INFLECTED_SIMILARITY + rarity - malus, holders))
        for name_token, similarity in self.similar_tokens(token):
            for postings, malus in ((self.names, 0.0), (self.companies, COMPANY_EVIDENCE)):
                holders = postings.holders(ids[name_token], self._stale)
                if len(holders):
                    rarity = min(RARITY_CAP, math.log(total / len(holders)))
                    groups.append((similarity + rarity - malus, holders))
        if not groups:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        if sum(len(h) for _, h in groups) > len(self._names) // DENSE:
            # a common word ("jan"): weights laid over an array of every position, weakest
            # first so each ends with its best, is cheaper than sorting the holders
            dense = np.zeros(len(self._names))
            for weight, holders in sorted(groups, key=lambda g: g[0]):
                dense[holders] = weight
            positions = np.flatnonzero(dense)
            return positions, dense[positions]
        positions = np.concatenate([h for _, h in groups])
        weights = np.repeat([w for w, _ in groups], [len(h) for _, h in groups])
        order = np.lexsort((weights, positions))  # by position, the strongest last
        positions, weights = positions[order], weights[order]
        last = np.ones(len(positions), dtype=bool)
        last[:-1] = positions[1:] != positions[:-1]
        return positions[last], weights[last]

    def _combine(self, per_position: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Evidence adds up over the mentioned words: both "jan" and "novak" beat either alone."""
        if len(per_position) == 1:
            return per_position[0]
        if sum(len(p) for p, _ in per_position) > len(self._names) // DENSE:
            total, count = np.zeros(len(self._names)), np.zeros(len(self._names), dtype=np.int32)
            for found, weights in per_position:  # each position once per word: no repeated index
                total[found] += weights
                count[found] += 1
            positions = np.flatnonzero(count)
            weights, everywhere = total[positions], count[positions] == len(per_position)
        else:
            positions, inverse = np.unique(np.concatenate([p for p, _ in per_position]), return_inverse=True)
            weights = np.bincount(inverse, weights=np.concatenate([w for _, w in per_position]))
            everywhere = np.bincount(inverse) == len(per_position)
        if np.count_nonzero(everywhere) >= CANDIDATES:
            # those holding every word outweigh all others, and there are enough of them
            return positions[everywhere], weights[everywhere]
        return positions, weights

    def _strongest(self, positions: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The CANDIDATES positions with the most evidence, strongest first; among equals, the
        shortest names (the mention covers more of them), then the oldest customers."""
        order = np.frombuffer(self._order, dtype=np.int64)
        if len(positions) > CANDIDATES:
            kth = np.partition(weights, len(weights) - CANDIDATES)[len(weights) - CANDIDATES]
            above = np.flatnonzero(weights > kth)
            tied = np.flatnonzero(weights == kth)
            tied = tied[np.argsort(order[positions[tied]], kind="stable")][:CANDIDATES - len(above)]
            keep = np.concatenate((above, tied))
            positions, weights = positions[keep], weights[keep]
        ranked = np.lexsort((order[positions], -weights))
        return positions[ranked]

    def search(self, text: str, limit: int = 5, ignore: frozenset[str] = frozenset()) -> list[Match]:
        found = self._search(text, limit, ignore)
        if found or not has_cjk(text):
            return found
        # nothing holds the characters as typed: a Chinese name typed through a homophone slip
        # of the input method ("刘阳" for 刘洋, "王方" for 王芳) still sounds the same, so its
        # pinyin is looked up as a Latin spelling of the name (runs of a name's length, or the
        # two characters a longer run opens with)
        latin = sounded(text)
        return self._search(latin, limit, ignore) if latin else []

    def _search(self, text: str, limit: int, ignore: frozenset[str]) -> list[Match]:
        ranked = self.rank(text, ignore)
        return ranked if isinstance(ranked, list) else self.score(ranked, limit)

    def rank(self, text: str, ignore: frozenset[str] = frozenset()) -> list[Match] | Ranked:
        """The first half of a search: an e-mail or phone's exact matches, or else the
        CANDIDATES customers with the most evidence (`Ranked`); `score` reads their names."""
        exact = self.exact(text)
        if exact is not None:
            return exact
        key = fold(text)
        tokens = [q for q in _query_tokens(key) if q[0] not in ignore and (len(q[0]) >= 2 or not q[0].isascii())]
        query = [q[0] for q in tokens]
        if not query or not self.live:
            return []
        bases = [self.bases(q) if end == len(q) and start == 0 else () for q, _, start, end in tokens]
        per_position = [self._evidence(token, self.live, found) for token, found in zip(query, bases)]
        positions, weights = self._combine(per_position)
        if not len(positions):
            return []
        # only customers near the best evidence can win; cutting first keeps the ranking cheap.
        # With few strong readings the weaker ones are scored too, they may be what was meant
        # ("sara conner" is Sara Conner, but Sarah Connor is worth showing)
        near = weights >= weights.max() - WEIGHT_MARGIN
        if np.count_nonzero(near) >= CANDIDATES:
            positions, weights = positions[near], weights[near]
        best = self._strongest(positions, weights)
        held = [_members(best, found) for found, _ in per_position]
        spans = [[p for p in range(len(per_position)) if held[p][i]] for i in range(len(best))]
        # which of the typed words and their base forms each candidate holds as it is, read off
        # the postings rather than worked out again from every candidate's name
        holding = {}
        for word in dict.fromkeys(chain(query, chain.from_iterable(bases))):
            token_id = self.vocab.ids.get(word)
            if token_id is not None:
                holding[word] = self.names.held_by(token_id, best, self._stale) | self.companies.held_by(token_id, best, self._stale)
        exact_held = [frozenset(w for w, inside in holding.items() if inside[i]) for i in range(len(best))]
        return Ranked(key, tokens, query, bases, best.tolist(), spans, exact_held)

    def score(self, ranked: Ranked, limit: int) -> list[Match]:
        """The second half of a search: each candidate's name scored with WRatio against the
        words of the mention it matched. Candidates read from the same words (nearly always
        all of them) are scored in one rapidfuzz call per comparison, not one call each."""
        key, tokens, query, bases = ranked.key, ranked.tokens, ranked.query, ranked.bases
        widest = max(len(s) for s in ranked.spans)
        inflected = any(bases)
        spans, names, companies, latin = [], [], [], []
        plain: dict[tuple[int, ...], str] = {}  # the span of the typed words, per set of words matched
        for position, span_positions, held_tokens in zip(ranked.best, ranked.spans, ranked.held):
            name_key, company_key, latin_forms = _keys(self._names[position], self._companies[position])
            # an inflected word is scored as the name it inflects: "elvinle" reads as "elvin"
            read = [next((b for b in found if b in held_tokens), None) for found in bases] if inflected else ()
            if inflected and any(read[p] for p in span_positions):
                key_read = [(read[i] or t[0], *t[1:3], len(read[i]) if read[i] else t[3]) for i, t in enumerate(tokens)]
                spans.append(_span(key, key_read, span_positions))
            else:
                at = tuple(span_positions)
                span = plain.get(at)
                if span is None:
                    span = plain[at] = _span(key, tokens, span_positions)
                spans.append(span)
            names.append(name_key)
            companies.append(company_key)
            latin.append(latin_forms)
        name_scores, company_scores = _wratio_by_span(spans, names, companies)
        scored = []
        for i, (position, span_positions, held_tokens) in enumerate(zip(ranked.best, ranked.spans, ranked.held)):
            span, name_score = spans[i], name_scores[i]
            if latin[i]:  # 王芳 typed "wang fang", Rəşad typed "rashad"
                name_score = max(name_score, *(fuzz.WRatio(span, form) for form in latin[i]))
            # "s.r.o." compared as its letters: a mention naming person and company
            # ("jan novak acme") reads as both, not as a near miss of "... acme s.r.o."
            score = max(name_score, company_scores[i]) if companies[i] else name_score
            held = frozenset(query[p] for p in span_positions if query[p] in held_tokens)
            if len(span_positions) > 1 and len(held) == len({query[p] for p in span_positions}) and has_cjk(span):
                # Chinese words and characters apart ("华信 张": company and surname), each held as
                # typed: as sure as a Latin name typed whole, whatever WRatio makes of the gaps
                score = max(score, 100.0)
            score += EXACT_WORD_BONUS * len(held) / len(span_positions)
            # a customer matching fewer of the mentioned words is a worse reading of the mention
            penalty = 0.9 ** (widest - len(span_positions))
            scored.append([round(score * penalty, 1), round(name_score * penalty, 1), 0.0, self._ids[position], position, span, held, i])
        # on equal scores the person's own name beats a match on their company; then the name the
        # whole mention reads closest to: a word whose close tokens were too many to all be
        # looked at ("luki" in a big book) still tells Luka from Eva Notibrean
        _whole_where_tied(scored, limit, key, names)
        scored.sort(key=lambda s: (-s[0], -s[1], -s[2], s[3]))
        return [self._match(s[4], s[0], s[5], s[6]) for s in scored[:limit]]


def _whole_where_tied(scored: list[list], limit: int, key: str, names: list[str]) -> None:
    """Fill in (s[2]) WRatio of the whole mention against the name of each scored candidate whose
    place among the first `limit` it can decide: those tied on both scores with another
    candidate at or above the `limit`-th. The others' order is settled without it, so it is
    not worked out for them (it was one WRatio per candidate, a good part of a search)."""
    if len(scored) < 2:
        return
    pairs = sorted((-s[0], -s[1]) for s in scored)
    last = pairs[min(limit, len(pairs)) - 1]
    counts: dict[tuple[float, float], int] = {}
    for pair in pairs:
        if pair > last:
            break
        counts[pair] = counts.get(pair, 0) + 1
    tied = [s for s in scored if counts.get((-s[0], -s[1]), 0) > 1]
    if tied:
        found = process.cdist([key], [names[s[7]] for s in tied], scorer=fuzz.WRatio, dtype=np.float64)[0].tolist()
        for s, value in zip(tied, found):
            s[2] = value


def _wratio_by_span(spans: list[str], names: list[str], companies: list[str]) -> tuple[list[float], list[float]]:
    """For each candidate, WRatio of its span against its name, and the better of its span
    against its company and against name and company (letters only); 0 without a company.
    The same numbers as one `fuzz.WRatio` call each, in one `process.cdist` per span."""
    name_scores, company_scores = [0.0] * len(spans), [0.0] * len(spans)
    by_span: dict[str, list[int]] = {}
    for i, span in enumerate(spans):
        by_span.setdefault(span, []).append(i)
    for span, at in by_span.items():
        found = process.cdist([span], [names[i] for i in at], scorer=fuzz.WRatio, dtype=np.float64)[0].tolist()
        for i, value in zip(at, found):
            name_scores[i] = value
        with_company = [i for i in at if companies[i]]
        if with_company:
            alone = process.cdist([span], [companies[i] for i in with_company], scorer=fuzz.WRatio,
                                  processor=default_process, dtype=np.float64)[0]
            both = process.cdist([span], [f"{names[i]} {companies[i]}" for i in with_company], scorer=fuzz.WRatio,
                                 processor=default_process, dtype=np.float64)[0]
            for i, value in zip(with_company, np.maximum(alone, both).tolist()):
                company_scores[i] = value
    return name_scores, company_scores


def base_probes(token: str) -> list[str]:
    """Every word `TeamIndex.bases` may ask about for a typed token: knowing which of them some
    customer holds is enough to work out its bases."""
    if len(token) < MIN_STEM or has_cjk(token):
        return []
    if len(token) == MIN_STEM:
        short = _short_bases(token)
        return [token, *short] if short else []
    probes = [token, *(token + v for v in VOWELS[:-1] if token[-1] not in VOWELS)]
    for cut in range(1, MAX_ENDING + 1):
        stem = token[:-cut]
        if len(stem) < MIN_STEM:
            break
        swapped = [stem + v for v in VOWELS] if cut == 1 and token[-1] in SWAPPED_ENDINGS else []
        probes += [base for base in (stem, *swapped) if len(base) > MIN_STEM]
    return list(dict.fromkeys(probes))


def sounded(text: str) -> str:
    """A Chinese mention as its pinyin: runs of a name's length, or the two characters a longer
    run opens with, each run together ("刘阳" -> "liuyang")."""
    runs = [_pinyin(run if len(run) <= 3 else run[:2]) for run in cjk_runs(fold(text)) if len(run) >= 2]
    return " ".join(forms[len(forms) - 2] for forms in runs if len(forms) >= 3)


def _span(key: str, tokens: list[tuple[str, int, int, int]], positions: list[int]) -> str:
    """The mentioned words a customer matched, CJK bigrams merged back into the text they cover."""
    if all(tokens[p][3] == len(tokens[p][0]) and tokens[p][2] == 0 for p in positions):
        return " ".join(tokens[p][0] for p in positions)  # plain words: the common case, kept cheap
    pieces = words(key)
    covered: dict[int, list[int]] = {}
    for p in positions:
        token, piece, start, end = tokens[p]
        if end == 0:
            covered.setdefault(-1 - p, [0, 0])
            continue
        lo, hi = covered.get(piece, [start, end])
        covered[piece] = [min(lo, start), max(hi, end)]
    out = []
    for piece, (lo, hi) in sorted(covered.items(), key=lambda kv: kv[0] if kv[0] >= 0 else len(pieces) - kv[0]):
        out.append(pieces[piece][lo:hi] if piece >= 0 else tokens[-1 - piece][0])
    return " ".join(out)


SYNC_BATCH = 5_000  # rows read per batch while catching up: bounds the memory a first sync needs


async def _catch_up(session: AsyncSession, index: TeamIndex, team_id: int, off_loop: bool = False) -> bool:
    """Apply every customer row (deleted ones too) changed after the index's revision. Plain
    rows of the columns the index keeps, streamed in batches. The revision moves only once
    every row is in (the caller sets it): a half-read change set is read again in full next
    time, and re-applying a row is harmless. True when the index was built from scratch."""
    c = models.Customer
    columns = (c.id, c.name, c.company, cast(c.emails, Text).label("emails"), cast(c.phones, Text).label("phones"))
    if index.rev < 0:
        return await _first_build(session, index, team_id, columns)
    result = await session.stream(
        # addresses as the stored JSON text and deletion as a flag: decoding them row by row
        # through their column types costs seconds over a million rows
        select(*columns, c.deleted_at.is_not(None).label("deleted"))
        .where(c.team_id == team_id, c.rev > index.rev)
        .order_by(c.id)  # the same order on every engine, so the index is built alike
    )
    async for batch in result.partitions(SYNC_BATCH):
        # the changes since a snapshot can be many: then off the loop, like a build. Later
        # catch-ups are a few rows, applied on the loop, where searches of this team may run.
        if off_loop:
            await asyncio.to_thread(index.apply, batch)
        else:
            index.apply(batch)
    return False


async def _first_build(session: AsyncSession, index: TeamIndex, team_id: int, columns) -> bool:
    """Fill an empty index: from the team's kept snapshot and the changes since, or else from
    every live customer (True then: a snapshot is worth keeping). Either is seconds of CPU at
    1M customers, so it runs in a worker thread and messages of other teams go on meanwhile;
    nobody searches this index before it is filled (every caller waits for the lock)."""
    # What the process holds now (modules, the app, other teams' indexes) lives as long as it:
    # out of the collector's sight first, so the full collections the build sets off walk only
    # what the build makes, and pause other teams' messages for milliseconds, not a tenth of a second
    gc.freeze()
    kept = await snapshot.read(session, team_id)
    restored = await asyncio.to_thread(_restore, kept[1]) if kept else None
    if restored is not None:
        index.take(restored)
        index.rev = kept[0]
        await _catch_up(session, index, team_id, off_loop=True)
        await asyncio.to_thread(_warm)
        gc.freeze()
        return False
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        # straight from the driver (its own thread reads them), each column of a chunk of rows
        # as one string: at 1M customers a million row tuples cost more than the rest of the
        # build, and every full collection meanwhile walked them
        driver = (await connection.get_raw_connection()).driver_connection
        chunks, after = [], 0
        while True:
            chunk = (await driver.execute_fetchall(_SQLITE_CHUNK, (team_id, after, SQLITE_CHUNK_ROWS)))[0]
            if not chunk[0]:
                break
            chunks.append(chunk)
            after = chunk[1]
        built = await asyncio.to_thread(_load_chunks, index, chunks)
        if not built:  # a name holding a NUL, which the strings are cut at: the rows one by one
            rows = await driver.execute_fetchall(*_compiled(connection, _live_rows(team_id, columns)))
            await asyncio.to_thread(lambda: index.load(*(zip(*rows) if rows else ([],) * 5)))
    else:
        rows = []
        async for batch in (await session.stream(_live_rows(team_id, columns))).partitions(SYNC_BATCH):
            rows.extend(tuple(row) for row in batch)
        await asyncio.to_thread(lambda: index.load(*(zip(*rows) if rows else ([],) * 5)))
    await asyncio.to_thread(_warm)
    # what the build made lives as long as the process: out of the collector's sight, so the
    # full collections that later messages set off stay short
    gc.freeze()
    return True


def _live_rows(team_id: int, columns):
    c = models.Customer
    return select(*columns).where(c.team_id == team_id, c.deleted_at.is_(None)).order_by(c.id)


def _compiled(connection, query) -> tuple[str, tuple]:
    compiled = query.compile(dialect=connection.dialect)
    return str(compiled), tuple(compiled.params[name] for name in compiled.positiontup)


# A chunk of a team's live customers in the order of their ids, as one row: the count, the last
# id, then each column's values joined (ids by commas, the rest by NUL; no company is "").
SQLITE_CHUNK_ROWS = 250_000
_SQLITE_CHUNK = (
    "SELECT count(*), max(id), group_concat(id), group_concat(coalesce(name, ''), char(0)),"
    " group_concat(coalesce(company, ''), char(0)), group_concat(coalesce(CAST(emails AS TEXT), ''), char(0)),"
    " group_concat(coalesce(CAST(phones AS TEXT), ''), char(0))"
    f" FROM (SELECT id, name, company, emails, phones FROM {models.Customer.__tablename__}"
    " WHERE team_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?)")


def _load_chunks(index: TeamIndex, chunks: list[tuple]) -> bool:
    """`TeamIndex.load` from the rows `_SQLITE_CHUNK` read; False (nothing loaded) when a value
    holds a NUL, so its column cannot be cut back into values."""
    ids = [np.fromiter(map(int, chunk[2].split(",")), dtype=np.int64, count=chunk[0]) for chunk in chunks]
    columns: list[list[str]] = [[], [], [], []]
    for chunk in chunks:
        for column, joined in zip(columns, chunk[3:]):
            values = joined.split("\0")
            if len(values) != chunk[0]:
                return False
            column += values
    index.load(np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64), *columns)
    return True


def _warm() -> None:
    """Set-ups made once per process on first use (the table that folds marks off non-ASCII
    text, regular expressions, modules numpy and rapidfuzz import when first asked), made with
    the build, by searches of a book of three, rather than by the first message."""
    book = TeamIndex()
    book.load([1, 2, 3], ["Jan Nováková", "张伟", "Rəşad Əliyev"], ["Acme s.r.o.", None, "Bakı Tikinti"],
              ['["jan@acme.cz"]', "[]", "[]"], ['["+420 777 123 456"]', "[]", "[]"])
    for text in ("Jana Novakovou", "jan novak acme", "张伟", "rashad aliyev", "jan@acme.cz", "777 123 456"):
        book.search(text)


def _restore(blob: bytes) -> TeamIndex | None:
    parts = snapshot.decode(blob)
    return TeamIndex.from_parts(parts) if parts is not None else None


def clear_winner(matches: list[Match]) -> Match | None:
    """The one customer a mention means, or None when it is unsure or ambiguous."""
    if not matches:
        return None
    best = matches[0]
    # a close match read from more of the mention than every other close one is the reading
    # ("Jan Novák iz Acme": Jan Novák of Acme, not Jan Novak read from the name alone) ...
    close = _close_to_best(matches)
    widest = [m for m in close if all(set(o.span.split()) < set(m.span.split()) for o in close if o is not m)]
    best = widest[0] if widest else best
    # ... and a match read from only some of the words the best one was read from is no rival
    # ("Evě z Acme" is Eva Kučerová of Acme, not Jan Novák of Acme). Otherwise a close second,
    # or one read from the same words that holds a typed word the best does not ("sara
    # connor": Sarah Connor or Sara Conner), means the mention mixes two customers
    best_words = set(best.span.split())
    rivals = [m for m in matches if m is not best and m.score >= SUGGEST and not set(m.span.split()) < best_words and (
        m.score >= best.score - RIVAL_GAP or (m.score >= ACCEPT and m.span == best.span and m.exact - best.exact))]
    return best if best.score >= ACCEPT and not rivals else None


class CustomerIndex:
    """The fuzzy indexes of every team, owned by the app (no module-level state)."""

    def __init__(self) -> None:
        self._teams: dict[int, TeamIndex] = {}
        self._keeping: set[asyncio.Task] = set()  # snapshots being written
        self._shared = None  # PostgreSQL: crmbot.store.shared_index.SharedIndex

    async def for_team(self, session: AsyncSession, team_id: int) -> TeamIndex:
        index = self._teams.setdefault(team_id, TeamIndex())
        current = await teams.customer_rev(session, team_id)
        if current != index.rev:
            async with index.lock:
                if current != index.rev:
                    built = await _catch_up(session, index, team_id)
                    index.rev = max(index.rev, current)
                    if built:
                        task = asyncio.create_task(self._keep(session.bind, index, team_id, current))
                        self._keeping.add(task)
                        task.add_done_callback(self._keeping.discard)
        return index

    async def _keep(self, engine, index: TeamIndex, team_id: int, rev: int) -> None:
        """Write a fresh build down for the next worker, after the message that built it (whose
        transaction may hold the database's write lock). The lock keeps catch-ups from
        changing the index while it is read; searches only read it and go on."""
        try:
            async with index.lock:
                blob = await asyncio.to_thread(lambda: snapshot.encode(parts) if (parts := index.parts()) else None)
            if blob is not None and await snapshot.write(engine, team_id, rev, blob):
                log.info("kept the customer index of team %s (%d customers, %.0f MB)", team_id, index.live, len(blob) / 1e6)
        except Exception:
            log.exception("could not keep the customer index of team %s", team_id)

    async def close(self) -> None:
        """Wait for snapshots being written."""
        while self._keeping:
            await asyncio.gather(*list(self._keeping), return_exceptions=True)

    async def search(self, session: AsyncSession, team_id: int, text: str, limit: int = 5,
                     about_deal: bool = False, gender: GenderCue | None = None) -> list[Match]:
        """The customers a mention may mean, best first. `about_deal`: the message moves a deal,
        so a company named alone is the one of its people with an open deal (`_settled_by_deals`).
        `gender`: the message says by its grammar whether it means a man or a woman
        (`_settled_by_gender`)."""
        if session.bind.dialect.name == "postgresql":
            # the index lives in the database: this worker holds a team's vocabulary only
            if self._shared is None:
                from crmbot.store.shared_index import SharedIndex  # it builds on this module

                self._shared = SharedIndex()
            matches = await self._shared.search(session, team_id, text, limit)
        else:
            matches = (await self.for_team(session, team_id)).search(text, limit)
        matches = [m for m in matches if not _stranger(m)]
        near = _near_spelling(matches)
        if near:  # "smith" alone may be Jon Smyth mistyped: as close as John Smith until settled
            matches = [replace(m, score=matches[0].score) if m in near else m for m in matches]
        if len(matches) > 1 and gender is not None and clear_winner(matches) is None:
            matches = _settled_by_gender(matches, gender)
        if len(matches) > 1 and clear_winner(matches) is None:
            matches = await _settled_by_deals(session, team_id, text, matches, about_deal, bool(near))
        return matches


@dataclass(frozen=True)
class GenderCue:
    """What a message's grammar says of the person it names: "m" or "f", and the words a man's
    case ending was taken from ("s Horvatem": "horvat"), space separated; None when only a title
    said it ("paní Horvat")."""
    gender: str
    stems: str | None = None
    titled: str | None = None  # the word a title stood beside ("pana Horvata": horvata)


def gender_cue(slots: dict) -> GenderCue | None:
    """The cue a parsed message's slots carry (`parse._gender_said`), if any."""
    said = slots.get("gender")
    return GenderCue(said, slots.get("gender_stem"), slots.get("gender_titled")) if said in ("m", "f") else None


MAX_CASE_ENDING = 3  # "horvatovi": a declined surname is at most this much longer


def _settled_by_gender(matches: list[Match], cue: GenderCue) -> list[Match]:
    """Rivals who share the surname the mention was read from ("Horvat": Luka or Maja) are the
    one of them whose first name is of the gender the message's grammar gives: "pan Horvat",
    "gospe Horvat", "s Horvatem" (a woman's foreign surname is not declined). Every rival's
    first name must say its gender and exactly one must fit; otherwise nothing changes."""
    best = matches[0]
    rivals = _close_to_best(matches)
    if len(rivals) < 2 or len({m.span for m in rivals}) != 1 or " " in best.span:
        return matches
    typed = fold(best.span)
    held = set.intersection(*(set(words(fold(_person(m)))) for m in rivals))
    if cue.stems is None:  # a title beside the surname they share, as typed or declined ("pana Horvata")
        titled = cue.titled or ""
        said = any((typed == h or (typed.startswith(h) and len(typed) - len(h) <= MAX_CASE_ENDING))
                   and titled[:MAX_CASE_ENDING + 1] == h[:MAX_CASE_ENDING + 1] for h in held)
    else:  # the surname they share is the one a man's case ending was taken from
        said = any(s in held and typed.startswith(s) for s in cue.stems.split())
    if not said:
        return matches
    genders = [first_name_gender(_person(m)) for m in rivals]
    fits = [m for m, g in zip(rivals, genders) if g == cue.gender]
    if None in genders or len(fits) != 1:
        return matches
    return _settled_on(matches, fits[0])


def _close_to_best(matches: list[Match]) -> list[Match]:
    """The matches close enough to the best (itself included) to be taken for it."""
    best = matches[0]
    return [m for m in matches if m.score >= SUGGEST and m.score >= best.score - RIVAL_GAP]


def _settled_on(matches: list[Match], chosen: Match) -> list[Match]:
    """The matches with `chosen` first, ahead of the best by more than RIVAL_GAP: the clear winner."""
    lifted = replace(chosen, score=round(matches[0].score + RIVAL_GAP + 1, 1))
    return [lifted, *(m for m in matches if m is not chosen)]


def _person(match: Match) -> str:
    """The person's name of a match, without the company its display adds ("Jan Novák (Acme)")."""
    return match.display.split(" (", 1)[0]


NEAR_SPELLING_MIN = 4  # shorter names ("jan", "eva") differ by a letter from too many others


def _near_spelling(matches: list[Match]) -> list[Match]:
    """The rivals of a best match read from one typed word, its surname as typed ("smith": John
    Smith), whose own surname is one letter away from it (Jon Smyth; Connor and Conner, Schmidt
    and Schmitt). A surname alone is typed from memory, and one letter is the slip people make;
    the words around it (a deal's title) may still settle it."""
    if len(matches) < 2:
        return []
    best = matches[0]
    typed = best.span
    if " " in typed or typed not in best.exact or not typed.isascii() or len(typed) < NEAR_SPELLING_MIN:
        return []
    if words(fold(_person(best)))[-1:] != [typed]:
        return []  # a first name alone is how people name those they know: "Petr", "Sarah"
    near = []
    for m in matches[1:]:
        if m.span != typed or m.exact or m.score < SUGGEST:
            continue
        surname = words(fold(_person(m)))[-1:]
        if any(len(w) >= NEAR_SPELLING_MIN and Levenshtein.distance(w, typed) == 1 for w in surname):
            near.append(m)
    return near


# Welsh initial mutations change how a name begins ("i Gerys" is Cerys, "efo Ddafydd" Dafydd,
# "Nghaerdydd" Caerdydd): the first letters a mutated word may have had (radical forms)
_RADICALS = (("ngh", "c"), ("mh", "p"), ("nh", "t"), ("ng", "g"), ("ch", "c"), ("ph", "p"), ("th", "t"),
             ("dd", "d"), ("g", "c"), ("b", "p"), ("d", "t"), ("f", "bm"), ("l", "l"), ("r", "r"), ("m", "b"), ("n", "d"))


def _first_letters(word: str) -> str:
    """The letters a typed word may begin with as a name: its own first, or its radical's."""
    letters = word[:1]
    for mutated, radical in _RADICALS:
        if word.startswith(mutated):
            letters += radical
            break
    if word[:1] in VOWELS:
        letters += "g"  # soft mutation drops a g: "i Areth" is Gareth
    return letters


def _stranger(match: Match) -> bool:
    """A weak match (below ACCEPT, no word held as typed) read from words that begin with
    other letters than every word of the name and company it matched: "Tina Golob" is not a
    slip for Lina, nor "Kevin Marsh" for Elvin. Slips and case endings change the middle and
    the end of a name, seldom its first letter; a name never in the book is someone new, and
    is offered as new rather than as a "did you mean" of a stranger. A Chinese name is read
    as its pinyin (张伟: zhang, wei)."""
    if match.score >= ACCEPT or match.exact:
        return False
    name = _person(match)
    held = [w for w in (*words(fold(match.display)), *_latin_tokens(fold(name))) if w.isascii() and w[:1].isalpha()]
    typed = [w for w in match.span.split() if w.isascii() and w[:1].isalpha()]
    if not held or not typed:
        return False
    starts = {w[0] for w in held}
    return not any(set(_first_letters(w)) & starts for w in typed)


# a word of a mention beside the name reads as a word of a deal's title when it is this close
DEAL_WORD_SIMILARITY = 85
DEAL_WORD_MIN = 3  # shorter words ("s", "na", "de") say nothing about a deal


def _deal_word(said: str, title_words: set[str]) -> bool:
    return any(said == w or (min(len(said), len(w)) >= DEAL_WORD_MIN and (said.startswith(w) or w.startswith(said)))
               or fuzz.ratio(said, w) >= DEAL_WORD_SIMILARITY for w in title_words if len(w) >= DEAL_WORD_MIN)


async def _settled_by_deals(session: AsyncSession, team_id: int, text: str, matches: list[Match],
                            about_deal: bool = False, near_spelling: bool = False) -> list[Match]:
    """Rivals read from the same name ("Horvat": Luka or Maja) are told apart by what else the
    mention says: the words of one of their open deals ("Horvat ERP", "Dvořák kamery" for the
    "site cameras" deal). Exactly one rival's open deal must hold such a word; that rival
    then leads by more than RIVAL_GAP. When the message moves a deal (`about_deal`), rivals read
    from their company alone ("Acme won": Jan Novák and Eva Kučerová both work there) are the
    one of them with an open deal, when only one has one. Otherwise the matches stay as they were."""
    rivals = _close_to_best(matches)
    if len(rivals) < 2:
        return matches
    named = set(words(fold(" ".join(m.span for m in rivals))))
    said = [w for w in words(fold(text)) if len(w) >= DEAL_WORD_MIN and w not in named and not w.isdigit()]
    if not said and not about_deal:  # nothing the deals could settle
        return matches
    connection = await flushed_connection(session)
    # everyone the mention may mean, not only the close rivals: a deal moved on "novak" is not
    # settled by Jan Novák's deal while Jana Nováková has one too
    plausible = {m.customer_id for m in matches if m.score >= SUGGEST}
    ids = list(plausible | {m.customer_id for m in rivals})
    rows = await connection.execute(select(models.Deal.customer_id, models.Deal.title).where(
        models.Deal.team_id == team_id, models.Deal.deleted_at.is_(None), models.Deal.stage.in_(models.OPEN_STAGES),
        models.Deal.customer_id.in_(ids)))
    titles: dict[int, set[str]] = defaultdict(set)
    dealing: set[int] = set()
    for customer_id, title in rows:
        dealing.add(customer_id)
        titles[customer_id] |= set(words(fold(title or "")))
    # the rivals' own names and companies are in many titles ("Acme website"): not deal words
    held = {m.customer_id: titles.get(m.customer_id, set()) - named for m in rivals}
    hits = [m for m in rivals if any(_deal_word(w, held[m.customer_id]) for w in said)]
    # a deal moved on a name several people share ("Horvat → lost": Luka and Maja Horvat) or on
    # their company is the deal of the one of them who has an open deal
    rivals_dealing = dealing & {m.customer_id for m in rivals}
    if len(hits) != 1 and about_deal and len(rivals_dealing) == 1 and (
            ((_same_name(rivals) or near_spelling) and len(dealing) == 1) or await _company_only(connection, team_id, rivals)):
        hits = [m for m in rivals if m.customer_id in rivals_dealing]
    if len(hits) != 1:
        return matches
    return _settled_on(matches, hits[0])


def _same_name(rivals: list[Match]) -> bool:
    """Whether the rivals were all read from the same typed words, each held as typed by all of
    them: one surname they share ("horvat"), not a near spelling of two names. A Chinese family
    name alone (张 of 张总) is shared too widely to say whose deal it is."""
    spans = {m.span for m in rivals}
    span = next(iter(spans))
    return len(spans) == 1 and not has_cjk(span) and all(set(span.split()) <= m.exact for m in rivals)


COMPANY_ONLY_SIMILARITY = 80  # a mentioned word this close to a word of a person's name names the person


async def _company_only(connection, team_id: int, rivals: list[Match]) -> bool:
    """Whether the rivals were all read from the same words, none of them near a word of any
    rival's own name: the mention named their company, not one of them."""
    if len({m.span for m in rivals}) != 1:
        return False
    span = words(fold(rivals[0].span))
    rows = await connection.execute(select(models.Customer.name).where(
        models.Customer.team_id == team_id, models.Customer.id.in_([m.customer_id for m in rivals])))
    names = {w for (name,) in rows for w in words(fold(name or ""))}
    return bool(span) and not any(w in n or n in w or fuzz.ratio(w, n) >= COMPANY_ONLY_SIMILARITY for w in span for n in names)
