"""The storage ports: MemoryStore (the source of truth), VectorIndex and TextIndex.

Keys: every stored memory has a public id (a string) and an integer *key*, the SQLite rowid,
which is never reused (AUTOINCREMENT). The vector and text indexes speak keys only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from headroom.memory.models import Memory, MemoryCategory, MemoryFilter, MemoryStats
from headroom.scoping import Scope

__all__ = ["Keys", "MemoryStore", "SearchFilter", "StoredMemory", "TextIndex", "VectorIndex"]

Keys = npt.NDArray[np.int64]
"""A 1-d int64 array of keys."""


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Which memories a search may return: what ``scope`` sees, optionally narrowed."""

    scope: Scope
    categories: frozenset[MemoryCategory] | None = None
    include_superseded: bool = False


@dataclass(frozen=True, slots=True)
class StoredMemory:
    """A memory with its key and embedding, as the store holds it."""

    key: int
    memory: Memory
    embedding: npt.NDArray[np.float32]


class VectorIndex(Protocol):
    """Nearest-neighbour search over unit vectors, by cosine similarity.

    ``search`` is exact about ``allowed``: it returns only allowed keys, and returns the best
    ``k`` of them (small allowed sets are searched exactly, large ones through the index with
    enough oversampling). All methods are safe to call concurrently.
    """

    @property
    def dimension(self) -> int: ...

    def __len__(self) -> int: ...

    async def add(self, keys: Keys, vectors: npt.NDArray[np.float32]) -> None:
        """Insert vectors under new keys (a key already present is replaced)."""
        ...

    async def remove(self, keys: Keys) -> None:
        """Forget these keys; absent keys are ignored."""
        ...

    async def search(
        self, query: npt.NDArray[np.float32], k: int, allowed: Keys | None = None
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        """The ``k`` best keys among ``allowed`` (all when None), best first, with similarity."""
        ...

    async def keys(self) -> Keys:
        """Every key in the index, sorted."""
        ...

    async def save(self) -> None:
        """Persist to disk, atomically (a no-op for an in-memory index)."""
        ...

    async def aclose(self) -> None: ...


class TextIndex(Protocol):
    """Keyword search (BM25) over memory content, kept in the store's own transactions."""

    async def search(self, query: str, k: int, where: SearchFilter) -> list[tuple[int, float]]:
        """The ``k`` best ``(key, score)`` pairs for ``query``, best first.

        User text is never interpreted as query syntax: any string returns results or none,
        never an error.
        """
        ...


class MemoryStore(Protocol):
    """The durable record of every memory and its embedding."""

    async def insert(self, items: Sequence[StoredMemory]) -> list[int]:
        """Insert memories (keys in ``items`` are ignored) in one transaction; their keys."""
        ...

    async def supersede(self, old_id: str, new: StoredMemory) -> tuple[int, Memory]:
        """Atomically insert ``new`` as the head after ``old_id``; the new key and the old
        version as it now is. Raises SupersededError naming the head when ``old_id`` is no
        longer current, NotFoundError when it does not exist."""
        ...

    async def get(self, ids: Sequence[str]) -> dict[str, StoredMemory]: ...

    async def get_by_keys(self, keys: Sequence[int]) -> dict[int, StoredMemory]: ...

    async def delete(self, ids: Sequence[str]) -> list[int]:
        """Delete these memories; the keys that were removed."""
        ...

    async def query(self, where: MemoryFilter) -> list[Memory]: ...

    async def clear(self, where: MemoryFilter) -> list[int]: ...

    async def stats(self, where: MemoryFilter) -> MemoryStats: ...

    async def chain(self, memory_id: str) -> list[Memory]:
        """The whole supersession chain through ``memory_id``, oldest first."""
        ...

    async def aclose(self) -> None: ...
