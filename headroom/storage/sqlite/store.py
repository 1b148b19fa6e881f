"""SQLiteStore: the MemoryStore of the embedded backend, one SQLite file in WAL mode.

Each method is one operation of :mod:`headroom.storage.sqlite.operations` run in one hop
on the writer (in a transaction) or the reader connection. After a write commits, the vector
index is told, under the same lock, so it learns the changes in commit order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial

import anyio
import numpy as np

from headroom.domain import Memory, MemoryFilter, MemoryStats
from headroom.errors import ClosedError
from headroom.storage.base import EmbedderRecord, StoredMemory, Vector
from headroom.storage.sqlite import operations as ops
from headroom.storage.sqlite.connection import Database
from headroom.storage.sqlite.vectors import SQLiteVectorIndex, index_file_name

__all__ = ["META_INDEX", "SQLiteStore"]

META_INDEX = "vector_index_file"


class SQLiteStore:
    """The MemoryStore over one SQLite file (see :func:`headroom.storage.sqlite.open_sqlite`)."""

    def __init__(self, db: Database, vectors: SQLiteVectorIndex) -> None:
        self._db = db
        self._vectors = vectors
        self._write_lock = anyio.Lock()
        self._closed = False

    @property
    def location(self) -> str:
        return str(self._db.path)

    def __repr__(self) -> str:
        return f"<SQLiteStore {self._db.path}{' closed' if self._closed else ''}>"

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the memory store is closed")

    # -- writes ------------------------------------------------------------------------------

    async def insert(self, items: Sequence[StoredMemory]) -> list[int]:
        self._check_open()
        if not items:
            return []
        async with self._write_lock:
            keys = await self._db.writer.transaction(
                "adding memories", partial(ops.insert, items=items)
            )
            await self._vectors.added(
                keys, [item.memory for item in items], np.stack([i.embedding for i in items])
            )
        return keys

    async def supersede(self, old_id: str, new: StoredMemory) -> int:
        self._check_open()
        async with self._write_lock:
            key, old_key = await self._db.writer.transaction(
                "superseding a memory", partial(ops.supersede, old_id=old_id, new=new)
            )
            await self._vectors.added([key], [new.memory], new.embedding[np.newaxis, :])
            self._vectors.superseded(old_key)
        return key

    async def delete(self, ids: Sequence[str]) -> list[int]:
        self._check_open()
        if not ids:
            return []
        async with self._write_lock:
            keys = await self._db.writer.transaction(
                "deleting memories", partial(ops.delete, ids=ids)
            )
            await self._vectors.removed(keys)
        return keys

    async def clear(self, where: MemoryFilter) -> list[int]:
        self._check_open()
        async with self._write_lock:
            keys = await self._db.writer.transaction(
                "clearing memories", partial(ops.clear, where=where)
            )
            await self._vectors.removed(keys)
        return keys

    async def replace_embeddings(
        self, embeddings: dict[int, Vector], embedder: EmbedderRecord
    ) -> None:
        self._check_open()
        index_file = index_file_name(self._db.path, embedder)

        def replace(conn: sqlite3.Connection) -> None:
            ops.replace_embeddings(conn, embeddings, embedder)
            ops.set_meta(conn, {META_INDEX: index_file})

        async with self._write_lock:
            await self._db.writer.transaction("switching embeddings", replace)
            await self._vectors.switched(embedder, index_file)

    # -- reads -------------------------------------------------------------------------------

    async def get(self, ids: Sequence[str]) -> dict[str, StoredMemory]:
        self._check_open()
        return await self._db.reader.run("reading memories", partial(ops.get_by_ids, ids=ids))

    async def get_by_keys(self, keys: Sequence[int]) -> dict[int, StoredMemory]:
        self._check_open()
        wanted = [int(k) for k in keys]
        return await self._db.reader.run("reading memories", partial(ops.get_by_keys, keys=wanted))

    async def query(self, where: MemoryFilter) -> list[Memory]:
        self._check_open()
        return await self._db.reader.run("reading memories", partial(ops.query, where=where))

    async def stats(self, where: MemoryFilter) -> MemoryStats:
        self._check_open()
        return await self._db.reader.run("counting memories", partial(ops.stats, where=where))

    async def chain(self, memory_id: str) -> list[Memory]:
        self._check_open()
        return await self._db.reader.run(
            "reading a history", partial(ops.chain, memory_id=memory_id)
        )

    async def contents(self, after_key: int, limit: int) -> list[tuple[int, str]]:
        self._check_open()
        return await self._db.reader.run(
            "reading memories", partial(ops.contents, after_key=after_key, limit=limit)
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Save and free the vector index, then release the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            try:
                await self._vectors.aclose()
            finally:
                await self._db.aclose()
