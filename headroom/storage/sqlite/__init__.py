"""The embedded backend: one SQLite file (records, FTS5 keywords) and a usearch graph beside it.

::

    connection.py   the connections (writer, reader, change probe), error translation
    identity.py     whose a database file is (its id, generation and home)
    migrations.py   the schema, as numbered migrations (with the change log)
    sql.py          SQL written once (columns, the chain walk, filters, visibility)
    codec.py        rows <-> Memory, vectors <-> BLOBs
    operations.py   each operation as one synchronous function on a connection
    changes.py      reading the change log, to follow other connections' commits
    store.py        SQLiteStore, the MemoryStore
    vectors.py      SQLiteVectorIndex (scope catalog, HNSW graph, fresh vectors), the VectorIndex
    catalog.py      ScopeCatalog: the visibility rule over numpy columns
    fresh.py        FreshVectors: the newest vectors, searched exactly until merged
    usearch_index.py, vector_plan.py   the HNSW graph and its filtered-search plan
    graph_file.py   the graph's file: atomic, stamped, checksummed, locked
    fts5.py, fts_query.py              FTS5TextIndex, the TextIndex, and its query building

Any number of processes, and of engines in one process, may open one database; each follows
the others' commits before its searches.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from headroom.storage.base import EmbedderRecord, Storage, check_embedder_record
from headroom.storage.sqlite import operations as ops
from headroom.storage.sqlite.connection import Database
from headroom.storage.sqlite.fts5 import FTS5TextIndex
from headroom.storage.sqlite.store import SQLiteStore
from headroom.storage.sqlite.vectors import HnswSettings, SQLiteVectorIndex

__all__ = ["HnswSettings", "SQLiteStore", "open_sqlite"]


async def open_sqlite(
    path: Path, embedder: EmbedderRecord, hnsw: HnswSettings, *, read_only: bool = False
) -> Storage:
    """Open the database at ``path`` for vectors of ``embedder``.

    Created if needed, unless ``read_only``: then nothing is created or written, and the
    vector index loads on the first search. A new database records the embedder; one holding
    another model's vectors raises :class:`~headroom.errors.DimensionMismatchError`.
    """
    db = await Database.open(path, read_only=read_only)
    try:
        if db.writer is not None:
            await db.writer.transaction(
                "checking the embedder", lambda conn: _record_embedder(conn, db.path, embedder)
            )
        else:
            recorded = await db.reader.run("checking the embedder", ops.embedder_record)
            if recorded is not None:
                check_embedder_record(recorded, embedder, str(db.path))
        vectors = await SQLiteVectorIndex.open(db, hnsw, embedder)
    except BaseException:
        await db.aclose()
        raise
    text = FTS5TextIndex(db.reader, vectors.rows)
    return Storage(SQLiteStore(db, vectors, embedder), vectors, text)


def _record_embedder(conn: sqlite3.Connection, path: Path, embedder: EmbedderRecord) -> None:
    """Record the embedder in a new database, or refuse another one."""
    recorded = ops.embedder_record(conn)
    if recorded is None:
        ops.set_meta(conn, ops.embedder_meta(embedder))
    else:
        check_embedder_record(recorded, embedder, str(path))
