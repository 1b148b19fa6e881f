"""SQLiteVectorIndex: the VectorIndex of the embedded backend, following the database.

Three in-process structures follow the SQLite truth:

* the :class:`ScopeCatalog`, the few columns the visibility rule reads, so a search knows the
  exact keys its filter allows before it searches (a user with one memory among millions
  still finds it);
* a usearch HNSW graph, persisted beside the database as a cache (see :mod:`.graph_file`);
* :class:`FreshVectors`, the newest vectors, searched exactly until a background merge moves
  them into the graph in bulk (an HNSW insert costs ~1 ms a vector; an append, microseconds).

Every process (and every engine of one process) keeps its own, and follows every commit to
the database before each search: the probe's data version says whether anything was
committed since the last look (a few microseconds), and only then is the change log read
(:mod:`.changes`). A process too far behind, or opening, reconciles from a snapshot by key
difference. This engine's own writes are applied directly when nothing else came between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import numpy as np

from headroom.domain import Memory, SearchFilter
from headroom.errors import DimensionMismatchError, StorageError
from headroom.storage.base import EmbedderRecord, Keys, Ranked, Vector
from headroom.storage.sqlite import changes
from headroom.storage.sqlite import operations as ops
from headroom.storage.sqlite.catalog import ScopeCatalog
from headroom.storage.sqlite.connection import Database
from headroom.storage.sqlite.fresh import FreshVectors
from headroom.storage.sqlite.usearch_index import UsearchIndex
from headroom.storage.sqlite.vector_plan import top_k

__all__ = ["HnswSettings", "OwnChanges", "SQLiteVectorIndex", "index_path"]

logger = logging.getLogger("headroom.storage")

SAVE_EVERY = 5_000
"""Graph changes after which the graph is saved, so a crash costs a bounded repair on open;
for a graph of more than four times this many vectors, a quarter of its size (a save writes
the whole graph: at a fixed interval a bulk ingest would spend most of its time saving)."""

MERGE_AT = 256
"""Fresh vectors that start a background merge into the graph."""

FRESH_LIMIT = 4_096
"""The most vectors kept fresh by this engine's own writes: beyond it, a write waits for a
merge (without holding the index's lock, so searches go on)."""

FRESH_CAP = 4 * FRESH_LIMIT
"""The most kept fresh at all: a search's catch-up with other processes' writes may go past
:data:`FRESH_LIMIT` (an exact scan of this many costs a few milliseconds), never past this."""

_READ_CHUNK = 2_048
"""Embeddings read from SQLite per step of a reconciliation."""


@dataclass(frozen=True, slots=True)
class HnswSettings:
    """How the graph is built and searched (see MemoryConfig)."""

    m: int
    ef_construction: int
    ef_search: int
    exact_threshold: int


@dataclass(frozen=True, slots=True)
class OwnChanges:
    """What one of this engine's write transactions changed, and where it sits in the log."""

    before: int
    after: int
    added: Sequence[tuple[int, Memory]] = ()
    vectors: Vector | None = None
    superseded: Sequence[int] = ()
    removed: Sequence[int] = ()


def index_path(db_path: Path, record: EmbedderRecord) -> Path:
    """The graph's file: named after the database file and the model, so a copy of the
    database never reads the original's, and a re-embed never overwrites the live one."""
    tag = uuid.uuid5(uuid.NAMESPACE_URL, f"{record.model_name}/{record.dimension}").hex[:8]
    return db_path.with_name(f"{db_path.name}.{tag}.usearch")


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
    """Catalog + HNSW graph + fresh buffer, following the database; see the module docstring.

    Read-only, the graph is loaded on the first search and never saved.
    """

    def __init__(self, db: Database, settings: HnswSettings, record: EmbedderRecord) -> None:
        """Use :meth:`open`."""
        self._db = db
        self._settings = settings
        self._record = record
        self._graph: UsearchIndex | None = None
        self._fresh = FreshVectors(record.dimension)
        self._catalog = ScopeCatalog()
        self._identity = db.identity
        self._home = db.home
        self._applied = 0
        """The log position everything here reflects."""
        self._synced_version: int | None = None
        """The probe's data version when the index last caught up."""
        self._lock = anyio.Lock()  # every change to the catalog, graph or buffer
        self._merge_lock = anyio.Lock()  # held by a merge; taken before _lock when both are
        self._merging: set[int] | None = None
        self._removed_while_merging: list[int] = []
        self._merge_task: asyncio.Task[None] | None = None
        self._unsaved = 0
        self._closed = False

    @classmethod
    async def open(
        cls, db: Database, settings: HnswSettings, record: EmbedderRecord
    ) -> SQLiteVectorIndex:
        """The index of ``db``; loaded now, or on the first search when read-only."""
        index = cls(db, settings, record)
        if not db.read_only:
            async with index._lock:
                await index._load()
        return index

    # -- the port ----------------------------------------------------------------------------

    async def search(self, query: Vector, k: int, where: SearchFilter) -> Ranked:
        await self.follow()
        allowed = self._catalog.allowed(
            where.scope,
            categories=None if where.categories is None else [c.value for c in where.categories],
            include_superseded=where.include_superseded,
        )
        if allowed.size == 0 or k <= 0:
            return []
        graph = self._graph
        assert graph is not None  # follow() loaded it
        fresh_keys, fresh_sims = self._fresh.search(query, k, allowed)
        graph_keys, graph_sims = await graph.search(query, k, allowed)
        # A key being merged can be in both: keep it once.
        keys = np.concatenate((fresh_keys, graph_keys))
        sims = np.concatenate((fresh_sims, graph_sims))
        keys, first = np.unique(keys, return_index=True)
        keys, sims = top_k(keys, sims[first], k)
        return [(int(key), float(sim)) for key, sim in zip(keys, sims, strict=True)]

    async def rows(self, user_id: str) -> tuple[int, int]:
        """How many rows ``user_id`` holds and how many the database holds (every scope and
        version), as of now: what the keyword half plans with."""
        await self.follow()
        return self._catalog.user_keys(user_id), len(self._catalog)

    async def rebuild(self) -> int:
        """A fresh graph from SQLite's embeddings; the live one serves until it is complete."""
        async with self._merge_lock, self._lock:
            await self._rebuild()
            assert self._graph is not None
            return len(self._graph) + len(self._fresh)

    # -- following ---------------------------------------------------------------------------

    async def follow(self) -> None:
        """Catch up with every commit made before this call (by any connection)."""
        version = self._db.probe.version()
        if version is not None and version == self._synced_version and self._graph is not None:
            return  # nothing committed since the last look: the quiet path, no thread hop
        async with self._lock:
            if self._graph is None:
                await self._load()
                renewed = False
            elif version is None or version != self._synced_version:
                renewed = await self._catch_up()
            else:
                renewed = False
            self._synced_version = version
        if renewed:
            await self.rebuild()
        self._merge_soon()

    async def _catch_up(self) -> bool:
        """Apply what the log says since ``_applied`` (holding _lock); True when the
        database was re-embedded or renewed since, and the graph must be rebuilt."""
        found = await self._db.reader.run(
            "reading the change log", partial(changes.delta, after=self._applied, home=self._home)
        )
        if found is not None and (
            found.identity != self._identity or found.embedder != self._record
        ):
            self._check_embedder(found.embedder)
            return True
        if found is None:
            await self._reconcile(await self._snapshot())
        else:
            await self._apply_delta(found)
        return False

    async def apply(self, own: OwnChanges) -> None:
        """This engine's write committed: apply it directly when nothing else came between
        (otherwise read the log, which holds it too)."""
        if self._graph is None:
            return  # not loaded yet (read-only): loading will read it from the database
        if len(self._fresh) + len(own.added) > FRESH_LIMIT:
            # The writer waits for the graph to take the buffer in (without holding _lock,
            # so searches go on): this is what paces a bulk add_many.
            await self._drain()
        renewed = False
        async with self._lock:
            if self._applied >= own.after:
                return  # a search already read it from the log
            if self._applied != own.before:
                renewed = await self._catch_up()
            else:
                await self._apply_own(own)
                self._applied = own.after
        if renewed:
            await self.rebuild()
        self._merge_soon()

    async def _apply_own(self, own: OwnChanges) -> None:
        if own.added:
            assert own.vectors is not None
            keys = np.array([key for key, _ in own.added], dtype=np.int64)
            # Fresh first, even for a large batch: searches find the new vectors at once, and
            # the merge inserts them into the graph without holding _lock.
            await self._add_vectors(keys, own.vectors, direct=False)
            for key, memory in own.added:
                self._catalog.add(*_catalog_row(key, memory))
        for key in own.superseded:
            self._catalog.set_current(key, False)
        if own.removed:
            await self._remove(list(own.removed))

    async def _apply_delta(self, found: changes.Delta) -> None:
        if found.gone:
            await self._remove(found.gone)
        if found.vectors:
            keys = np.array(sorted(found.vectors), dtype=np.int64)
            vectors = np.stack([found.vectors[int(key)] for key in keys])
            await self._add_vectors(keys, vectors, direct=False)
        for row in found.rows:
            self._catalog.add(*row)
        self._applied = found.seq

    def _check_embedder(self, recorded: EmbedderRecord | None) -> None:
        if recorded is not None and recorded != self._record:
            raise DimensionMismatchError(
                f"{self._db.path} was re-embedded with {recorded.model_name!r} "
                f"({recorded.dimension} dimensions) since this memory opened it with "
                f"{self._record.model_name!r}; open it again with the new embedder"
            )

    async def _add_vectors(self, keys: Keys, vectors: Vector, *, direct: bool) -> None:
        graph = self._graph
        assert graph is not None
        if direct or len(self._fresh) + len(keys) > FRESH_CAP:
            await graph.add(keys, vectors)
            self._fresh.remove(keys)
            await self._note_changes(len(keys))
        else:
            self._fresh.add(keys, vectors)

    async def _remove(self, keys: list[int]) -> None:
        graph = self._graph
        assert graph is not None
        self._fresh.remove(keys)
        self._catalog.remove(keys)
        if self._merging is not None:
            self._removed_while_merging.extend(k for k in keys if k in self._merging)
        await graph.remove(np.asarray(keys, dtype=np.int64))
        await self._note_changes(len(keys))

    # -- loading, reconciling, rebuilding ----------------------------------------------------

    async def _snapshot(self) -> changes.Snapshot:
        return await self._db.reader.run(
            "reading the database", partial(changes.snapshot, home=self._home)
        )

    async def _load(self) -> None:
        """Open the graph from its file and bring everything up to the database (holding
        _lock)."""
        self._synced_version = self._db.probe.version()
        snapshot = await self._snapshot()
        self._check_embedder(snapshot.embedder)
        self._identity = snapshot.identity
        self._graph = await self._open_graph(fresh=False)
        await self._reconcile(snapshot)

    async def _open_graph(self, *, fresh: bool) -> UsearchIndex:
        path = index_path(self._db.path, self._record)
        owner = None if self._identity is None else self._identity.owner
        read_only = self._db.read_only or owner is None
        if fresh and not read_only:
            try:
                await anyio.to_thread.run_sync(partial(path.unlink, missing_ok=True))
            except OSError as exc:
                raise StorageError(f"cannot replace the vector index {path}: {exc}") from exc
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph = await UsearchIndex.open(
                None if fresh and read_only else path,
                self._record.dimension,
                m=self._settings.m,
                ef_construction=self._settings.ef_construction,
                ef_search=self._settings.ef_search,
                exact_threshold=self._settings.exact_threshold,
                owner=owner,
                read_only=read_only,
            )
        for warning in caught:  # raised again here, where the caller's filters apply
            warnings.warn(warning.message, warning.category, stacklevel=4)
        return graph

    async def _reconcile(self, snapshot: changes.Snapshot) -> None:
        """Make everything hold exactly what ``snapshot`` holds (holding _lock)."""
        graph = self._graph
        assert graph is not None
        self._catalog = ScopeCatalog()
        self._catalog.extend(snapshot.catalog)
        in_graph = await graph.keys()
        fresh = self._fresh.keys()
        ghosts = np.setdiff1d(in_graph, snapshot.keys, assume_unique=True)
        stale_fresh = np.setdiff1d(fresh, snapshot.keys, assume_unique=True)
        if self._merging is not None:  # a merge may add them to the graph after this
            self._removed_while_merging.extend(
                key for key in stale_fresh.tolist() if key in self._merging
            )
        if ghosts.size:
            logger.info("removing %d stale entries from the vector index", ghosts.size)
            await graph.remove(ghosts)
        self._fresh.remove(stale_fresh)
        missing = np.setdiff1d(snapshot.keys, np.union1d(in_graph, fresh), assume_unique=True)
        if missing.size:
            logger.info("adding %d missing entries to the vector index from SQLite", missing.size)
            direct = missing.size > MERGE_AT
            for start in range(0, missing.size, _READ_CHUNK):
                chunk = missing[start : start + _READ_CHUNK].tolist()
                found = await self._db.reader.run(
                    "reading embeddings", partial(ops.embeddings, keys=chunk)
                )
                if found:
                    keys = np.array(sorted(found), dtype=np.int64)
                    vectors = np.stack([found[int(k)] for k in keys])
                    await self._add_vectors(keys, vectors, direct=direct)
        self._identity = snapshot.identity
        self._applied = snapshot.seq
        if ghosts.size or (missing.size > MERGE_AT):
            await self._save_quietly()

    async def _rebuild(self) -> None:
        """A new graph of every stored embedding, swapped in when complete (holding both
        locks)."""
        self._synced_version = self._db.probe.version()
        snapshot = await self._snapshot()
        self._check_embedder(snapshot.embedder)
        self._identity = snapshot.identity
        stale = self._graph
        self._graph = await self._open_graph(fresh=True)
        self._fresh = FreshVectors(self._record.dimension)
        try:
            await self._reconcile(snapshot)
            await self._graph.save()
        except BaseException:
            fresh, self._graph = self._graph, stale
            await fresh.aclose()
            raise
        if stale is not None:
            await stale.aclose()
        self._unsaved = 0

    async def switched(self, record: EmbedderRecord) -> None:
        """This engine replaced the embeddings: a new graph of the new model's vectors."""
        async with self._merge_lock, self._lock:
            self._record = record
            await self._rebuild()

    # -- merging and saving ------------------------------------------------------------------

    def _merge_soon(self) -> None:
        """Start a background merge of the fresh vectors into the graph, if one is due."""
        if self._closed or self._merging is not None or len(self._fresh) < MERGE_AT:
            return
        if self._merge_task is not None and not self._merge_task.done():
            return
        self._merge_task = asyncio.get_running_loop().create_task(self._merge())

    async def _merge(self) -> None:
        async with self._merge_lock:
            try:
                while not self._closed and len(self._fresh) >= MERGE_AT:
                    await self._merge_once()
            except Exception:
                # The vectors stay fresh (searched exactly); the next write tries again.
                logger.warning("merging new vectors into the index failed", exc_info=True)
            finally:
                self._merging = None

    async def _drain(self) -> None:
        """Merge the whole buffer into the graph now (a running merge finishes first)."""
        async with self._merge_lock:
            try:
                while not self._closed and len(self._fresh) > 0:
                    await self._merge_once()
            except Exception:
                # As in the background merge: the vectors stay fresh (searched exactly), and
                # the write that waited here is committed all the same.
                logger.warning("merging new vectors into the index failed", exc_info=True)
            finally:
                self._merging = None

    async def _merge_once(self, limit: int = FRESH_LIMIT) -> None:
        graph = self._graph
        assert graph is not None
        keys, vectors = self._fresh.take(limit)
        self._merging, self._removed_while_merging = set(keys.tolist()), []
        await graph.add(keys, vectors)  # searches go on meanwhile, finding them fresh
        async with self._lock:
            self._fresh.remove(keys)
            removed, self._removed_while_merging = self._removed_while_merging, []
            if removed:
                await graph.remove(np.asarray(removed, dtype=np.int64))
            self._merging = None
        # Saved outside _lock: a save writes the whole graph, and searches need only the
        # graph's own limiter meanwhile (any state of the graph is a valid cache of the
        # database: an open reconciles it by key difference).
        await self._note_changes(len(keys))

    async def _note_changes(self, count: int) -> None:
        self._unsaved += count
        graph = self._graph
        if self._unsaved >= max(SAVE_EVERY, 0 if graph is None else len(graph) // 4):
            self._unsaved = 0
            await self._save_quietly()

    async def _save_quietly(self) -> None:
        """Save the graph; a failure (a full disk) is logged: the file is only a cache."""
        graph = self._graph
        if graph is None or self._db.read_only:
            return
        try:
            await graph.save()
        except StorageError as exc:
            logger.warning("the vector index was not saved: %s", exc)

    async def keys(self) -> Keys:
        """Every key the index holds, sorted (for consistency checks)."""
        await self.follow()
        async with self._lock:
            assert self._graph is not None
            return np.union1d(await self._graph.keys(), self._fresh.keys())

    async def aclose(self) -> None:
        """Finish a running merge, save the graph (a failure only costs a repair on the next
        open) and free it."""
        if self._closed:
            return
        self._closed = True
        task = self._merge_task
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await task
        async with self._lock:
            graph, self._graph = self._graph, None
            if graph is None:
                return
            try:
                if not self._db.read_only:
                    try:
                        await graph.save()
                    except StorageError as exc:
                        warnings.warn(
                            f"the vector index was not saved on closing: {exc}",
                            RuntimeWarning,
                            stacklevel=2,
                        )
            finally:
                await graph.aclose()
