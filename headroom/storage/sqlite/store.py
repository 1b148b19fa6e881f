"""SQLiteStore: the MemoryStore of the embedded backend, one SQLite file in WAL mode.

Each method is one operation of :mod:`headroom.storage.sqlite.operations` run in one hop on
the writer (in a transaction) or the reader connection. A write transaction also checks that
the database still holds this engine's embedder (another process may have re-embedded it)
and notes where it sits in the change log; after it commits, the vector index applies it,
under the same lock, so it learns this engine's changes in commit order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import anyio
import numpy as np

from headroom.domain import Memory, MemoryFilter, MemoryStats
from headroom.errors import ClosedError, DimensionMismatchError, ReadOnlyError
from headroom.storage.base import EmbedderRecord, StoredMemory, Vector
from headroom.storage.sqlite import changes
from headroom.storage.sqlite import operations as ops
from headroom.storage.sqlite.connection import Connection, Database
from headroom.storage.sqlite.identity import next_generation
from headroom.storage.sqlite.vectors import OwnChanges, SQLiteVectorIndex

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_PRUNE_EVERY = 1_000
"""The change log is pruned when a write's position crosses a multiple of this."""


class SQLiteStore:
    """The MemoryStore over one SQLite file (see :func:`headroom.storage.sqlite.open_sqlite`)."""

    def __init__(self, db: Database, vectors: SQLiteVectorIndex, record: EmbedderRecord) -> None:
        self._db = db
        self._vectors = vectors
        self._record = record
        self._write_lock = anyio.Lock()
        self._closed = False

    @property
    def location(self) -> str:
        return str(self._db.path)

    @property
    def read_only(self) -> bool:
        return self._db.read_only

    def __repr__(self) -> str:
        state = " closed" if self._closed else " read-only" if self.read_only else ""
        return f"<SQLiteStore {self._db.path}{state}>"

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the memory store is closed")

    def _writer(self) -> Connection:
        self._check_open()
        if self._db.writer is None:
            raise ReadOnlyError(f"{self._db.path} was opened read-only: it cannot be changed")
        return self._db.writer

    async def _write(
        self, what: str, operation: Callable[[sqlite3.Connection], T]
    ) -> tuple[int, T, int]:
        """``operation`` in one write transaction: its log positions before and after."""
        record = self._record

        def write(conn: sqlite3.Connection) -> tuple[int, T, int]:
            recorded = ops.embedder_record(conn)
            if recorded != record:
                raise DimensionMismatchError(
                    f"{self._db.path} now holds vectors of "
                    f"{None if recorded is None else recorded.model_name!r} (re-embedded since "
                    f"this memory opened it with {record.model_name!r}); nothing was stored. "
                    "Open it again with the new embedder"
                )
            before = changes.last_seq(conn)
            result = operation(conn)
            after = changes.last_seq(conn)
            if after // _PRUNE_EVERY != before // _PRUNE_EVERY:
                changes.prune(conn, after)
            return before, result, after

        return await self._writer().transaction(what, write)

    # -- writes ------------------------------------------------------------------------------

    async def insert(self, items: Sequence[StoredMemory]) -> list[int]:
        if not items:
            self._writer()
            return []
        async with self._write_lock:
            before, keys, after = await self._write(
                "adding memories", partial(ops.insert, items=items)
            )
            await self._vectors.apply(
                OwnChanges(
                    before,
                    after,
                    added=[(key, item.memory) for key, item in zip(keys, items, strict=True)],
                    vectors=np.stack([item.embedding for item in items]),
                )
            )
        return keys

    async def supersede(self, old_id: str, new: StoredMemory) -> int:
        async with self._write_lock:
            before, (key, old_key), after = await self._write(
                "superseding a memory", partial(ops.supersede, old_id=old_id, new=new)
            )
            await self._vectors.apply(
                OwnChanges(
                    before,
                    after,
                    added=[(key, new.memory)],
                    vectors=new.embedding[np.newaxis, :],
                    superseded=[old_key],
                )
            )
        return key

    async def delete(self, ids: Sequence[str], *, user_id: str | None = None) -> list[int]:
        if not ids:
            self._writer()
            return []
        async with self._write_lock:
            before, keys, after = await self._write(
                "deleting memories", partial(ops.delete, ids=ids, user_id=user_id)
            )
            await self._vectors.apply(OwnChanges(before, after, removed=keys))
        return keys

    async def clear(self, where: MemoryFilter) -> list[int]:
        async with self._write_lock:
            before, keys, after = await self._write(
                "clearing memories", partial(ops.clear, where=where)
            )
            await self._vectors.apply(OwnChanges(before, after, removed=keys))
        return keys

    async def replace_embeddings(
        self, embeddings: dict[int, Vector], embedder: EmbedderRecord
    ) -> None:
        def replace(conn: sqlite3.Connection) -> None:
            ops.replace_embeddings(conn, embeddings, embedder)
            next_generation(conn)

        async with self._write_lock:
            await self._write("switching embeddings", replace)
            self._record = embedder
            await self._vectors.switched(embedder)

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
