"""Which customers hold a token, for a whole customer book, outside Python objects.

A first build lays every (token, customer) pair out as one sorted numpy array with an offset per
token (CSR), so a million customers are a few arrays rather than millions of lists the garbage
collector walks. Later changes are few: a changed or deleted customer's bulk postings are masked
as stale, and what it holds now goes to small per-token lists."""

from __future__ import annotations

import numpy as np

EMPTY = np.zeros(0, dtype=np.int32)


class Postings:
    def __init__(self) -> None:
        self._ptr = np.zeros(1, dtype=np.int64)
        self._holders = EMPTY
        self._extra: dict[int, list[int]] = {}

    def load(self, tokens: np.ndarray, holders: np.ndarray, n_tokens: int) -> None:
        """The bulk pairs, each once and sorted by token: token ids and the positions holding them."""
        self._holders = holders.astype(np.int32)
        self._ptr = np.concatenate(([0], np.cumsum(np.bincount(tokens, minlength=n_tokens))))

    def parts(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None if self._extra else (self._ptr, self._holders)

    @classmethod
    def from_parts(cls, ptr: np.ndarray, holders: np.ndarray) -> Postings:
        postings = cls()
        postings._ptr, postings._holders = ptr, holders
        return postings

    def holders(self, token: int, stale: np.ndarray | None) -> np.ndarray:
        """Positions holding the token now; `stale` masks bulk positions that changed since."""
        bulk = self._bulk(token)
        if stale is not None and len(bulk):
            bulk = bulk[~stale[bulk]]
        extra = self._extra.get(token)
        if extra:
            return np.concatenate((bulk, np.array(extra, dtype=np.int32))) if len(bulk) else np.array(extra, dtype=np.int32)
        return bulk

    def held_by(self, token: int, positions: np.ndarray, stale: np.ndarray | None) -> np.ndarray:
        """Which of `positions` hold the token now: `np.isin(positions, holders(token, stale))`,
        without sorting the holders (thousands for a common name): the bulk ones are ascending
        (a build lays its pairs out sorted), so bisection finds a few dozen positions among them."""
        inside = np.zeros(len(positions), dtype=bool)
        bulk = self._bulk(token)
        if len(bulk):
            at = np.minimum(np.searchsorted(bulk, positions), len(bulk) - 1)
            inside = bulk[at] == positions
            if stale is not None:
                found = np.flatnonzero(inside)  # bulk positions, so inside `stale`
                inside[found] = ~stale[positions[found]]
        extra = self._extra.get(token)
        if extra:
            inside |= np.isin(positions, np.array(extra, dtype=np.int64))
        return inside

    def holds(self, token: int, stale: np.ndarray | None) -> bool:
        """Whether anyone holds the token now (no array of them made)."""
        if self._extra.get(token):
            return True
        bulk = self._bulk(token)
        return len(bulk) > 0 and (stale is None or not stale[bulk].all())

    def _bulk(self, token: int) -> np.ndarray:
        """The token's holders as the last build laid them out (ascending), changed or not."""
        return self._holders[self._ptr[token]:self._ptr[token + 1]] if token + 1 < len(self._ptr) else EMPTY

    def add(self, token: int, position: int) -> None:
        self._extra.setdefault(token, []).append(position)

    def remove(self, token: int, position: int) -> None:
        held = self._extra[token]
        held.remove(position)
        if not held:
            del self._extra[token]


def expand(lists_ptr: np.ndarray, lists: np.ndarray, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each entry of `pick` (an index into a CSR of lists), the items of that list:
    returns (which entry of pick each item came from, the item)."""
    lengths = lists_ptr[pick + 1] - lists_ptr[pick]
    source = np.repeat(np.arange(len(pick)), lengths)
    starts = np.repeat(lists_ptr[pick], lengths)
    within = np.arange(len(source)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return source, lists[starts + within]
