"""PostgresStore: the MemoryStore of the PostgreSQL backend.

Each method is one operation of :mod:`headroom.storage.postgres.operations` on a pooled
connection: the writes in one transaction each, the reads in one statement (or in a
transaction confined to the user they name). The indexes (HNSW, GIN) are PostgreSQL's own and
change in the same transactions, so there is nothing to tell after a commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

from headroom.domain import Memory, MemoryFilter, MemoryStats
from headroom.storage.base import EmbedderRecord, StoredMemory, Vector
from headroom.storage.postgres import operations as ops
from headroom.storage.postgres.connection import Connection, Database, PostgresSettings
from headroom.storage.postgres.migrations import (
    DIMENSION_CHECK,
    VECTOR_INDEX,
    create_vector_index,
    set_dimension,
)
from headroom.storage.postgres.sql import MEMORIES
from headroom.storage.postgres.vectors import PostgresVectorIndex

__all__ = ["PostgresStore"]

T = TypeVar("T")


def _one_user(users: set[str]) -> str | None:
    """The user an operation is confined to: the only one it touches, if there is one."""
    return next(iter(users)) if len(users) == 1 else None


class PostgresStore:
    """The MemoryStore over one PostgreSQL database (see :func:`open_postgres`)."""

    def __init__(
        self, db: Database, vectors: PostgresVectorIndex, settings: PostgresSettings
    ) -> None:
        self._db = db
        self._vectors = vectors
        self._settings = settings

    @property
    def location(self) -> str:
        return self._db.location

    def __repr__(self) -> str:
        return f"<PostgresStore {self._db.location}>"

    # -- writes ------------------------------------------------------------------------------

    async def insert(self, items: Sequence[StoredMemory]) -> list[int]:
        if not items:
            return []
        return await self._db.transaction(
            "adding memories",
            partial(ops.insert, items=items),
            user=_one_user({item.memory.user_id for item in items}),
            write=True,
        )

    async def supersede(self, old_id: str, new: StoredMemory) -> int:
        return await self._db.transaction(
            "superseding a memory",
            partial(ops.supersede, old_id=old_id, new=new),
            user=new.memory.user_id,
            write=True,
        )

    async def delete(self, ids: Sequence[str], *, user_id: str | None = None) -> list[int]:
        if not ids:
            return []
        return await self._db.transaction(
            "deleting memories",
            partial(ops.delete, ids=list(ids), user_id=user_id),
            user=user_id,
            write=True,
        )

    async def clear(self, where: MemoryFilter) -> list[int]:
        return await self._db.transaction(
            "clearing memories", partial(ops.clear, where=where), user=where.user_id, write=True
        )

    async def replace_embeddings(
        self, embeddings: dict[int, Vector], embedder: EmbedderRecord
    ) -> None:
        settings = self._settings

        async def replace(conn: Connection) -> None:
            # The old index and check go first: this locks out every other writer (and reader)
            # of the table until the new vectors, check and index stand.
            await conn.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")
            await conn.execute(
                f"ALTER TABLE {MEMORIES} DROP CONSTRAINT IF EXISTS {DIMENSION_CHECK}"
            )
            await ops.replace_embeddings(conn, embeddings, embedder)
            await conn.execute(set_dimension(embedder.dimension))
            await conn.execute(
                create_vector_index(
                    embedder.dimension, settings.hnsw_m, settings.hnsw_ef_construction
                )
            )

        await self._db.transaction("switching embeddings", replace, write=True)
        self._vectors.dimension = embedder.dimension

    # -- reads -------------------------------------------------------------------------------

    async def get(self, ids: Sequence[str]) -> dict[str, StoredMemory]:
        return await self._db.read("reading memories", partial(ops.get_by_ids, ids=ids))

    async def get_by_keys(self, keys: Sequence[int]) -> dict[int, StoredMemory]:
        wanted = [int(k) for k in keys]
        return await self._db.read("reading memories", partial(ops.get_by_keys, keys=wanted))

    async def query(self, where: MemoryFilter) -> list[Memory]:
        return await self._filtered("reading memories", partial(ops.query, where=where), where)

    async def stats(self, where: MemoryFilter) -> MemoryStats:
        return await self._filtered("counting memories", partial(ops.stats, where=where), where)

    async def chain(self, memory_id: str) -> list[Memory]:
        return await self._db.read("reading a history", partial(ops.chain, memory_id=memory_id))

    async def contents(self, after_key: int, limit: int) -> list[tuple[int, str]]:
        return await self._db.read(
            "reading memories", partial(ops.contents, after_key=after_key, limit=limit)
        )

    async def _filtered(
        self, what: str, operation: Callable[[Connection], Awaitable[T]], where: MemoryFilter
    ) -> T:
        """A read of one user's rows is confined to that user; others read everything."""
        user = where.user_id or (None if where.within is None else where.within.user_id)
        if user is None:
            return await self._db.read(what, operation)
        return await self._db.transaction(what, operation, user=user)

    # -- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pool (waiting for the operations in flight). Idempotent."""
        await self._db.aclose()
