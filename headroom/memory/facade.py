"""HierarchicalMemory: the engine's one public class.

It composes the ports (a MemoryStore, a VectorIndex, a TextIndex and an Embedder) and the pure
rules (scope visibility, rank fusion, chain order); it owns no storage logic of its own.

Write path: validate, embed (outside any lock), then under the mutation lock commit to SQLite
first and update the vector index and the scope catalog second. SQLite is the truth: if the
process dies between the two, the next open finds the index missing those keys and adds them.

Read path: the catalog gives the keys the context may see, the vector and keyword searches run
concurrently over exactly those, the lists are fused, and the winners are fetched from SQLite
and checked against the scope rule once more, so a stale index entry can never surface.
"""

from __future__ import annotations

import logging
import math
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread
import numpy as np

from headroom.embedders.base import Embedder, normalize, validate_vectors
from headroom.errors import (
    ClosedError,
    ConfigError,
    DimensionMismatchError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from headroom.memory.config import MemoryConfig
from headroom.memory.fusion import reciprocal_rank_fusion
from headroom.memory.models import (
    Memory,
    MemoryCategory,
    MemoryFilter,
    MemoryStats,
    NewMemory,
    SearchHit,
    check_importance,
)
from headroom.memory.validation import (
    check_content,
    check_id,
    check_memory_id,
    check_metadata,
    check_query,
)
from headroom.scoping import Scope
from headroom.scoping.catalog import ScopeCatalog
from headroom.storage import codec
from headroom.storage.base import SearchFilter, StoredMemory, TextIndex, VectorIndex
from headroom.storage.fts5 import FTS5TextIndex
from headroom.storage.sqlite_store import SQLiteStore

__all__ = ["HierarchicalMemory", "ReembedProgress"]

logger = logging.getLogger("headroom.memory")

_META_MODEL = "embedder_model"
_META_DIMENSION = "embedder_dimension"
_META_INDEX = "vector_index_file"

#: How many candidates each half of a hybrid search contributes to the fusion, per result.
_CANDIDATES_PER_RESULT = 4
_MIN_CANDIDATES = 20
#: Vector-index changes after which the index is saved in the background of a write.
_SAVE_EVERY = 5_000
_REEMBED_BATCH = 256


@dataclass(frozen=True, slots=True)
class ReembedProgress:
    """Reported to the ``progress`` callback of :meth:`HierarchicalMemory.reembed`."""

    done: int
    total: int


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _index_file(db_path: Path, model_name: str, dimension: int) -> str:
    """The vector index's file name: per model, so a re-embed never overwrites the live one."""
    tag = uuid.uuid5(uuid.NAMESPACE_URL, f"{model_name}/{dimension}").hex[:8]
    return f"{db_path.name}.{tag}.usearch"


class HierarchicalMemory:
    """Persistent, scoped, versioned memory with hybrid search.

    Create with ``await HierarchicalMemory.create(config)``; close with ``await aclose()`` or
    use ``async with``. Safe to share between concurrent tasks of one event loop.
    """

    def __init__(
        self,
        config: MemoryConfig,
        store: SQLiteStore,
        vectors: VectorIndex,
        text: TextIndex,
        embedder: Embedder,
        catalog: ScopeCatalog,
        *,
        owned_embedder: Embedder | None,
    ) -> None:
        self._config = config
        self._store = store
        self._vectors = vectors
        self._text = text
        self._embedder = embedder
        self._owned_embedder = owned_embedder
        self._catalog = catalog
        self._mutation_lock = anyio.Lock()
        self._unsaved = 0
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def create(
        cls, config: MemoryConfig | None = None, *, embedder: Embedder | None = None
    ) -> HierarchicalMemory:
        """Open (creating if needed) the memory at ``config.db_path``.

        ``embedder`` replaces the one ``config`` describes (any object satisfying the
        :class:`~headroom.embedders.base.Embedder` protocol; headroom does not close it).
        Raises :class:`DimensionMismatchError` when the database holds vectors of another
        model or dimension than the embedder makes.
        """
        if config is None:
            config = MemoryConfig()
        elif not isinstance(config, MemoryConfig):
            raise ConfigError(f"config must be a MemoryConfig, got {type(config).__name__}")
        store = await SQLiteStore.open(config.path)
        owned: Embedder | None = None
        vectors: VectorIndex | None = None
        try:
            if embedder is None:
                from headroom.embedders.registry import create_embedder

                embedder = owned = await create_embedder(config)
            elif not isinstance(embedder, Embedder):
                raise ConfigError(
                    f"embedder must satisfy the Embedder protocol, got {type(embedder).__name__}"
                )
            elif config.cache_enabled:
                from headroom.embedders.cache import CachedEmbedder

                embedder = CachedEmbedder(embedder, config.cache_max_size)
            index_file = await _check_embedder_meta(store, embedder)
            vectors = await _open_vector_index(config, config.path.parent / index_file, embedder)
            await _reconcile(store, vectors)
            catalog = ScopeCatalog()
            catalog.extend(await store.catalog())
        except BaseException:
            if vectors is not None:
                await vectors.aclose()
            if owned is not None:
                await owned.aclose()
            await store.aclose()
            raise
        return cls(
            config, store, vectors, FTS5TextIndex(store), embedder, catalog, owned_embedder=owned
        )

    @property
    def config(self) -> MemoryConfig:
        return self._config

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    async def aclose(self) -> None:
        """Save the vector index and release the database, the index and the embedder."""
        if self._closed:
            return
        self._closed = True
        async with self._mutation_lock:
            try:
                await self._vectors.save()
            finally:
                await self._vectors.aclose()
                if self._owned_embedder is not None:
                    await self._owned_embedder.aclose()
                await self._store.aclose()

    async def __aenter__(self) -> HierarchicalMemory:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(
                f"HierarchicalMemory({self._config.path}) was never closed; "
                "call `await memory.aclose()` or use `async with`",
                ResourceWarning,
                stacklevel=1,
                source=self,
            )

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this HierarchicalMemory is closed")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<HierarchicalMemory {self._config.path} {self._embedder.model_name} {state}>"

    # -- writes ------------------------------------------------------------------------------

    async def add(
        self,
        content: str,
        *,
        user_id: str,
        category: MemoryCategory | str = MemoryCategory.FACT,
        importance: float = 0.5,
        session_id: str | None = None,
        agent_id: str | None = None,
        turn_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Memory:
        """Store one memory and return it. Its scope is the deepest id given."""
        item = NewMemory(
            content=content,
            user_id=user_id,
            category=category,
            importance=importance,
            session_id=session_id,
            agent_id=agent_id,
            turn_id=turn_id,
            metadata=metadata,
        )
        return (await self.add_many([item]))[0]

    async def add_many(self, items: Sequence[NewMemory | Mapping[str, Any]]) -> list[Memory]:
        """Store many memories: one embedding call, one transaction. All or nothing."""
        self._check_open()
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise ValidationError("add_many takes a list of NewMemory objects or dicts")
        now = _now()
        memories = [self._new_memory(item, index, now) for index, item in enumerate(items)]
        if not memories:
            return []
        vectors = await self._embed([m.content for m in memories])
        await self._insert(memories, vectors)
        return memories

    async def supersede(
        self,
        old_memory_id: str,
        new_content: str,
        *,
        category: MemoryCategory | str | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Memory:
        """Replace a fact with a new version, atomically; the old one keeps its history.

        The new version inherits the old one's scope ids and, unless given, its category,
        importance and metadata. Raises :class:`SupersededError` naming the current head when
        ``old_memory_id`` is no longer current.
        """
        self._check_open()
        check_memory_id(old_memory_id)
        content = check_content(new_content, max_chars=self._config.max_content_chars)
        found = await self._store.get([old_memory_id])
        if old_memory_id not in found:
            raise NotFoundError(old_memory_id)
        old = found[old_memory_id].memory
        now = max(_now(), old.valid_from)
        new = Memory(
            id=str(uuid.uuid4()),
            content=content,
            category=old.category if category is None else MemoryCategory.parse(category),
            importance=old.importance if importance is None else check_importance(importance),
            user_id=old.user_id,
            session_id=old.session_id,
            agent_id=old.agent_id,
            turn_id=old.turn_id,
            created_at=now,
            valid_from=now,
            valid_to=None,
            supersedes=old.id,
            superseded_by=None,
            metadata=dict(old.metadata) if metadata is None else check_metadata(metadata),
        )
        vector = (await self._embed([content]))[0]
        async with self._mutation_lock:
            self._check_open()
            key, _ = await self._store.supersede(old.id, StoredMemory(0, new, vector))
            await self._vectors.add(np.array([key], dtype=np.int64), vector[None, :])
            self._catalog.add(*_catalog_row(key, new))
            self._catalog.set_current(found[old_memory_id].key, False)
            await self._note_changes(1)
        return new

    async def rollback(self, memory_id: str) -> Memory:
        """Make an older version's content current again, as a new head; history is kept."""
        self._check_open()
        check_memory_id(memory_id)
        chain = await self._store.chain(memory_id)
        head = chain[-1]
        if head.id == memory_id:
            raise ValidationError(f"memory {memory_id!r} is already the current version")
        target = next(m for m in chain if m.id == memory_id)
        return await self.supersede(
            head.id,
            target.content,
            category=target.category,
            importance=target.importance,
            metadata=target.metadata,
        )

    async def delete(self, memory_id: str) -> int:
        """Forget a memory: every version of its chain, from every index. How many versions."""
        self._check_open()
        check_memory_id(memory_id)
        async with self._mutation_lock:
            self._check_open()
            keys = await self._store.delete([memory_id])
            await self._forget(keys)
        return len(keys)

    async def clear(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        agent_id: str | None = None,
        turn_id: str | None = None,
    ) -> int:
        """Delete the memories of one user, optionally only those carrying the given ids.

        Ids match literally (a None id matches any value), so ``clear(user_id="bob",
        session_id="s1")`` removes what session s1 stored and keeps Bob's user-level
        memories. Never touches another user. Returns how many versions were deleted.
        """
        self._check_open()
        check_id("user_id", user_id, required=True)
        where = MemoryFilter(
            user_id=user_id,
            session_id=session_id,
            agent_id=agent_id,
            turn_id=turn_id,
            include_superseded=True,
        )
        async with self._mutation_lock:
            self._check_open()
            keys = await self._store.clear(where)
            await self._forget(keys)
        return len(keys)

    # -- reads -------------------------------------------------------------------------------

    async def get(self, memory_id: str) -> Memory:
        self._check_open()
        check_memory_id(memory_id)
        found = await self._store.get([memory_id])
        if memory_id not in found:
            raise NotFoundError(memory_id)
        return found[memory_id].memory

    async def get_history(self, memory_id: str) -> list[Memory]:
        """Every version of the fact, oldest first; only the last ``is_current``."""
        self._check_open()
        check_memory_id(memory_id)
        return await self._store.chain(memory_id)

    async def query(self, where: MemoryFilter | None = None) -> list[Memory]:
        """Memories matching a filter, oldest first (see :class:`MemoryFilter`)."""
        self._check_open()
        if where is None:
            where = MemoryFilter()
        elif not isinstance(where, MemoryFilter):
            raise ValidationError(f"query takes a MemoryFilter, got {type(where).__name__}")
        return await self._store.query(where)

    async def stats(
        self,
        user_id: str | None = None,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        turn_id: str | None = None,
    ) -> MemoryStats:
        """Counts over all memories, or those carrying the given ids (matched literally)."""
        self._check_open()
        where = MemoryFilter(
            user_id=user_id,
            session_id=session_id,
            agent_id=agent_id,
            turn_id=turn_id,
            include_superseded=True,
        )
        return await self._store.stats(where)

    async def search(
        self,
        query: str,
        *,
        user_id: str,
        session_id: str | None = None,
        agent_id: str | None = None,
        turn_id: str | None = None,
        top_k: int = 5,
        categories: Sequence[MemoryCategory | str] | None = None,
        include_superseded: bool = False,
        min_similarity: float | None = None,
    ) -> list[SearchHit]:
        """The memories this context sees that best match ``query``, best first.

        Hybrid: vector and keyword (BM25) results fused by weighted reciprocal rank. The
        context sees every memory whose own ids all equal its ids (see ``headroom.scoping``).
        Any query string is safe. ``min_similarity`` drops hits whose cosine similarity to the
        query is lower.
        """
        self._check_open()
        text = check_query(query)
        check_id("user_id", user_id, required=True)
        scope = Scope(user_id, session_id, agent_id, turn_id)
        for name in ("session_id", "agent_id", "turn_id"):
            check_id(name, getattr(scope, name))
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValidationError(f"top_k must be a positive int, got {top_k!r}")
        if min_similarity is not None and (
            isinstance(min_similarity, bool)
            or not isinstance(min_similarity, (int, float))
            or math.isnan(min_similarity)
        ):
            raise ValidationError(f"min_similarity must be a number, got {min_similarity!r}")
        if isinstance(categories, (str, MemoryCategory)):
            categories = [categories]  # one category, not its letters
        wanted = None if categories is None else frozenset(map(MemoryCategory.parse, categories))
        where = SearchFilter(scope, wanted, include_superseded)
        allowed = self._catalog.allowed(
            scope,
            categories=None if wanted is None else [c.value for c in wanted],
            include_superseded=include_superseded,
        )
        if allowed.size == 0 or not text.strip():
            return []
        candidates = max(top_k * _CANDIDATES_PER_RESULT, _MIN_CANDIDATES)
        vector_keys: list[int] = []
        text_keys: list[int] = []
        query_vector = np.empty(0, dtype=np.float32)

        async def vector_half() -> None:
            nonlocal query_vector
            query_vector = (await self._embed([text]))[0]
            if self._config.vector_weight > 0:
                keys, _ = await self._vectors.search(query_vector, candidates, allowed)
                vector_keys.extend(int(k) for k in keys)

        async def text_half() -> None:
            if self._config.text_weight > 0:
                found = await self._text.search(text, candidates, where)
                text_keys.extend(key for key, _ in found)

        # A failing half stops the other and its own error is raised, not an ExceptionGroup.
        failures: list[Exception] = []

        async def guarded(half: Callable[[], Awaitable[None]], scope: anyio.CancelScope) -> None:
            try:
                await half()
            except Exception as exc:
                failures.append(exc)
                scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(guarded, vector_half, group.cancel_scope)
            group.start_soon(guarded, text_half, group.cancel_scope)
        if failures:
            raise failures[0]
        fused = reciprocal_rank_fusion(
            [vector_keys, text_keys], [self._config.vector_weight, self._config.text_weight]
        )
        return await self._hits(fused, top_k, where, query_vector, min_similarity)

    # -- export, import and repair ------------------------------------------------------------

    async def import_memories(
        self, memories: Sequence[Memory], *, skip_existing: bool = False
    ) -> int:
        """Store memories exactly as given: ids, chain links, timestamps and metadata kept.

        For restoring an export. The content is embedded again with this memory's embedder.
        An id already stored raises :class:`ValidationError` (nothing is imported), or is
        skipped with ``skip_existing=True``. Returns how many were imported.
        """
        self._check_open()
        items = list(memories)
        for index, memory in enumerate(items):
            if not isinstance(memory, Memory):
                raise ValidationError(
                    f"item {index}: expected a Memory, got {type(memory).__name__}"
                )
            check_memory_id(memory.id)
            check_content(memory.content, max_chars=self._config.max_content_chars)
            check_id("user_id", memory.user_id, required=True)
            check_importance(memory.importance)
            check_metadata(memory.metadata)
        if len({m.id for m in items}) != len(items):
            raise ValidationError("the memories to import repeat an id")
        existing = await self._store.get([m.id for m in items])
        if existing and not skip_existing:
            raise ValidationError(
                f"{len(existing)} of these ids are already stored, e.g. {next(iter(existing))!r}"
            )
        items = [m for m in items if m.id not in existing]
        if not items:
            return 0
        vectors = await self._embed([m.content for m in items])
        await self._insert(items, vectors)
        return len(items)

    async def reindex(self) -> int:
        """Rebuild the vector index from the embeddings in SQLite. How many vectors it holds."""
        self._check_open()
        async with self._mutation_lock:
            self._check_open()
            path = self._config.path.parent / _index_file(
                self._config.path, self._embedder.model_name, self._embedder.dimension
            )
            # The live index keeps serving until the new one is complete: a failure here
            # leaves this memory as it was (the file is only a cache of SQLite).
            await _remove_file(path)
            fresh = await _open_vector_index(self._config, path, self._embedder)
            try:
                await _reconcile(self._store, fresh)
                await fresh.save()
            except BaseException:
                await fresh.aclose()
                raise
            stale, self._vectors = self._vectors, fresh
            await stale.aclose()
            return len(fresh)

    # -- re-embedding --------------------------------------------------------------------------

    async def reembed(
        self,
        new: MemoryConfig | Embedder,
        *,
        progress: Callable[[ReembedProgress], object] | None = None,
    ) -> None:
        """Re-embed every memory with another embedder and switch to it atomically.

        ``new`` is a MemoryConfig (its embedder settings are used) or an embedder object. The
        vectors are computed first, while this memory keeps serving; then one transaction swaps
        them in with the new model's name and dimension, and a fresh index is built. If the
        process stops before that transaction, nothing changed: the old embedder and index
        stay in use.
        """
        self._check_open()
        owned: Embedder | None = None
        if isinstance(new, MemoryConfig):
            from headroom.embedders.registry import create_embedder

            embedder = owned = await create_embedder(new)
        elif isinstance(new, Embedder):
            embedder = new
        else:
            raise ConfigError(f"reembed takes a MemoryConfig or an Embedder, got {new!r}")
        try:
            await self._reembed(embedder, progress)
        except BaseException:
            if owned is not None:
                await owned.aclose()
            raise
        if self._owned_embedder is not None:
            await self._owned_embedder.aclose()
        self._embedder = embedder
        self._owned_embedder = owned

    async def _reembed(
        self, embedder: Embedder, progress: Callable[[ReembedProgress], object] | None
    ) -> None:
        blobs: dict[int, bytes] = {}
        last = 0

        async def embed_pending() -> None:
            nonlocal last
            while batch := await self._store.contents(last, _REEMBED_BATCH):
                vectors = normalize(
                    validate_vectors(
                        await embedder.embed([c for _, c in batch]), len(batch), embedder.dimension
                    )
                )
                for (key, _), vector in zip(batch, vectors, strict=True):
                    blobs[key] = codec.vector_to_blob(vector)
                last = batch[-1][0]
                if progress is not None:
                    progress(ReembedProgress(len(blobs), len(self._catalog)))

        await embed_pending()  # the bulk, while this memory keeps serving
        async with self._mutation_lock:
            self._check_open()
            await embed_pending()  # whatever was added meanwhile
            live = set((await self._store.keys()).tolist())
            blobs = {key: blob for key, blob in blobs.items() if key in live}
            index_file = _index_file(self._config.path, embedder.model_name, embedder.dimension)
            path = self._config.path.parent / index_file
            await _remove_file(path)
            fresh = await _open_vector_index(self._config, path, embedder)
            try:
                await self._store.replace_embeddings(
                    blobs,
                    {
                        _META_MODEL: embedder.model_name,
                        _META_DIMENSION: str(embedder.dimension),
                        _META_INDEX: index_file,
                    },
                )
                await _reconcile(self._store, fresh)
                await fresh.save()
            except BaseException:
                await fresh.aclose()
                raise
            old, self._vectors = self._vectors, fresh
            await old.aclose()

    # -- internals ---------------------------------------------------------------------------

    def _new_memory(self, item: NewMemory | Mapping[str, Any], index: int, now: datetime) -> Memory:
        try:
            if isinstance(item, Mapping):
                unknown = set(item) - set(NewMemory.__dataclass_fields__)
                if unknown:
                    raise ValidationError(f"unknown fields {sorted(unknown)}")
                item = NewMemory(**item)
            elif not isinstance(item, NewMemory):
                raise ValidationError(f"expected a NewMemory or a dict, got {type(item).__name__}")
            check_id("user_id", item.user_id, required=True)
            for name in ("session_id", "agent_id", "turn_id"):
                check_id(name, getattr(item, name))
            return Memory(
                id=str(uuid.uuid4()),
                content=check_content(item.content, max_chars=self._config.max_content_chars),
                category=MemoryCategory.parse(item.category),
                importance=check_importance(item.importance),
                user_id=item.user_id,
                session_id=item.session_id,
                agent_id=item.agent_id,
                turn_id=item.turn_id,
                created_at=now,
                valid_from=now,
                valid_to=None,
                supersedes=None,
                superseded_by=None,
                metadata=check_metadata(item.metadata),
            )
        except (ValidationError, TypeError) as exc:
            if isinstance(exc, TypeError):
                exc = ValidationError(str(exc))
            raise ValidationError(f"item {index}: {exc}") from None

    async def _embed(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        vectors = await self._embedder.embed(texts)
        return normalize(validate_vectors(vectors, len(texts), self._embedder.dimension))

    async def _insert(
        self, memories: Sequence[Memory], vectors: np.ndarray[Any, np.dtype[np.float32]]
    ) -> list[int]:
        items = [StoredMemory(0, m, v) for m, v in zip(memories, vectors, strict=True)]
        async with self._mutation_lock:
            self._check_open()
            keys = await self._store.insert(items)
            await self._vectors.add(np.asarray(keys, dtype=np.int64), vectors)
            for key, memory in zip(keys, memories, strict=True):
                self._catalog.add(*_catalog_row(key, memory))
            await self._note_changes(len(keys))
        return keys

    async def _forget(self, keys: list[int]) -> None:
        if keys:
            await self._vectors.remove(np.asarray(keys, dtype=np.int64))
            self._catalog.remove(keys)
            await self._note_changes(len(keys))

    async def _note_changes(self, count: int) -> None:
        """Save the vector index now and then, so a crash costs a bounded repair on reopen."""
        self._unsaved += count
        if self._unsaved >= _SAVE_EVERY:
            self._unsaved = 0
            await self._vectors.save()

    async def _hits(
        self,
        fused: list[tuple[int, float]],
        top_k: int,
        where: SearchFilter,
        query_vector: np.ndarray[Any, np.dtype[np.float32]],
        min_similarity: float | None,
    ) -> list[SearchHit]:
        # Fetch a few more than asked, so rows deleted since the index answered don't cost
        # results; every row is re-checked against the scope rule before it is returned.
        wanted = fused[: top_k * 2]
        by_key = await self._store.get_by_keys([key for key, _ in wanted])
        hits: list[SearchHit] = []
        for key, score in wanted:
            stored = by_key.get(key)
            if stored is None or not _visible(stored.memory, where):
                continue
            similarity = float(np.dot(stored.embedding, query_vector))
            if min_similarity is not None and similarity < min_similarity:
                continue
            hits.append(SearchHit(stored.memory, score, similarity))
            if len(hits) == top_k:
                break
        return hits


def _visible(memory: Memory, where: SearchFilter) -> bool:
    return (
        where.scope.sees(memory.user_id, memory.session_id, memory.agent_id, memory.turn_id)
        and (where.include_superseded or memory.is_current)
        and (where.categories is None or memory.category in where.categories)
    )


def _catalog_row(
    key: int, memory: Memory
) -> tuple[int, str, str | None, str | None, str | None, str, bool]:
    return (
        key,
        memory.user_id,
        memory.session_id,
        memory.agent_id,
        memory.turn_id,
        memory.category.value,
        memory.is_current,
    )


async def _check_embedder_meta(store: SQLiteStore, embedder: Embedder) -> str:
    """Record the embedder in a new database, or refuse one that doesn't match; the index file."""
    model = await store.get_meta(_META_MODEL)
    dimension = await store.get_meta(_META_DIMENSION)
    if model is None or dimension is None:
        index_file = _index_file(store.path, embedder.model_name, embedder.dimension)
        await store.set_meta(
            {
                _META_MODEL: embedder.model_name,
                _META_DIMENSION: str(embedder.dimension),
                _META_INDEX: index_file,
            }
        )
        return index_file
    if model != embedder.model_name or int(dimension) != embedder.dimension:
        raise DimensionMismatchError(
            f"{store.path} holds vectors of {model!r} ({dimension} dimensions), but the "
            f"embedder is {embedder.model_name!r} ({embedder.dimension} dimensions). Open it "
            "with the same embedder, then `await memory.reembed(new_config)` to switch."
        )
    recorded = await store.get_meta(_META_INDEX)
    return recorded or _index_file(store.path, model, int(dimension))


async def _open_vector_index(config: MemoryConfig, path: Path, embedder: Embedder) -> VectorIndex:
    from headroom.storage.usearch_index import UsearchIndex

    return await UsearchIndex.open(
        path,
        embedder.dimension,
        m=config.hnsw_m,
        ef_construction=config.hnsw_ef_construction,
        ef_search=config.hnsw_ef_search,
        exact_threshold=config.exact_search_threshold,
    )


async def _remove_file(path: Path) -> None:
    """Delete ``path`` if it exists, in a worker thread (file-system calls block)."""
    try:
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
    except OSError as exc:
        raise StorageError(f"cannot remove {path}: {exc}") from exc


async def _reconcile(store: SQLiteStore, vectors: VectorIndex) -> None:
    """Make the vector index hold exactly the keys SQLite holds (SQLite is the truth)."""
    in_store = await store.keys()
    in_index = await vectors.keys()
    ghosts = np.setdiff1d(in_index, in_store, assume_unique=True)
    missing = np.setdiff1d(in_store, in_index, assume_unique=True)
    if ghosts.size:
        logger.info("removing %d stale entries from the vector index", ghosts.size)
        await vectors.remove(ghosts)
    if missing.size:
        logger.info("adding %d missing entries to the vector index from SQLite", missing.size)
        for start in range(0, missing.size, 2048):
            chunk = missing[start : start + 2048]
            blobs = await store.embeddings(chunk.tolist())
            keys = np.array(sorted(blobs), dtype=np.int64)
            matrix = np.stack([codec.blob_to_vector(blobs[int(k)]) for k in keys])
            await vectors.add(keys, matrix)
    if ghosts.size or missing.size:
        await vectors.save()
