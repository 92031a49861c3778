"""Typo-tolerant customer look-up that stays fast at 1M customers.

An exhaustive rapidfuzz scan over every name costs ~2 s at 1M customers, so each team gets an
in-memory inverted index from name/company tokens to customers. A query's tokens are matched
against the token vocabulary through `TokenIndex` (shared character bigrams, so only the few
tokens that can be close are scored: the same tokens a scan of the whole vocabulary would
find), the customers holding similar tokens are ranked by how rare and how close those tokens
are, and only the best few are scored with WRatio against the full name.

The index follows the database, not the other way round: every customer write bumps the
team's `customer_rev`, and each search first reads that one number and re-reads only the
rows changed since, so customers added by another process or worker are found at once."""

from __future__ import annotations

import asyncio
import gc
import heapq
import json
import math
import re
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, teams
from crmbot.store.token_index import TokenIndex
from crmbot.text import CJK, bigrams, cjk_runs, fold, has_cjk, phone_key, words

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


def _name_tokens(key: str, person: bool = False) -> list[str]:
    """Index tokens of a folded name: its words, and for text written without spaces (Chinese)
    its character bigrams, so 华信 finds 上海华信科技; a person's first character is their
    family name, so 张总 (Mr Zhang) finds 张伟 and 张丽."""
    if not has_cjk(key):
        return words(key)  # most names: their words are their tokens
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


def _latin_tokens(key: str) -> list[str]:
    """A Chinese person's name as colleagues type it in Latin letters: its pinyin syllables
    ("wang", "fang"), run together ("wangfang") and as initials ("wf"), so "ms wang", "Li Na"
    and "zl" find 王芳, 李娜 and 张丽. Other names have no such tokens."""
    runs = cjk_runs(key)
    if not runs or len(runs[0]) > 4:
        return []
    from pypinyin import lazy_pinyin  # only books with Chinese names pay for its tables

    syllables = [fold(s) for s in lazy_pinyin(runs[0])]
    return [*syllables, "".join(syllables), "".join(s[0] for s in syllables)]


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


def _json_list(text: str | None) -> list[str]:
    """A JSON list of strings as stored. The usual one-address list is read without the JSON
    parser, which would cost seconds over a million rows."""
    if not text or text == "[]":
        return []
    if text.startswith('["') and text.endswith('"]') and '"' not in text[2:-2] and "\\" not in text:
        return [text[2:-2]]
    return json.loads(text) or []


class _Entry(NamedTuple):
    display: str
    name_key: str
    company_key: str
    name_tokens: tuple[str, ...]
    company_tokens: tuple[str, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    latin_key: str = ""  # a Chinese name as typed in Latin letters: "wang fang|wangfang|wf"


def _display(row) -> str:
    return f"{row.name} ({row.company})" if row.company else row.name


@dataclass
class TeamIndex:
    rev: int = -1
    entries: dict[int, _Entry] = field(default_factory=dict)
    # every distinct token once, with the index that finds the ones close to a typed word
    vocab: TokenIndex = field(default_factory=TokenIndex)
    # token -> customers with that token in their name / in their company; arrays, not sets,
    # so 350k postings are not 350k objects for the garbage collector to walk
    names: dict[str, array] = field(default_factory=dict)
    companies: dict[str, array] = field(default_factory=dict)
    # tuples, not sets: nearly every address has one holder, and 100k sets cost ~40 MB
    by_email: dict[str, tuple[int, ...]] = field(default_factory=dict)
    by_phone: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # customer -> sort key among equal evidence: name length, then id. Of those holding the same
    # tokens the shortest name is the one the mention covers most ("prochazka": Jan Procházka
    # before Vojtěch Procházka), which is also what WRatio will prefer.
    _order: dict[int, int] = field(default_factory=dict)
    _similar: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- keeping up with the database -------------------------------------------------------

    def apply(self, rows) -> None:
        """Take in changed customer rows, as `_catch_up` reads them."""
        vocab_size = len(self.vocab)
        folded = _WordFolder()
        for row in rows:
            self._remove(row.id)
            if not row.deleted:
                self._add(row, folded)
        if len(self.vocab) > vocab_size:
            self._similar.clear()

    def _add(self, row, fold_words: _WordFolder) -> None:
        name_key, company_key = fold_words(row.name or ""), fold_words(row.company or "")
        add = self.vocab.add
        latin = _latin_tokens(name_key)
        typed = [t for t in _typed_tokens(row.name or "") if t not in name_key.split()]
        name_tokens = tuple(add(t) for t in dict.fromkeys([*_name_tokens(name_key, person=True), *latin, *typed]))
        company_tokens = tuple(add(t) for t in dict.fromkeys(_name_tokens(company_key)) if t not in name_tokens)
        entry = _Entry(
            display=_display(row),
            name_key=name_key,
            company_key=company_key,
            name_tokens=name_tokens,
            company_tokens=company_tokens,
            emails=tuple(e.lower() for e in _json_list(row.emails)),
            phones=tuple(k for k in map(phone_key, _json_list(row.phones)) if k),
            latin_key=f"{' '.join(latin[:-2])}|{latin[-2]}|{latin[-1]}" if latin else " ".join(_typed_tokens(row.name or "")),
        )
        self.entries[row.id] = entry
        self._order[row.id] = (len(name_key) << 40) | row.id
        for tokens, postings in ((name_tokens, self.names), (company_tokens, self.companies)):
            for token in tokens:
                holders = postings.get(token)
                if holders is None:
                    holders = postings[token] = array("i")
                holders.append(row.id)
        for email in entry.emails:
            self.by_email[email] = self.by_email.get(email, ()) + (row.id,)
        for phone in entry.phones:
            self.by_phone[phone] = self.by_phone.get(phone, ()) + (row.id,)

    def _remove(self, customer_id: int) -> None:
        entry = self.entries.pop(customer_id, None)
        if entry is None:
            return
        del self._order[customer_id]
        for tokens, postings in ((entry.name_tokens, self.names), (entry.company_tokens, self.companies)):
            for token in tokens:
                holders = postings[token]
                holders.remove(customer_id)
                if not holders:
                    del postings[token]
        for keys, holders in ((entry.emails, self.by_email), (entry.phones, self.by_phone)):
            for key in keys:
                left = tuple(i for i in holders.get(key, ()) if i != customer_id)
                if left:
                    holders[key] = left
                else:
                    holders.pop(key, None)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocab)

    # -- searching -----------------------------------------------------------------------------

    def similar_tokens(self, token: str) -> tuple[tuple[str, float], ...]:
        found = self._similar.get(token)
        if found is None:
            cutoff = TOKEN_CUTOFF_SHORT if len(token) <= 3 else TOKEN_CUTOFF
            # sorted by the token too, so ties do not depend on the order customers arrived in
            found = tuple(sorted(self.vocab.similar(token, cutoff), key=lambda ts: (-ts[1], ts[0]))[:SIMILAR_TOKENS])
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
                    ids = self.by_email.get(word.strip(".,;:<>()"), ())
                    return [Match(i, self.entries[i].display, 100.0, word) for i in sorted(ids)]
        key = phone_key(text)
        if key and sum(ch.isdigit() for ch in text) >= 6:
            ids = self.by_phone.get(key, ())
            return [Match(i, self.entries[i].display, 100.0, text.strip()) for i in sorted(ids)]
        return None

    def bases(self, token: str) -> tuple[str, ...]:
        """The name tokens an unknown typed word may be an inflected form of (see MAX_ENDING);
        none for a word some name holds as it is ("novakova" is Nováková, not Novák)."""
        if len(token) <= MIN_STEM or has_cjk(token) or token in self.names or token in self.companies:
            return ()
        # a stem left without its vowel ("prochazk" from "Procházkovi" less -ovi) gets it back
        found: list[str] = [token + v for v in VOWELS[:-1] if token[-1] not in VOWELS and (token + v in self.names or token + v in self.companies)]
        for cut in range(1, MAX_ENDING + 1):
            stem = token[:-cut]
            if len(stem) < MIN_STEM:
                break
            # an ending cut off ("horvat-u", "elvin-le"), or a last vowel swapped ("maj-o" for maja)
            # (not a last "e": "Jane" is an English name as often as a Czech form of Jana)
            swapped = (stem + v for v in VOWELS) if cut == 1 and token[-1] in SWAPPED_ENDINGS else ()
            for base in (stem, *swapped):
                if len(base) > MIN_STEM and (base in self.names or base in self.companies) and base not in found:
                    found.append(base)
        # the longest reading is the nearest: "novakovy" is Nováková before Novák
        longest = max(map(len, found), default=0)
        return tuple(b for b in found if len(b) == longest)

    def _evidence(self, token: str, total: int) -> dict[int, float]:
        """customer -> how strongly this query token points at them (the best of their tokens)."""
        weighed = []
        for base in self.bases(token):
            for postings, malus in ((self.names, 0.0), (self.companies, COMPANY_EVIDENCE)):
                holders = postings.get(base)
                if holders:
                    rarity = min(RARITY_CAP, math.log(total / len(holders)))
                    weighed.append((INFLECTED_SIMILARITY + rarity - malus, base, malus, holders))
        for name_token, similarity in self.similar_tokens(token):
            for postings, malus in ((self.names, 0.0), (self.companies, COMPANY_EVIDENCE)):
                holders = postings.get(name_token)
                if holders:
                    rarity = min(RARITY_CAP, math.log(total / len(holders)))
                    weighed.append((similarity + rarity - malus, name_token, malus, holders))
        best: dict[int, float] = {}
        # weakest first, so each customer ends with its strongest evidence (dict updates run in C)
        weighed.sort(key=lambda w: (w[0], w[1], w[2]))
        for weight, _, _, holders in weighed:
            best.update(dict.fromkeys(holders, weight))
        return best

    @staticmethod
    def _combine(per_position: list[dict[int, float]]) -> dict[int, float]:
        """Evidence adds up over the mentioned words: both "jan" and "novak" beat either alone."""
        everywhere = set(per_position[0]).intersection(*per_position[1:])
        if len(everywhere) >= CANDIDATES:
            # those holding every word outweigh all others, and there are enough of them
            return {c: sum(found[c] for found in per_position) for c in everywhere}
        weight_of: dict[int, float] = defaultdict(float)
        for found in per_position:
            for customer_id, weight in found.items():
                weight_of[customer_id] += weight
        return weight_of

    def _strongest(self, near: list[int], weight_of: dict[int, float]) -> list[int]:
        """The CANDIDATES customers with the most evidence; among equals, the shortest names
        (the mention covers more of them), then the oldest customers."""
        if len(near) <= CANDIDATES:
            return near
        tied: dict[float, list[int]] = defaultdict(list)
        for customer_id in near:
            tied[weight_of[customer_id]].append(customer_id)
        best: list[int] = []
        for weight in sorted(tied, reverse=True):
            group = tied[weight]
            if len(best) + len(group) > CANDIDATES:
                group.sort(key=self._order.__getitem__)  # a C-level key: thousands of ties stay cheap
            best.extend(group[: CANDIDATES - len(best)])
            if len(best) >= CANDIDATES:
                break
        return best

    def search(self, text: str, limit: int = 5, ignore: frozenset[str] = frozenset()) -> list[Match]:
        exact = self.exact(text)
        if exact is not None:
            return exact[:limit]
        key = fold(text)
        tokens = [q for q in _query_tokens(key) if q[0] not in ignore and (len(q[0]) >= 2 or not q[0].isascii())]
        query = [q[0] for q in tokens]
        if not query or not self.entries:
            return []
        total = len(self.entries)
        per_position = [self._evidence(token, total) for token in query]
        weight_of = per_position[0] if len(per_position) == 1 else self._combine(per_position)
        if not weight_of:
            return []
        # only customers near the best evidence can win; cutting first keeps the ranking cheap
        floor = max(weight_of.values()) - WEIGHT_MARGIN
        near = [c for c, w in weight_of.items() if w >= floor]
        if len(near) < CANDIDATES:
            # few strong readings: let weaker ones be scored too, they may be what was meant
            # ("sara conner" is Sara Conner, but Sarah Connor is worth showing)
            near = heapq.nlargest(CANDIDATES, weight_of, key=weight_of.__getitem__)
        entries = self.entries
        best = self._strongest(near, weight_of)
        spans = [[p for p, found in enumerate(per_position) if c in found] for c in best]
        widest = max(len(positions) for positions in spans)
        scored = []
        bases = [self.bases(q) if end == len(q) and start == 0 else () for q, _, start, end in tokens]
        for customer_id, positions in zip(best, spans):
            entry = entries[customer_id]
            own = set(entry.name_tokens) | set(entry.company_tokens)
            # an inflected word is scored as the name it inflects: "elvinle" reads as "elvin"
            read = [next((b for b in bases[p] if b in own), None) for p in range(len(tokens))]
            if any(read[p] for p in positions):
                key_read = [(read[i] or t[0], *t[1:3], len(read[i]) if read[i] else t[3]) for i, t in enumerate(tokens)]
                span = _span(key, key_read, positions)
            else:
                span = _span(key, tokens, positions)
            name_score = fuzz.WRatio(span, entry.name_key)
            if entry.latin_key:
                name_score = max(name_score, *(fuzz.WRatio(span, form) for form in entry.latin_key.split("|")))
            score = name_score
            if entry.company_key:
                # "s.r.o." compared as its letters: a mention naming person and company
                # ("jan novak acme") reads as both, not as a near miss of "... acme s.r.o."
                score = max(score, fuzz.WRatio(span, entry.company_key, processor=default_process),
                            fuzz.WRatio(span, f"{entry.name_key} {entry.company_key}", processor=default_process))
            held = frozenset(query[p] for p in positions if query[p] in entry.name_tokens or query[p] in entry.company_tokens)
            score += EXACT_WORD_BONUS * len(held) / len(positions)
            # a customer matching fewer of the mentioned words is a worse reading of the mention
            penalty = 0.9 ** (widest - len(positions))
            whole = fuzz.WRatio(key, entry.name_key)
            scored.append((round(score * penalty, 1), round(name_score * penalty, 1), whole, customer_id, span, held))
        # on equal scores the person's own name beats a match on their company; then the name the
        # whole mention reads closest to: a word whose close tokens were too many to all be
        # looked at ("luki" in a big book) still tells Luka from Eva Notibrean
        scored.sort(key=lambda s: (-s[0], -s[1], -s[2], s[3]))
        return [Match(c, entries[c].display, score, span, held) for score, _, _, c, span, held in scored[:limit]]


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


async def _catch_up(session: AsyncSession, index: TeamIndex, team_id: int) -> None:
    """Apply every customer row (deleted ones too) changed after the index's revision. Plain
    rows of the columns the index keeps, streamed in batches: at 100k customers, ORM objects
    read all at once cost seconds and hundreds of MB. The revision moves only once every row is
    in (the caller sets it): a half-read change set is read again in full next time, and
    re-applying a row is harmless."""
    c = models.Customer
    # a first build is seconds of CPU at 1M customers: it runs in a worker thread, so messages of
    # other teams go on meanwhile. Nobody searches the index before it is built (every caller
    # waits for the lock), so no search can run while the thread changes it. Later catch-ups
    # are a few rows, applied on the loop, where searches of this team may be running.
    off_loop = index.rev < 0
    result = await session.stream(
        # addresses as the stored JSON text and deletion as a flag: decoding them row by row
        # through their column types was most of the time a first build took
        select(c.id, c.name, c.company, cast(c.emails, Text).label("emails"), cast(c.phones, Text).label("phones"),
               c.deleted_at.is_not(None).label("deleted"))
        .where(c.team_id == team_id, c.rev > index.rev)
        .order_by(c.id)  # the same order on every engine, so the index is built alike
    )
    async for batch in result.partitions(SYNC_BATCH):
        if off_loop:
            await asyncio.to_thread(index.apply, batch)
            # what the build made lives as long as the process: out of the collector's sight,
            # so the full collections a growing build sets off stay short
            gc.freeze()
        else:
            index.apply(batch)


def clear_winner(matches: list[Match]) -> Match | None:
    """The one customer a mention means, or None when it is unsure or ambiguous."""
    if not matches:
        return None
    best = matches[0]
    # a close second, or one read from the same words that holds a typed word the best does
    # not ("sara connor": Sarah Connor or Sara Conner): the mention mixes two customers
    rivals = [m for m in matches[1:] if m.score >= SUGGEST and (
        m.score >= best.score - RIVAL_GAP or (m.score >= ACCEPT and m.span == best.span and m.exact - best.exact))]
    return best if best.score >= ACCEPT and not rivals else None


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
                    await _catch_up(session, index, team_id)
                    index.rev = max(index.rev, current)
        return index

    async def search(self, session: AsyncSession, team_id: int, text: str, limit: int = 5) -> list[Match]:
        return (await self.for_team(session, team_id)).search(text, limit)
