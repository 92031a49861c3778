"""The distinct name tokens of a team, and which of them a typed word is close to, without
comparing the word with every token.

Each token is indexed under its padded character bigrams ("\\x02n no ov va ak k\\x03" for "novak"),
a repeated bigram under its occurrence number, so shared keys count the bigrams two words have
in common as a multiset. That count bounds how far apart two words can be: turning a word of L
characters into one of M by D deletions and I insertions (d = D + I, the InDel distance that
`fuzz.ratio` measures) destroys at most 2 bigrams per deletion and 1 per insertion, so at least
(L + M + 2 - 3d) / 2 bigrams survive. `fuzz.ratio(q, t) >= cutoff` allows at most
d = (1 - cutoff/100)(L + M), so every token within the cutoff shares at least that many bigrams
with the query: counting shared bigrams over the postings (numpy, outside Python objects)
finds them all, and only those few are scored with `fuzz.ratio`. The answer is exactly that of
scoring the whole vocabulary. InDel edits also come with the parity of L + M (d = L + M - 2 LCS),
which tightens the bound by one edit where the cutoff allows an odd number.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process

START, END = "\x02", "\x03"  # padding: first and last letters get bigrams of their own
UNREACHABLE = 1 << 30  # shared bigrams needed by a length too far from the query's
BULK_CHUNK = 50_000  # tokens whose bigrams a bulk build works out at once


def bigram_keys(token: str) -> list[int]:
    """The padded bigrams of a token as numbers (first code point << 21 | second, then << 8 for
    the occurrence): the second "ov" of a word is counted apart from the first."""
    codes = [ord(c) for c in f"{START}{token}{END}"]
    keys = [((a << 21) | b) << 8 for a, b in zip(codes, codes[1:])]
    if len(set(keys)) == len(keys):
        return keys  # nearly every word: no bigram repeats
    seen: dict[int, int] = {}
    for i, key in enumerate(keys):
        n = seen.get(key, 0)
        seen[key] = n + 1
        keys[i] = key | min(n, 255)
    return keys


def _bulk_bigram_keys(tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """bigram_keys of many tokens at once, in numpy: (the key, the token's number) per bigram,
    token by token."""
    padded = START + f"{END}{START}".join(tokens) + END
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens)) + 2
    owners = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths - 1)
    last = np.cumsum(lengths) - 1  # each token's END: no bigram starts there
    starts = np.delete(np.arange(len(codes) - 1), last[:-1])
    keys = ((codes[starts] << 21) | codes[starts + 1]) << 8
    # the occurrence of each bigram within its token: its rank among equal (token, bigram) pairs
    order = np.lexsort((keys, owners))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (keys[order][1:] != keys[order][:-1]) | (owners[order][1:] != owners[order][:-1])
    index = np.arange(len(order))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = index - np.maximum.accumulate(np.where(new, index, 0))
    return keys | np.minimum(rank, 255), owners


@lru_cache(maxsize=1024)
def shared_needed(length: int, cutoff: float, longest: int) -> np.ndarray:
    """For each token length 0..longest, the fewest bigrams a token of that length shares with a
    query of `length` characters when their `fuzz.ratio` reaches `cutoff` (UNREACHABLE when the
    lengths alone rule it out). Read-only: it is shared between calls."""
    need = np.full(longest + 1, UNREACHABLE, dtype=np.int64)
    for other in range(1, longest + 1):
        # the most InDel edits the cutoff allows; a hair of slack keeps float rounding on our side
        most = math.floor((1 - cutoff / 100) * (length + other) + 1e-9)
        most -= (most - length - other) % 2  # InDel edits come with the parity of the lengths' sum
        if abs(length - other) <= most:
            need[other] = max(1, math.ceil((length + other + 2 - 3 * most) / 2))
    need.setflags(write=False)
    return need


class Vocabulary:
    """Distinct tokens numbered 0, 1, ...: `tokens[i]` is a token, `ids[token]` (or `ids.get`)
    its number. A first build (`bulk`) keeps them outside Python objects, in one UTF-8 buffer
    with offsets and a sorted array of their hashes (a million customers' 400k tokens are a
    few MB there, against ~60 MB as strings in a dict, and nothing for the collector to walk);
    tokens added one at a time later are kept as strings in a list and a dict."""

    def __init__(self) -> None:
        self._blob = b""
        self._offsets = array("q", [0])  # token i is _blob[_offsets[i]:_offsets[i + 1]]
        self._hashes = array("q")  # the bulk tokens' hashes, ascending
        self._by_hash = array("i")  # the token holding each of them
        self._bulk = 0
        self._later: list[str] = []
        self._later_ids: dict[str, int] = {}
        # token -> number (`[]`, `.get`, `in`, `.items`): a plain dict until a compact bulk build
        self.ids: dict[str, int] | Vocabulary = self._later_ids

    @classmethod
    def bulk(cls, tokens: list[str], compact: bool = True) -> Vocabulary:
        """Distinct tokens, numbered in their order; not `compact`: as strings in a list and a
        dict, which answer `ids[token]` a few µs sooner (an index searched on the event loop
        asks a hundred of them a search, and keeps its memory to itself)."""
        vocabulary = cls()
        n = len(tokens)
        if not n:
            return vocabulary
        if not compact:
            vocabulary._later = list(tokens)
            vocabulary._later_ids = vocabulary.ids = dict(zip(tokens, range(n)))
            return vocabulary
        lengths = np.fromiter((len(t.encode("utf-8", "surrogatepass")) for t in tokens), dtype=np.int64, count=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        vocabulary._blob = "".join(tokens).encode("utf-8", "surrogatepass")
        vocabulary._offsets = array("q", offsets.tobytes())
        # hash() of a str is this process's own (a snapshot keeps the tokens, never these)
        hashes = np.fromiter(map(hash, tokens), dtype=np.int64, count=n)
        order = np.argsort(hashes, kind="stable")
        vocabulary._hashes = array("q", hashes[order].tobytes())
        vocabulary._by_hash = array("i", order.astype(np.int32).tobytes())
        vocabulary._bulk = n
        vocabulary.ids = vocabulary
        return vocabulary

    def __len__(self) -> int:
        return self._bulk + len(self._later)

    def __getitem__(self, item):
        """tokens[i] (a token) or ids[token] (its number)."""
        if isinstance(item, str):
            found = self.get(item)
            if found is None:
                raise KeyError(item)
            return found
        if item < self._bulk:
            return self._blob[self._offsets[item]:self._offsets[item + 1]].decode("utf-8", "surrogatepass")
        return self._later[item - self._bulk]

    def __iter__(self):
        for i in range(self._bulk):
            yield self[i]
        yield from self._later

    def __contains__(self, token: str) -> bool:
        return self.get(token) is not None

    def get(self, token: str, default: int | None = None) -> int | None:
        found = self._later_ids.get(token)
        if found is not None:
            return found
        if self._bulk:
            key, hashes = hash(token), self._hashes
            at = bisect_left(hashes, key)
            while at < self._bulk and hashes[at] == key:
                i = self._by_hash[at]
                if self[i] == token:
                    return i
                at += 1
        return default

    def items(self):
        return ((token, i) for i, token in enumerate(self))

    def pick(self, numbers: list[int]) -> list[str]:
        """The tokens of these numbers."""
        blob, offsets, bulk, later = self._blob, self._offsets, self._bulk, self._later
        if not bulk:  # kept as strings (not compact): no decoding, no test per token
            return [later[i] for i in numbers]
        return [blob[offsets[i]:offsets[i + 1]].decode("utf-8", "surrogatepass") if i < bulk else later[i - bulk]
                for i in numbers]

    def append(self, token: str) -> int:
        number = self._later_ids[token] = len(self)
        self._later.append(token)
        return number


class TokenIndex:
    """Tokens only ever join the vocabulary: a token no customer holds any more is still
    answered, and the caller finds no one holding it.

    A first build (`extend`) lays the postings out as one sorted array with offsets per bigram
    (CSR), built in numpy; tokens added one at a time later go to small per-bigram arrays."""

    def __init__(self, compact: bool = False) -> None:
        # compact: the tokens kept outside Python objects (`Vocabulary`): a PostgreSQL worker,
        # which holds nothing else of the team's customers
        self.compact = compact
        self.tokens = Vocabulary()
        self.ids = self.tokens.ids  # token -> its number (`get`, `[]`, `in`)
        self._lengths = array("i")
        self._longest = 0
        # bulk postings: bigram key -> row; ids of row r are _base_ids[_base_ptr[r]:_base_ptr[r + 1]]
        self._base_rows: dict[int, int] = {}
        self._base_ptr = np.zeros(1, dtype=np.int64)
        self._base_ids = np.zeros(0, dtype=np.int32)
        self._need_cache: dict[tuple[int, float], np.ndarray] = {}
        # bigram key -> ids of the tokens added after the bulk build; arrays keep them out of the GC's way
        self._postings: dict[int, array] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    def extend(self, tokens: list[str], distinct: bool = False) -> None:
        """Add many new tokens at once (a first build): their postings are laid out in numpy.
        Tokens already known are skipped; `distinct` says the list holds each token once."""
        if not distinct or len(self.tokens):
            tokens = [t for t in dict.fromkeys(tokens) if t not in self.ids]
        if not tokens:
            return
        if len(self.tokens) or self._base_rows:
            for token in tokens:
                self.add(token)
            return
        self.tokens = Vocabulary.bulk(tokens, self.compact)
        self.ids = self.tokens.ids
        lengths = np.fromiter(map(len, tokens), dtype=np.int32, count=len(tokens))
        self._lengths = array("i", lengths.tobytes())
        self._longest = int(lengths.max())
        # Two passes over chunks of tokens, so that no array of every bigram is held twice (a
        # new worker's peak memory is this): the distinct bigrams first, then each (bigram's
        # row << 32 | token) pair into one array sorted in place, rows ascending, then tokens.
        # Not compact (a SQLite worker, whose peak is its whole book anyway): each chunk's bigrams
        # are kept from the first pass for the second (~60 MB at 1M customers) rather than worked
        # out twice (half a second).
        chunks = range(0, len(tokens), BULK_CHUNK)
        bigrams = np.zeros(0, dtype=np.int64)
        kept: list[tuple[np.ndarray, np.ndarray]] = []
        for at in chunks:
            keys, owners = _bulk_bigram_keys(tokens[at:at + BULK_CHUNK])
            bigrams = np.union1d(bigrams, keys)
            if not self.compact:
                kept.append((keys, owners))
        pairs = np.empty(int(lengths.sum()) + len(tokens), dtype=np.int64)  # L letters: L + 1 padded bigrams
        filled = 0
        for number, at in enumerate(chunks):
            keys, owners = kept[number] if kept else _bulk_bigram_keys(tokens[at:at + BULK_CHUNK])
            pairs[filled:filled + len(keys)] = (np.searchsorted(bigrams, keys) << 32) | (owners + at)
            filled += len(keys)
        del keys, owners, kept
        pairs.sort()
        self._base_ids = pairs.astype(np.int32)  # the low 32 bits: the token
        pairs >>= 32
        self._base_ptr = np.zeros(len(bigrams) + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs, minlength=len(bigrams)), out=self._base_ptr[1:])
        del pairs
        self._base_rows = dict(zip(bigrams.tolist(), range(len(bigrams))))

    def parts(self) -> dict[str, object] | None:
        """What a snapshot keeps: the bulk build only (None once tokens were added one by one)."""
        if self._postings:
            return None
        return {"tokens": list(self.tokens), "lengths": np.frombuffer(self._lengths, dtype=np.int32).copy(),
                "bigrams": np.fromiter(self._base_rows, dtype=np.int64, count=len(self._base_rows)),
                "bigram_ptr": self._base_ptr, "bigram_ids": self._base_ids}

    @classmethod
    def from_parts(cls, parts: dict) -> TokenIndex:
        index = cls()
        index.tokens = Vocabulary.bulk(parts["tokens"], compact=False)
        index.ids = index.tokens.ids
        index._lengths = array("i", parts["lengths"].tobytes())
        index._longest = int(parts["lengths"].max()) if len(parts["lengths"]) else 0
        index._base_rows = dict(zip(parts["bigrams"].tolist(), range(len(parts["bigrams"]))))
        index._base_ptr, index._base_ids = parts["bigram_ptr"], parts["bigram_ids"]
        return index

    def add(self, token: str) -> str:
        """The vocabulary's own copy of the token (every holder shares one string)."""
        token_id = self.ids.get(token)
        if token_id is not None:
            return self.tokens[token_id]
        token_id = self.tokens.append(token)
        self._lengths.append(len(token))
        self._longest = max(self._longest, len(token))
        postings = self._postings
        for key in bigram_keys(token):
            ids = postings.get(key)
            if ids is None:
                ids = postings[key] = array("i")
            ids.append(token_id)
        return token

    def _lists(self, token: str) -> list[np.ndarray]:
        out = []
        rows, ptr, base = self._base_rows, self._base_ptr, self._base_ids
        for key in bigram_keys(token):
            row = rows.get(key)
            if row is not None:
                out.append(base[ptr[row]:ptr[row + 1]])
            ids = self._postings.get(key)
            if ids:
                out.append(np.array(ids, dtype=np.int32))
        return out

    def similar(self, token: str, cutoff: float, limit: int | None = None) -> list[tuple[str, float]]:
        """Every vocabulary token whose `fuzz.ratio` with `token` is at least `cutoff`, with it;
        with a limit, only the `limit` best by (score descending, token), exactly those."""
        lists = self._lists(token)
        if not lists:
            return []
        shared = np.bincount(np.concatenate(lists))
        # over the whole vocabulary, in C: cheaper than sorting the hits when words share a lot
        candidates = np.flatnonzero(shared >= self._needed(len(token), cutoff)[:len(shared)])
        if not len(candidates):
            return []
        found = self._scored(token, candidates, cutoff)
        if limit is None:
            return found
        if len(found) > limit:  # the limit-th best score, and every token that ties with it
            kth = sorted((score for _, score in found), reverse=True)[limit - 1]
            found = [(word, score) for word, score in found if score >= kth]
        return sorted(found, key=lambda ts: (-ts[1], ts[0]))[:limit]

    def _needed(self, length: int, cutoff: float) -> np.ndarray:
        """`shared_needed` of each token's length, kept per (length, cutoff) until the
        vocabulary grows: small integers, so a few dozen of them cost a few MB at 1M."""
        key = (length, cutoff)
        found = self._need_cache.get(key)
        if found is None or len(found) != len(self.tokens):
            need = np.minimum(shared_needed(length, cutoff, self._longest), 127).astype(np.int8)
            found = self._need_cache[key] = need[np.frombuffer(self._lengths, dtype=np.int32)]
        return found

    def _scored(self, token: str, candidates: np.ndarray, cutoff: float) -> list[tuple[str, float]]:
        words = self.tokens.pick(candidates.tolist())
        scores = process.cdist([token], words, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.float64)[0]
        return [(words[i], float(scores[i])) for i in np.flatnonzero(scores >= cutoff).tolist()]
