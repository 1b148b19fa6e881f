"""VectorCopy: every vector of a small index as one immutable matrix, searched in place. Pure.

A search of a small index is dominated by its fixed costs, not its arithmetic: the hop to the
index's worker thread (~0.2 ms here), and usearch's brute force, which ranks and returns every
vector (0.4 ms for 2,000). One matrix product over a copy costs ~0.05 ms, little enough to run
on the caller's thread. A copy is never changed: each change makes a new one, so a reader on
another thread always sees one consistent state, before or after a change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headroom.storage.base import Keys, Vector
from headroom.storage.sqlite.vector_plan import empty_result, is_member, similarities, top_k

__all__ = ["VectorCopy"]


@dataclass(frozen=True, slots=True)
class VectorCopy:
    """Sorted distinct keys and their unit vectors, row for row."""

    keys: Keys
    vectors: Vector

    @classmethod
    def empty(cls, dimension: int) -> VectorCopy:
        return cls(np.empty(0, dtype=np.int64), np.empty((0, dimension), dtype=np.float32))

    @classmethod
    def of(cls, keys: Keys, vectors: Vector) -> VectorCopy:
        """``keys`` (distinct, any order) and their vectors, sorted by key."""
        order = np.argsort(keys, kind="stable")
        return cls(
            np.ascontiguousarray(keys[order], dtype=np.int64),
            np.ascontiguousarray(vectors[order], dtype=np.float32),
        )

    def __len__(self) -> int:
        return int(self.keys.size)

    def added(self, keys: Keys, vectors: Vector) -> VectorCopy:
        """This copy with ``keys`` (distinct) inserted, or their vectors replaced."""
        if keys.size == 0:
            return self
        kept = ~is_member(np.sort(keys), self.keys)
        return VectorCopy.of(
            np.concatenate((self.keys[kept], keys)),
            np.concatenate((self.vectors[kept], vectors)),
        )

    def removed(self, keys: Keys) -> VectorCopy:
        """This copy without ``keys`` (absent ones ignored)."""
        if keys.size == 0 or self.keys.size == 0:
            return self
        kept = ~is_member(np.unique(keys), self.keys)
        if kept.all():
            return self
        return VectorCopy(self.keys[kept], self.vectors[kept])

    def search(self, query: Vector, k: int, allowed: Keys | None) -> tuple[Keys, Vector]:
        """The ``k`` most similar, among ``allowed`` (sorted, distinct) unless None; exact."""
        if k <= 0 or self.keys.size == 0:
            return empty_result()
        # Scoring every row and dropping the disallowed after is cheaper than copying the
        # allowed rows out first (a copy of the matrix costs more than the product).
        sims = similarities(self.vectors, query)
        if allowed is None:
            return top_k(self.keys, sims, k)
        keep = is_member(allowed, self.keys)
        return top_k(self.keys[keep], sims[keep], k)
