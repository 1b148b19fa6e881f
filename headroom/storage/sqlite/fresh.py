"""FreshVectors: the newest vectors, not yet in the HNSW graph, searched exactly. Pure.

Inserting into an HNSW graph costs about a millisecond a vector; appending here costs
microseconds, and an exact scan of a few thousand rows a fraction of a millisecond. So a write
(or catching up with another process's thousand writes) lands here first, and the vector
index merges the buffer into the graph in the background, in bulk.
"""

from __future__ import annotations

import numpy as np

from headroom.storage.base import Keys, Vector
from headroom.storage.sqlite.vector_plan import empty_result, is_member, similarities, top_k

__all__ = ["FreshVectors"]

_MIN_CAPACITY = 64


class FreshVectors:
    """Keys and unit vectors in one contiguous matrix; removal moves the last row into the hole."""

    def __init__(self, dimension: int) -> None:
        self._dimension = dimension
        self._matrix = np.empty((_MIN_CAPACITY, dimension), dtype=np.float32)
        self._keys: Keys = np.empty(_MIN_CAPACITY, dtype=np.int64)
        self._rows: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> Keys:
        return np.sort(self._keys[: len(self._rows)])

    def add(self, keys: Keys, vectors: Vector) -> None:
        """Insert, or replace the vector of a key already here."""
        needed = len(self._rows) + len(keys)
        if needed > len(self._keys):
            capacity = max(needed, 2 * len(self._keys))
            matrix = np.empty((capacity, self._dimension), dtype=np.float32)
            matrix[: len(self._rows)] = self._matrix[: len(self._rows)]
            grown = np.empty(capacity, dtype=np.int64)
            grown[: len(self._rows)] = self._keys[: len(self._rows)]
            self._matrix, self._keys = matrix, grown
        rows = np.empty(len(keys), dtype=np.intp)
        for position, key in enumerate(keys.tolist()):
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = len(self._rows)
            rows[position] = row
        self._keys[rows] = keys
        self._matrix[rows] = vectors

    def remove(self, keys: Keys | list[int]) -> None:
        """Forget these keys; absent ones are ignored."""
        for key in np.asarray(keys, dtype=np.int64).tolist():
            row = self._rows.pop(key, None)
            if row is None:
                continue
            last = len(self._rows)
            if row != last:
                moved = int(self._keys[last])
                self._keys[row] = moved
                self._matrix[row] = self._matrix[last]
                self._rows[moved] = row

    def take(self, limit: int) -> tuple[Keys, Vector]:
        """A copy of up to ``limit`` keys and their vectors (they stay here)."""
        count = min(limit, len(self._rows))
        return self._keys[:count].copy(), self._matrix[:count].copy()

    def search(self, query: Vector, k: int, allowed: Keys) -> tuple[Keys, Vector]:
        """The ``k`` most similar among ``allowed`` (sorted keys), best first."""
        count = len(self._rows)
        if count == 0 or k <= 0:
            return empty_result()
        keep = is_member(allowed, self._keys[:count])
        if not keep.any():
            return empty_result()
        keys = self._keys[:count][keep]
        return top_k(keys, similarities(self._matrix[:count][keep], query), k)
