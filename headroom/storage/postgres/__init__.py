"""The PostgreSQL backend: records, HNSW vectors (pgvector) and keywords (tsvector, GIN) in
one database, shared by every process that opens it.

::

    connection.py    the pool, opening, each operation's connection and transaction
    translation.py   asyncpg and network errors as headroom errors
    migrations.py    the schema, as numbered migrations, and the vector index DDL
    sql.py           SQL written once (columns, the chain walk, filters, visibility)
    codec.py         rows <-> Memory, vectors <-> pgvector's binary format
    operations.py    each operation as one async function on a connection
    store.py         PostgresStore, the MemoryStore
    vectors.py       PostgresVectorIndex, the VectorIndex (exact or HNSW, by count)
    text.py          PostgresTextIndex, the TextIndex (tsvector)
"""

from __future__ import annotations

from headroom._urls import redact
from headroom.storage.base import EmbedderRecord, Storage, check_embedder_record
from headroom.storage.postgres import operations as ops
from headroom.storage.postgres.connection import Connection, Database, PostgresSettings
from headroom.storage.postgres.migrations import (
    VECTOR_INDEX,
    create_vector_index,
    set_dimension,
    set_meta,
)
from headroom.storage.postgres.store import PostgresStore
from headroom.storage.postgres.text import PostgresTextIndex
from headroom.storage.postgres.vectors import PostgresVectorIndex

__all__ = ["PostgresSettings", "PostgresStore", "open_postgres"]


async def open_postgres(
    url: str, embedder: EmbedderRecord, settings: PostgresSettings, *, read_only: bool = False
) -> Storage:
    """Open (creating the schema if needed) the database at ``url`` for vectors of ``embedder``.

    A new database records the embedder and builds its vector index; one holding another
    model's vectors raises :class:`~headroom.errors.DimensionMismatchError`. ``read_only``
    creates nothing (:class:`~headroom.errors.MissingDatabaseError` if it would have to).
    """
    location = redact(url)

    async def prepare(conn: Connection, write: bool) -> int | None:
        """The recorded dimension, once the embedder is recorded and its index built."""
        recorded = await ops.embedder_record(conn)
        if recorded is None:
            if not write:
                return None
            await set_meta(conn, ops.embedder_meta(embedder))
            await conn.execute(set_dimension(embedder.dimension))
            recorded = embedder
        check_embedder_record(recorded, embedder, location)
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", VECTOR_INDEX):
            if not write:
                return None
            await conn.execute(
                create_vector_index(
                    recorded.dimension, settings.hnsw_m, settings.hnsw_ef_construction
                )
            )
        return recorded.dimension

    db, dimension = await Database.open(url, settings, prepare, read_only=read_only)
    vectors = PostgresVectorIndex(db, dimension, settings)
    return Storage(PostgresStore(db, vectors, settings), vectors, PostgresTextIndex(db))
