"""White-box views of an open memory, for the consistency suites.

The crash, concurrency and hostile-input suites check that the derived indexes hold exactly
the keys the database holds; these are the only places the tests look inside the engine.
"""

from __future__ import annotations

import sqlite3

from headroom.memory import HierarchicalMemory
from headroom.storage.sqlite.store import SQLiteStore
from headroom.storage.sqlite.vectors import SQLiteVectorIndex

__all__ = ["footprint", "index_and_stored_keys", "index_keys", "stored_key_of", "stored_keys"]


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


async def _postgres_rows(memory: HierarchicalMemory, sql: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(str(memory.config.db_url))
    try:
        return [int(row[0]) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def index_and_stored_keys(memory: HierarchicalMemory) -> tuple[list[int], list[int]]:
    """The keys the vector index holds and the keys the database holds, sorted, any backend.

    PostgreSQL's HNSW index changes in the same transactions as the rows; it holds the rows of
    the recorded dimension (a partial index), read here from a fresh connection.
    """
    if memory.config.db_url is None:
        return await index_keys(memory), stored_keys(memory)
    indexed = await _postgres_rows(
        memory,
        "SELECT key FROM headroom_memories WHERE vector_dims(embedding) = "
        f"{int(memory.embedder.dimension)} ORDER BY key",
    )
    return indexed, await _postgres_rows(memory, "SELECT key FROM headroom_memories ORDER BY key")


async def footprint(memory: HierarchicalMemory) -> tuple[int, list[int], int]:
    """Rows, vector index keys and keyword index rows: what any write would change."""
    indexed, _ = await index_and_stored_keys(memory)
    if memory.config.db_url is None:
        conn = sqlite3.connect(f"file:{memory.config.path}?mode=ro", uri=True)
        try:
            (keyword_rows,) = conn.execute("SELECT count(*) FROM memories_fts").fetchone()
        finally:
            conn.close()
    else:
        (keyword_rows,) = await _postgres_rows(
            memory, "SELECT count(*) FROM headroom_memories WHERE keywords IS NOT NULL"
        )
    return (await memory.stats()).total, indexed, int(keyword_rows)
