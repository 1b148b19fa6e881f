"""White-box views of an open SQLite-backed memory, for the consistency suites.

The crash, concurrency and hostile-input suites check that the derived indexes hold exactly
the keys the database holds; these are the only places the tests look inside the engine.
"""

from __future__ import annotations

import sqlite3

from headroom.memory import HierarchicalMemory
from headroom.storage.sqlite.store import SQLiteStore
from headroom.storage.sqlite.vectors import SQLiteVectorIndex

__all__ = ["index_keys", "stored_keys", "stored_key_of"]


async def index_keys(memory: HierarchicalMemory) -> list[int]:
    """Every key the vector index of ``memory`` holds, sorted."""
    vectors = memory._storage.vectors
    assert isinstance(vectors, SQLiteVectorIndex)
    return [int(k) for k in await vectors.keys()]


def stored_keys(memory: HierarchicalMemory) -> list[int]:
    """Every key in the database file of ``memory``, sorted (read on a fresh connection)."""
    assert isinstance(memory._storage.store, SQLiteStore)
    conn = sqlite3.connect(f"file:{memory.config.path}?mode=ro", uri=True)
    try:
        return [int(row[0]) for row in conn.execute("SELECT key FROM memories ORDER BY key")]
    finally:
        conn.close()


async def stored_key_of(memory: HierarchicalMemory, ids: list[str]) -> dict[str, int]:
    """The keys of these memory ids."""
    found = await memory._storage.store.get(ids)
    return {memory_id: stored.key for memory_id, stored in found.items()}
