"""PostgreSQL's vector index: built with the config's HNSW settings, and built again by an
open that finds it missing, the bulk-loading procedure of docs/scaling-out.md (drop the
index, load, open again)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest

from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory
from tests.fakes import HashingEmbedder, distinct_texts
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.anyio

INDEX = "headroom_memories_embedding"


def _index_definition(server: PostgresServer, database: str) -> str | None:
    async def read(conn: asyncpg.Connection[asyncpg.Record]) -> str | None:
        value = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", INDEX)
        return None if value is None else str(value)

    return server.run(read, database)


async def test_an_open_builds_a_missing_index_with_its_settings(
    postgres_server: PostgresServer, postgres_config: MemoryConfig
) -> None:
    database = postgres_server.database_of(postgres_config.db_url)
    texts = distinct_texts("fact", 600)
    first = replace(postgres_config, hnsw_m=8, hnsw_ef_construction=32)
    embedder = HashingEmbedder()
    # The first open records the embedder and builds the index (its dimension is known now).
    async with await HierarchicalMemory.create(first, embedder=embedder) as memory:
        definition = _index_definition(postgres_server, database)
        assert definition is not None and "m='8'" in definition
        assert "ef_construction='32'" in definition
        await memory.add_many([NewMemory(content=t, user_id="u") for t in texts[:300]])
        postgres_server.execute(f"DROP INDEX {INDEX}", database)
        # Without the index, writes and searches go on, exact.
        await memory.add_many([NewMemory(content=t, user_id="u") for t in texts[300:]])
        hits = await memory.search(texts[450], user_id="u", top_k=1)
        assert [h.content for h in hits] == [texts[450]]
    assert _index_definition(postgres_server, database) is None
    later = replace(postgres_config, hnsw_ef_construction=64)
    async with await HierarchicalMemory.create(later, embedder=embedder) as memory:
        definition = _index_definition(postgres_server, database)
        assert definition is not None and "ef_construction='64'" in definition
        for text in (texts[10], texts[590]):
            hits = await memory.search(text, user_id="u", top_k=1)
            assert [h.content for h in hits] == [text]
        assert (await memory.stats())["total"] == 600
