"""The storage ports: MemoryStore (the source of truth), VectorIndex and TextIndex.

A backend (``headroom.storage.sqlite``, ``headroom.storage.postgres``) implements all three
over one database and :func:`headroom.storage.factory.open_storage` wires it from the config.
The engine is typed against these protocols only.

Keys: every stored memory has a public id (a string) and an integer *key*, unique in its
database and never reused, so an index entry can never point at another memory. The searches
speak keys; the store turns keys back into memories.

Filtering is pushed down: a search takes the :class:`SearchFilter` and returns only memories
it allows, each backend with its own machinery, so a user with one memory among millions
still gets the best of that one. The store keeps its indexes in step with every write it
commits; the engine never maintains an index itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from headroom.domain import Memory, MemoryFilter, MemoryStats, SearchFilter
from headroom.errors import DimensionMismatchError

__all__ = [
    "EmbedderRecord",
    "Keys",
    "MemoryStore",
    "Ranked",
    "Storage",
    "StoredMemory",
    "TextIndex",
    "Vector",
    "VectorIndex",
    "check_embedder_record",
]

Keys = npt.NDArray[np.int64]
"""A 1-d int64 array of keys."""

Vector = npt.NDArray[np.float32]
"""A unit float32 vector (or a 2-d array of them, one per row)."""

Ranked = list[tuple[int, float]]
"""``(key, score)`` pairs, best first; higher scores are better, within one result only."""


@dataclass(frozen=True, slots=True)
class StoredMemory:
    """A memory with its key and embedding, as the store holds it (key 0: not yet stored)."""

    key: int
    memory: Memory
    embedding: Vector


@dataclass(frozen=True, slots=True)
class EmbedderRecord:
    """Which embedder made the vectors a database holds."""

    model_name: str
    dimension: int


def check_embedder_record(recorded: EmbedderRecord, wanted: EmbedderRecord, where: str) -> None:
    """Refuse to mix vectors of two models: DimensionMismatchError naming both."""
    if recorded != wanted:
        raise DimensionMismatchError(
            f"{where} holds vectors of {recorded.model_name!r} ({recorded.dimension} "
            f"dimensions), but the embedder is {wanted.model_name!r} ({wanted.dimension} "
            "dimensions). Open it with the same embedder, then "
            "`await memory.reembed(new_config)` to switch."
        )


class MemoryStore(Protocol):
    """The durable record of every memory and its embedding.

    Every write is one transaction, visible to readers whole or not at all, and reaches the
    backend's indexes before it returns.

    Tenancy is enforced here, whatever the stored links say: a supersession chain is walked
    within the user of the memory it starts from (``delete``, ``chain`` and the head that
    ``supersede`` names never reach another user's memory), and a filter's ``within`` is
    applied in the query itself.
    """

    @property
    def location(self) -> str:
        """Where the data lives, for messages (a path, or a URL without its password)."""
        ...

    async def insert(self, items: Sequence[StoredMemory]) -> list[int]:
        """Insert memories (keys in ``items`` are ignored) in one transaction; their keys."""
        ...

    async def supersede(self, old_id: str, new: StoredMemory) -> int:
        """Atomically insert ``new`` as the head after ``old_id``; the new key.

        Raises SupersededError naming the head when ``old_id`` is no longer current,
        NotFoundError when it does not exist or is not a memory of ``new``'s user.
        """
        ...

    async def get(self, ids: Sequence[str]) -> dict[str, StoredMemory]:
        """The stored memories with these ids (absent ids are left out)."""
        ...

    async def get_by_keys(self, keys: Sequence[int]) -> dict[int, StoredMemory]:
        """The stored memories with these keys (absent keys are left out)."""
        ...

    async def delete(self, ids: Sequence[str], *, user_id: str | None = None) -> list[int]:
        """Delete these memories and every version of their chains; the keys removed.

        With ``user_id``, an id of another user's memory raises NotFoundError, exactly like
        an unknown one, and nothing is deleted.
        """
        ...

    async def clear(self, where: MemoryFilter) -> list[int]:
        """Delete what ``where`` selects (ids matched literally); the keys removed. Links are
        not followed: only the selected rows go."""
        ...

    async def query(self, where: MemoryFilter) -> list[Memory]:
        """What ``where`` selects, oldest first, paged by its limit and offset."""
        ...

    async def stats(self, where: MemoryFilter) -> MemoryStats: ...

    async def chain(self, memory_id: str) -> list[Memory]:
        """The whole supersession chain through ``memory_id``, oldest first (its owner's
        memories only)."""
        ...

    async def contents(self, after_key: int, limit: int) -> list[tuple[int, str]]:
        """``(key, text)`` of up to ``limit`` memories past ``after_key``, in key order: the text
        each is embedded by (:attr:`Memory.indexed_text`: its content, then its source)."""
        ...

    async def replace_embeddings(
        self, embeddings: dict[int, Vector], embedder: EmbedderRecord
    ) -> None:
        """Swap every embedding and the embedder record in one transaction (re-embedding).

        ``embeddings`` must cover every stored key (StorageError otherwise; nothing changes).
        The indexes are rebuilt for the new vectors before this returns.
        """
        ...

    async def aclose(self) -> None:
        """Release the database (and the indexes). Idempotent."""
        ...


class VectorIndex(Protocol):
    """Nearest neighbours by cosine similarity, exact about the filter."""

    async def search(self, query: Vector, k: int, where: SearchFilter) -> Ranked:
        """The ``k`` keys most similar to ``query`` among those ``where`` allows, with their
        cosine similarity, best first. A small allowed set is searched exactly; a large one
        through the index with enough oversampling that a selective filter never starves."""
        ...

    async def rebuild(self) -> int:
        """Rebuild the index from the store's embeddings; how many vectors it holds."""
        ...


class TextIndex(Protocol):
    """Keyword search (BM25-like), kept in the store's own transactions."""

    async def search(self, query: str, k: int, where: SearchFilter) -> Ranked:
        """The ``k`` best ``(key, score)`` pairs for ``query`` among those ``where`` allows.

        User text is never interpreted as query syntax: any string returns results or none,
        never an error.
        """
        ...


@dataclass(frozen=True, slots=True)
class Storage:
    """One opened backend: its store and its two indexes, over one database."""

    store: MemoryStore
    vectors: VectorIndex
    text: TextIndex
