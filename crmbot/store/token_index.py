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
scoring the whole vocabulary.
"""

from __future__ import annotations

import math
import operator
from array import array
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process

START, END = "\x02", "\x03"  # padding: first and last letters get bigrams of their own
UNREACHABLE = 1 << 30  # shared bigrams needed by a length too far from the query's


def bigram_keys(token: str) -> list[str]:
    """The padded bigrams of a token, the second "ov" of a word as "ov1" and so on."""
    padded = f"{START}{token}{END}"
    seen: dict[str, int] = {}
    keys = []
    for i in range(len(padded) - 1):
        gram = padded[i:i + 2]
        n = seen.get(gram, 0)
        seen[gram] = n + 1
        keys.append(gram if n == 0 else f"{gram}{n}")
    return keys


@lru_cache(maxsize=1024)
def shared_needed(length: int, cutoff: float, longest: int) -> np.ndarray:
    """For each token length 0..longest, the fewest bigrams a token of that length shares with a
    query of `length` characters when their `fuzz.ratio` reaches `cutoff` (UNREACHABLE when the
    lengths alone rule it out). Read-only: it is shared between calls."""
    need = np.full(longest + 1, UNREACHABLE, dtype=np.int64)
    for other in range(1, longest + 1):
        # the most InDel edits the cutoff allows; a hair of slack keeps float rounding on our side
        most = math.floor((1 - cutoff / 100) * (length + other) + 1e-9)
        if abs(length - other) <= most:
            need[other] = max(1, math.ceil((length + other + 2 - 3 * most) / 2))
    need.setflags(write=False)
    return need


class TokenIndex:
    """Tokens only ever join the vocabulary: a token no customer holds any more is still
    answered, and the caller finds no one holding it."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ids: dict[str, int] = {}
        self._lengths = array("i")
        self._longest = 0
        # bigram key -> ids of the tokens that have it; arrays keep the ids out of the GC's way
        self._postings: dict[str, array] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    def add(self, token: str) -> str:
        """The vocabulary's own copy of the token (every holder shares one string)."""
        token_id = self.ids.get(token)
        if token_id is not None:
            return self.tokens[token_id]
        token_id = self.ids[token] = len(self.tokens)
        self.tokens.append(token)
        self._lengths.append(len(token))
        self._longest = max(self._longest, len(token))
        postings = self._postings
        for key in bigram_keys(token):
            ids = postings.get(key)
            if ids is None:
                ids = postings[key] = array("i")
            ids.append(token_id)
        return token

    def similar(self, token: str, cutoff: float) -> list[tuple[str, float]]:
        """Every vocabulary token whose `fuzz.ratio` with `token` is at least `cutoff`, with it."""
        lists = [ids for ids in map(self._postings.get, bigram_keys(token)) if ids]
        if not lists:
            return []
        hits = np.concatenate([np.frombuffer(ids, dtype=np.int32) for ids in lists])
        shared = np.bincount(hits, minlength=len(self.tokens))
        need = shared_needed(len(token), cutoff, self._longest)
        lengths = np.frombuffer(self._lengths, dtype=np.int32)
        candidates = np.unique(hits[shared[hits] >= need[lengths[hits]]])
        if not len(candidates):
            return []
        # itemgetter picks the strings in C; with one index it returns the string itself
        words = operator.itemgetter(*candidates.tolist())(self.tokens)
        words = (words,) if len(candidates) == 1 else words
        return [(word, score) for word, score, _ in process.extract(token, words, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)]
