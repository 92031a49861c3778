"""Which customers hold a key (an e-mail, a phone number, a name at a company), for an import
of any size in little memory: each key is kept as its 64-bit hash beside the customer's id,
16 bytes a key, in arrays sorted by hash. A hash only proposes candidates; the rows are then
read and compared in full, so two keys sharing a hash cannot make a wrong match."""

from __future__ import annotations

from array import array
from bisect import bisect_left

import numpy as np

MERGE_AT = 20_000  # keys added since the last merge, kept in a dict until then


class KeyIndex:
    def __init__(self) -> None:
        self.hashes = array("q")
        self.ids = array("q")
        self.recent: dict[int, list[int]] = {}
        self.recent_count = 0

    def __len__(self) -> int:
        return len(self.hashes) + self.recent_count

    def add(self, key: str, customer_id: int) -> None:
        self.recent.setdefault(hash(key), []).append(customer_id)
        self.recent_count += 1
        if self.recent_count >= max(MERGE_AT, len(self.hashes) // 4):
            self.merge()

    def extend(self, hashes: array, ids: array) -> None:
        """Many keys at once (already hashed): an index's first build."""
        self._merge_arrays(np.frombuffer(hashes, dtype=np.int64), np.frombuffer(ids, dtype=np.int64))

    def find(self, key: str) -> list[int]:
        """The ids holding `key` (or a key of the same hash), smallest first."""
        wanted = hash(key)
        found: list[int] = []
        at = bisect_left(self.hashes, wanted)
        while at < len(self.hashes) and self.hashes[at] == wanted:
            found.append(self.ids[at])
            at += 1
        found += self.recent.get(wanted, ())
        return sorted(set(found))

    def merge(self) -> None:
        if not self.recent:
            return
        hashes = np.fromiter((h for h, ids in self.recent.items() for _ in ids), dtype=np.int64, count=self.recent_count)
        ids = np.fromiter((i for found in self.recent.values() for i in found), dtype=np.int64, count=self.recent_count)
        self.recent, self.recent_count = {}, 0
        self._merge_arrays(hashes, ids)

    def _merge_arrays(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        all_hashes = np.concatenate([np.frombuffer(self.hashes, dtype=np.int64), hashes]) if len(self.hashes) else hashes
        all_ids = np.concatenate([np.frombuffer(self.ids, dtype=np.int64), ids]) if len(self.ids) else ids
        order = np.lexsort((all_ids, all_hashes))
        self.hashes = array("q", all_hashes[order].tobytes())
        self.ids = array("q", all_ids[order].tobytes())
