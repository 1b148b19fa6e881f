"""The embedded backend: one SQLite file (records, FTS5 keywords) and a usearch graph beside it.

::

    connection.py   the two connections, the process lock, error translation
    migrations.py   the schema, as numbered migrations
    sql.py          SQL written once (columns, the chain walk, filters, visibility)
    codec.py        rows <-> Memory, vectors <-> BLOBs
    operations.py   each operation as one synchronous function on a connection
    store.py        SQLiteStore, the MemoryStore
    vectors.py      SQLiteVectorIndex (scope catalog + usearch), the VectorIndex
    catalog.py      ScopeCatalog: the visibility rule over numpy columns
    usearch_index.py, vector_plan.py   the HNSW graph and its filtered-search plan
    fts5.py, fts_query.py              FTS5TextIndex, the TextIndex, and its query building
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from headroom.storage.base import EmbedderRecord, Storage, check_embedder_record
from headroom.storage.sqlite import operations as ops
from headroom.storage.sqlite.connection import Database
from headroom.storage.sqlite.fts5 import FTS5TextIndex
from headroom.storage.sqlite.store import META_INDEX, SQLiteStore
from headroom.storage.sqlite.vectors import HnswSettings, SQLiteVectorIndex, index_file_name

__all__ = ["HnswSettings", "SQLiteStore", "open_sqlite"]


async def open_sqlite(path: Path, embedder: EmbedderRecord, hnsw: HnswSettings) -> Storage:
    """Open (creating if needed) the database at ``path`` for vectors of ``embedder``.

    A new database records the embedder; one holding another model's vectors raises
    :class:`~headroom.errors.DimensionMismatchError`.
    """
    db = await Database.open(path)
    try:
        index_file = await db.writer.transaction(
            "checking the embedder", lambda conn: _record_embedder(conn, db.path, embedder)
        )
        vectors = await SQLiteVectorIndex.open(
            db.reader, db.path, index_file, embedder.dimension, hnsw
        )
    except BaseException:
        await db.aclose()
        raise
    return Storage(SQLiteStore(db, vectors), vectors, FTS5TextIndex(db.reader))


def _record_embedder(conn: sqlite3.Connection, path: Path, embedder: EmbedderRecord) -> str:
    """Record the embedder in a new database, or refuse another one; the graph's file name."""
    recorded = ops.embedder_record(conn)
    if recorded is None:
        index_file = index_file_name(path, embedder)
        ops.set_meta(conn, {**ops.embedder_meta(embedder), META_INDEX: index_file})
        return index_file
    check_embedder_record(recorded, embedder, str(path))
    return ops.get_meta(conn, META_INDEX) or index_file_name(path, recorded)
