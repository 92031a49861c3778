"""Which customers hold a key (an e-mail, a phone number, a name at a company), for an import
of any size in little memory: each key is kept as its 64-bit hash beside the customer's id,
16 bytes a key, in numpy arrays sorted by hash. Keys added since the last merge wait in a
dict of a bounded size (it once grew with the index, to a quarter of it, at ten times the bytes
a key), and a batch's keys are looked up together, with one binary search of the sorted arrays. A hash only proposes candidates; the rows are then read and compared in full, so
two keys sharing a hash cannot make a wrong match."""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np

MERGE_AT = 1 << 15  # keys waiting in a dict before they are merged into the sorted arrays (a few MB)


class KeyIndex:
    def __init__(self) -> None:
        self.hashes = np.empty(0, dtype=np.int64)  # sorted
        self.ids = np.empty(0, dtype=np.int64)  # the customer holding each hash
        # keys added since the last merge: the first holder of each hash, and any others
        self.recent: dict[int, int] = {}
        self.more: dict[int, list[int]] = {}
        self.more_count = 0

    def __len__(self) -> int:
        return len(self.hashes) + len(self.recent) + self.more_count

    def add(self, key: str, customer_id: int) -> None:
        self.add_pairs([(key, customer_id)])

    def add_many(self, keys: Iterable[str], customer_id: int) -> None:
        """Several keys of one customer."""
        self.add_pairs([(key, customer_id) for key in keys])

    def add_pairs(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Keys of many customers, as (key, customer id)."""
        first = self.recent.setdefault
        for key, customer_id in pairs:
            if first(hash(key), customer_id) != customer_id:  # a key another customer holds too
                self.more.setdefault(hash(key), []).append(customer_id)
                self.more_count += 1
        if len(self.recent) + self.more_count >= MERGE_AT:
            self.merge()

    def extend(self, hashes: array, ids: array) -> None:
        """Many keys at once (already hashed): an index's first build."""
        self._merge_arrays(np.frombuffer(hashes, dtype=np.int64), np.frombuffer(ids, dtype=np.int64))

    def find(self, key: str) -> list[int]:
        """The ids holding `key` (or a key of the same hash), smallest first."""
        return sorted(self.find_many([key]))

    def find_many(self, keys: list[str]) -> set[int]:
        """The ids holding any of `keys` (or keys of the same hashes): one binary search of the
        sorted arrays for all of them."""
        found: set[int] = set()
        if not keys:
            return found
        hashes = list(map(hash, keys))
        if len(self.hashes):
            wanted = np.array(hashes, dtype=np.int64)
            low = np.searchsorted(self.hashes, wanted, "left")
            high = np.searchsorted(self.hashes, wanted, "right")
            hit = high > low
            for start, end in zip(low[hit].tolist(), high[hit].tolist()):
                found.update(self.ids[start:end].tolist())
        if self.recent:
            get, more = self.recent.get, self.more.get
            for wanted_hash in hashes:
                customer_id = get(wanted_hash)
                if customer_id is not None:
                    found.add(customer_id)
                    others = more(wanted_hash)
                    if others:
                        found.update(others)
        return found

    def merge(self) -> None:
        if not self.recent:
            return
        more = self.more
        hashes = np.array([*self.recent, *(h for h, ids in more.items() for _ in ids)], dtype=np.int64)
        ids = np.array([*self.recent.values(), *(i for found in more.values() for i in found)], dtype=np.int64)
        self.recent, self.more, self.more_count = {}, {}, 0
        self._merge_arrays(hashes, ids)

    def _merge_arrays(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Sort the new keys, then insert them where they belong: one pass over the sorted
        arrays, not a sort of everything."""
        order = np.argsort(hashes, kind="stable")
        hashes, ids = hashes[order], ids[order]  # copies: nothing of the caller's is kept
        if not len(self.hashes):
            self.hashes, self.ids = hashes, ids
            return
        at = np.searchsorted(self.hashes, hashes, "right")
        self.hashes = np.insert(self.hashes, at, hashes)
        self.ids = np.insert(self.ids, at, ids)


class IdSet:
    """A set of the ids up to `top`, a byte each: the customers held before an import that its
    rows were about, without a Python int and a hash slot for every one."""

    def __init__(self, top: int) -> None:
        self.marks = bytearray(top + 1)

    def add(self, customer_id: int) -> None:
        self.marks[customer_id] = 1

    def __contains__(self, customer_id: int) -> bool:
        return 0 <= customer_id < len(self.marks) and self.marks[customer_id] == 1
