"""SQLiteVectorIndex: the VectorIndex of the embedded backend.

Two in-process structures follow the SQLite truth: a usearch HNSW graph, persisted beside the
database as a cache, and the :class:`ScopeCatalog`, the few columns the visibility rule reads,
so a search knows the exact keys its filter allows before it searches (a user with one memory
among millions still finds it). The store tells this index about every write it commits,
under its write lock, so changes arrive in commit order.

The graph is only a cache: on open it is loaded from its file and reconciled with SQLite by
key difference (ghosts removed, missing keys added), and :meth:`rebuild` makes it anew.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread
import numpy as np

from headroom.domain import Memory, SearchFilter
from headroom.errors import StorageError
from headroom.storage.base import EmbedderRecord, Keys, Ranked, Vector
from headroom.storage.sqlite import operations as ops
from headroom.storage.sqlite.catalog import ScopeCatalog
from headroom.storage.sqlite.connection import Connection
from headroom.storage.sqlite.usearch_index import UsearchIndex

__all__ = ["HnswSettings", "SQLiteVectorIndex", "index_file_name"]

logger = logging.getLogger("headroom.storage")

#: Index changes after which the graph is saved in the background of a write, so a crash
#: costs a bounded repair on the next open.
SAVE_EVERY = 5_000
#: Vectors read from SQLite per step of a rebuild or reconciliation.
_REBUILD_CHUNK = 2048


@dataclass(frozen=True, slots=True)
class HnswSettings:
    """How the graph is built and searched (see MemoryConfig)."""

    m: int
    ef_construction: int
    ef_search: int
    exact_threshold: int


def index_file_name(db_path: Path, record: EmbedderRecord) -> str:
    """The graph's file name: per model, so a re-embed never overwrites the live one."""
    tag = uuid.uuid5(uuid.NAMESPACE_URL, f"{record.model_name}/{record.dimension}").hex[:8]
    return f"{db_path.name}.{tag}.usearch"


def _catalog_row(key: int, memory: Memory) -> ops.CatalogRow:
    return (
        key,
        memory.user_id,
        memory.session_id,
        memory.agent_id,
        memory.turn_id,
        memory.category.value,
        memory.is_current,
    )


class SQLiteVectorIndex:
    """Scope catalog + usearch graph, kept in step with the store; see the module docstring."""

    def __init__(
        self,
        reader: Connection,
        db_path: Path,
        settings: HnswSettings,
        graph: UsearchIndex,
        catalog: ScopeCatalog,
    ) -> None:
        self._reader = reader
        self._db_path = db_path
        self._settings = settings
        self._graph = graph
        self._catalog = catalog
        self._lock = anyio.Lock()
        self._unsaved = 0

    @classmethod
    async def open(
        cls,
        reader: Connection,
        db_path: Path,
        index_file: str,
        dimension: int,
        settings: HnswSettings,
    ) -> SQLiteVectorIndex:
        """Load the graph from ``index_file`` beside the database and bring it up to date."""
        graph = await _open_graph(db_path.parent / index_file, dimension, settings)
        try:
            await _reconcile(reader, graph)
            catalog = ScopeCatalog()
            catalog.extend(await reader.run("reading the scope catalog", ops.catalog_rows))
        except BaseException:
            await graph.aclose()
            raise
        return cls(reader, db_path, settings, graph, catalog)

    # -- the port ----------------------------------------------------------------------------

    async def search(self, query: Vector, k: int, where: SearchFilter) -> Ranked:
        allowed = self._catalog.allowed(
            where.scope,
            categories=None if where.categories is None else [c.value for c in where.categories],
            include_superseded=where.include_superseded,
        )
        if allowed.size == 0 or k <= 0:
            return []
        keys, similarities = await self._graph.search(query, k, allowed)
        return [(int(key), float(sim)) for key, sim in zip(keys, similarities, strict=True)]

    async def rebuild(self) -> int:
        """A fresh graph from SQLite's embeddings; the live one serves until it is complete."""
        async with self._lock:
            fresh = await self._build(self._graph.path, self._graph.dimension)
            stale, self._graph = self._graph, fresh
            await stale.aclose()
            self._unsaved = 0
            return len(fresh)

    # -- told by the store, in commit order -------------------------------------------------

    async def added(self, keys: Sequence[int], memories: Sequence[Memory], vectors: Vector) -> None:
        async with self._lock:
            await self._graph.add(np.asarray(keys, dtype=np.int64), vectors)
            for key, memory in zip(keys, memories, strict=True):
                self._catalog.add(*_catalog_row(key, memory))
            await self._note_changes(len(keys))

    def superseded(self, old_key: int) -> None:
        self._catalog.set_current(old_key, False)

    async def removed(self, keys: Sequence[int]) -> None:
        if not keys:
            return
        async with self._lock:
            await self._graph.remove(np.asarray(keys, dtype=np.int64))
            self._catalog.remove(keys)
            await self._note_changes(len(keys))

    async def switched(self, record: EmbedderRecord, index_file: str) -> None:
        """The store's embeddings were replaced: a fresh graph of the new model's vectors."""
        async with self._lock:
            path = self._db_path.parent / index_file
            fresh = await self._build(path, record.dimension)
            stale, self._graph = self._graph, fresh
            await stale.aclose()
            self._unsaved = 0

    async def keys(self) -> Keys:
        """Every key the graph holds, sorted (for consistency checks)."""
        return await self._graph.keys()

    async def aclose(self) -> None:
        """Save the graph and free it."""
        async with self._lock:
            try:
                await self._graph.save()
            finally:
                await self._graph.aclose()

    # -- internals ---------------------------------------------------------------------------

    async def _build(self, path: Path | None, dimension: int) -> UsearchIndex:
        if path is not None:
            await _remove_file(path)
        fresh = await _open_graph(path, dimension, self._settings)
        try:
            await _reconcile(self._reader, fresh)
            await fresh.save()
        except BaseException:
            await fresh.aclose()
            raise
        return fresh

    async def _note_changes(self, count: int) -> None:
        self._unsaved += count
        if self._unsaved >= SAVE_EVERY:
            self._unsaved = 0
            await self._graph.save()


async def _open_graph(path: Path | None, dimension: int, settings: HnswSettings) -> UsearchIndex:
    return await UsearchIndex.open(
        path,
        dimension,
        m=settings.m,
        ef_construction=settings.ef_construction,
        ef_search=settings.ef_search,
        exact_threshold=settings.exact_threshold,
    )


async def _remove_file(path: Path) -> None:
    """Delete ``path`` if it exists, in a worker thread (file-system calls block)."""
    try:
        await anyio.to_thread.run_sync(partial(path.unlink, missing_ok=True))
    except OSError as exc:
        raise StorageError(f"cannot remove {path}: {exc}") from exc


async def _reconcile(reader: Connection, graph: UsearchIndex) -> None:
    """Make the graph hold exactly the keys SQLite holds (SQLite is the truth)."""
    in_store = await reader.run("listing keys", ops.keys)
    in_graph = await graph.keys()
    ghosts = np.setdiff1d(in_graph, in_store, assume_unique=True)
    missing = np.setdiff1d(in_store, in_graph, assume_unique=True)
    if ghosts.size:
        logger.info("removing %d stale entries from the vector index", ghosts.size)
        await graph.remove(ghosts)
    if missing.size:
        logger.info("adding %d missing entries to the vector index from SQLite", missing.size)
        for start in range(0, missing.size, _REBUILD_CHUNK):
            chunk = missing[start : start + _REBUILD_CHUNK].tolist()
            found = await reader.run("reading embeddings", partial(ops.embeddings, keys=chunk))
            if found:
                keys = np.array(sorted(found), dtype=np.int64)
                await graph.add(keys, np.stack([found[int(k)] for k in keys]))
    if ghosts.size or missing.size:
        await graph.save()
