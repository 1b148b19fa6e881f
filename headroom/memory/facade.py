"""HierarchicalMemory: the engine's one public class.

It composes the ports (a MemoryStore, a VectorIndex, a TextIndex, wired by
:mod:`headroom.memory.opening` from the config, and an Embedder) and the pure rules of the
domain; it owns no storage logic of its own. It keeps validation, embedding, the search's
fusion and final scope re-check (:mod:`headroom.memory.search`), re-embedding
(:mod:`headroom.memory.maintenance`) and the lifecycle.

Write path: validate, embed (outside any lock), then hand the rows to the store, which
commits them and brings its indexes up to date before it returns.
"""

from __future__ import annotations

import logging
import math
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import anyio

from headroom import _telemetry
from headroom.domain import (
    Memory,
    MemoryCategory,
    MemoryFilter,
    MemoryStats,
    NewMemory,
    Scope,
    ScopeLevel,
    SearchFilter,
    SearchHit,
)
from headroom.domain.chains import check_import_chains
from headroom.domain.filters import check_scope
from headroom.domain.validation import (
    check_content,
    check_id,
    check_importance,
    check_memory_id,
    check_metadata,
    check_query,
    check_source,
)
from headroom.embedders.base import Embedder, normalize, validate_vectors
from headroom.errors import (
    ClosedError,
    ConfigError,
    NotFoundError,
    ReadOnlyError,
    ValidationError,
)
from headroom.memory.chunks import Progress, off_loop, slices, whole_groups
from headroom.memory.config import MemoryConfig
from headroom.memory.maintenance import ReembedProgress, reembed_store
from headroom.memory.opening import open_embedder, open_storage
from headroom.memory.scoped import ScopedMemory
from headroom.memory.search import hybrid_search
from headroom.storage.base import Storage, StoredMemory, Vector

__all__ = ["HierarchicalMemory", "Progress", "ReembedProgress", "ScopedMemory"]

logger = logging.getLogger("headroom.memory")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class HierarchicalMemory:
    """Persistent, scoped, versioned memory with hybrid search.

    Create with ``await HierarchicalMemory.create(config)``; close with ``await aclose()`` or
    use ``async with``. Safe to share between concurrent tasks of one event loop.

    This object is the administrative interface: it reaches every user's memories. The
    methods that take a memory id act on any user's memory unless given ``user_id=``; code
    that serves one user (a request handler) takes ``memory.scoped(user_id=...)`` instead,
    whose every method is bounded to that user's context.
    """

    def __init__(
        self,
        config: MemoryConfig,
        storage: Storage,
        embedder: Embedder,
        *,
        owned_embedder: Embedder | None,
        read_only: bool = False,
    ) -> None:
        """Use :meth:`create`."""
        self._config = config
        self._read_only = read_only
        self._storage = storage
        self._embedder = embedder
        self._owned_embedder = owned_embedder
        # Held by this engine's writes and by the last step of a re-embed, so no write of
        # this engine lands between the final embedding pass and the switch.
        self._writes = anyio.Lock()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        config: MemoryConfig | None = None,
        *,
        embedder: Embedder | None = None,
        read_only: bool = False,
    ) -> HierarchicalMemory:
        """Open (creating if needed) the memory ``config`` describes.

        ``embedder`` replaces the one ``config`` describes (any object satisfying the
        :class:`~headroom.embedders.base.Embedder` protocol; headroom does not close it).
        Raises :class:`DimensionMismatchError` when the database holds vectors of another
        model or dimension than the embedder makes.

        ``read_only=True`` opens an existing database without creating or changing anything
        (:class:`~headroom.errors.MissingDatabaseError` if there is none): it works while
        other processes write it, and on a read-only file or mount; the model loads only when
        a search needs it; every write raises :class:`~headroom.errors.ReadOnlyError`.
        """
        if config is None:
            config = MemoryConfig()
        elif not isinstance(config, MemoryConfig):
            raise ConfigError(f"config must be a MemoryConfig, got {type(config).__name__}")
        if not isinstance(read_only, bool):
            raise ConfigError(f"read_only must be a bool, got {read_only!r}")
        embedder, owned = await open_embedder(config, embedder, lazy=read_only)
        try:
            storage = await open_storage(config, embedder, read_only=read_only)
        except BaseException:
            if owned is not None:
                await owned.aclose()
            raise
        return cls(config, storage, embedder, owned_embedder=owned, read_only=read_only)

    @property
    def config(self) -> MemoryConfig:
        return self._config

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def read_only(self) -> bool:
        """Whether this memory was opened read-only."""
        return self._read_only

    def scoped(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        agent_id: str | None = None,
        turn_id: str | None = None,
    ) -> ScopedMemory:
        """A view of this memory bounded to one context: what to hand a request handler.

        It searches what the context sees, writes only memories it sees, and reads, changes
        or deletes by id only what it reaches (what it sees, and what was stored within
        it); another user's id is reported as unknown. See :class:`ScopedMemory`.
        """
        scope = Scope(user_id, session_id, agent_id, turn_id)
        check_scope(scope)
        return ScopedMemory(self, scope)

    async def aclose(self) -> None:
        """Save what the indexes keep in memory and release the database and the embedder."""
        if self._closed:
            return
        self._closed = True
        async with self._writes:
            try:
                await self._storage.store.aclose()
            finally:
                if self._owned_embedder is not None:
                    await self._owned_embedder.aclose()

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
                f"HierarchicalMemory({self._storage.store.location}) was never closed; "
                "call `await memory.aclose()` or use `async with`",
                ResourceWarning,
                stacklevel=1,
                source=self,
            )

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this HierarchicalMemory is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self._read_only:
            raise ReadOnlyError(
                f"{self._storage.store.location} was opened read-only: it cannot be changed"
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "read-only" if self._read_only else "open"
        where = self._storage.store.location
        return f"<HierarchicalMemory {where} {self._embedder.model_name} {state}>"

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
        source: str | None = None,
    ) -> Memory:
        """Store one memory and return it. Its scope is the deepest id given.

        ``source`` is the conversation text the memory was drawn from or said in (the
        exchange a fact came from, the message a reply answers): it is embedded and
        keyword-indexed with the content, so a search finds the memory by what was said
        around it, and is kept apart from the content (``Memory.source``).
        """
        self._check_writable()
        item = NewMemory(
            content=content,
            user_id=user_id,
            category=category,
            importance=importance,
            session_id=session_id,
            agent_id=agent_id,
            turn_id=turn_id,
            metadata=metadata,
            source=source,
        )
        return (await self._add([item], numbered=False))[0]

    async def add_many(
        self,
        items: Sequence[NewMemory | Mapping[str, Any]],
        *,
        progress: Callable[[Progress], object] | None = None,
    ) -> list[Memory]:
        """Store many memories: all of them or none.

        Every item is checked before anything is stored. Then they are embedded and committed
        in steps of a few hundred, so a large batch never holds the event loop for long; the
        memories of a step are visible once it commits, and ``progress``, if given, is called
        with a :class:`Progress` after each step. Should a step fail (the embedder or the
        database), the steps already committed are deleted again before the error is raised.
        """
        self._check_writable()
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise ValidationError("add_many takes a list of NewMemory objects or dicts")
        return await self._add(items, numbered=True, progress=progress)

    @_telemetry.traced("headroom.add")  # one span per add or add_many
    async def _add(
        self,
        items: Iterable[NewMemory | Mapping[str, Any]],
        *,
        numbered: bool,
        progress: Callable[[Progress], object] | None = None,
    ) -> list[Memory]:
        # An error names the item ("item 3: ...") only where there are items to tell apart.
        self._check_open()
        batch = list(items)
        now = _now()
        memories = await off_loop(
            len(batch),
            lambda: [
                self._new_memory(item, index if numbered else None, now)
                for index, item in enumerate(batch)
            ],
        )
        _telemetry.note(memories=len(memories))
        await self._write(memories, slices(memories), undo_on_failure=True, progress=progress)
        return memories

    async def supersede(
        self,
        old_memory_id: str,
        new_content: str,
        *,
        category: MemoryCategory | str | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        source: str | None = None,
        user_id: str | None = None,
    ) -> Memory:
        """Replace a fact with a new version, atomically; the old one keeps its history.

        The new version inherits the old one's scope ids and, unless given, its category,
        importance and metadata; its ``source`` is the one given (the text the old version
        came from is not the new one's). Raises :class:`SupersededError` naming the current
        head when ``old_memory_id`` is no longer current. With ``user_id``, another user's
        memory is :class:`NotFoundError`, as an unknown id is.
        """
        return await self._supersede(
            old_memory_id,
            new_content,
            category=category,
            importance=importance,
            metadata=metadata,
            source=source,
            within=_owner(user_id),
        )

    async def rollback(self, memory_id: str, *, user_id: str | None = None) -> Memory:
        """Make an older version's content current again, as a new head; history is kept.

        With ``user_id``, another user's memory is :class:`NotFoundError`."""
        return await self._rollback(memory_id, _owner(user_id))

    async def delete(self, memory_id: str, *, user_id: str | None = None) -> int:
        """Forget a memory: every version of its chain, from every index. How many versions.

        A chain never spans users, whatever its links say. With ``user_id``, another user's
        memory is :class:`NotFoundError` and nothing is deleted."""
        return await self._delete(memory_id, _owner(user_id))

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
        self._check_writable()
        check_id("user_id", user_id, required=True)
        where = MemoryFilter(
            user_id=user_id,
            session_id=session_id,
            agent_id=agent_id,
            turn_id=turn_id,
            include_superseded=True,
        )
        async with self._writes:
            self._check_open()
            return len(await self._storage.store.clear(where))

    # -- reads -------------------------------------------------------------------------------

    async def get(self, memory_id: str, *, user_id: str | None = None) -> Memory:
        """The memory with this id. With ``user_id``, another user's memory is
        :class:`NotFoundError`, exactly as an unknown id is."""
        return await self._get(memory_id, _owner(user_id))

    async def get_history(self, memory_id: str, *, user_id: str | None = None) -> list[Memory]:
        """Every version of the fact, oldest first; only the last ``is_current``.

        With ``user_id``, another user's memory is :class:`NotFoundError`."""
        return await self._history(memory_id, _owner(user_id))

    async def query(self, where: MemoryFilter | None = None) -> list[Memory]:
        """Memories matching a filter, oldest first (see :class:`MemoryFilter`)."""
        self._check_open()
        if where is None:
            where = MemoryFilter()
        elif not isinstance(where, MemoryFilter):
            raise ValidationError(f"query takes a MemoryFilter, got {type(where).__name__}")
        return await self._storage.store.query(where)

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
        return await self._storage.store.stats(where)

    @_telemetry.traced("headroom.search")
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
        text = check_query(query, max_chars=self._config.max_query_chars)
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
        _telemetry.note(top_k=top_k, scope_level=scope.level.value)
        _telemetry.note_ids(user_id=user_id, session_id=session_id, agent_id=agent_id)
        if not text.strip():
            return []
        hits = await hybrid_search(
            self._storage,
            self._embed_query,
            text,
            SearchFilter(scope, wanted, include_superseded),
            top_k=top_k,
            weights=(self._config.vector_weight, self._config.text_weight),
            min_similarity=min_similarity,
        )
        _telemetry.note(hits=len(hits))
        _telemetry.record("headroom.search.hits", len(hits))
        return hits

    # -- export, import and repair ------------------------------------------------------------

    async def import_memories(
        self,
        memories: Sequence[Memory],
        *,
        skip_existing: bool = False,
        progress: Callable[[Progress], object] | None = None,
    ) -> int:
        """Store memories exactly as given: ids, chain links, timestamps and metadata kept.

        For restoring an export. Everything is checked before anything is stored: the values,
        and the supersession links, which must join versions of one fact (same user and scope
        ids, each side naming the other, no cycle), the other side among the memories given
        or already stored; otherwise a :class:`ValidationError` names the first bad memory.
        An id already stored raises :class:`ValidationError` too, or is skipped with
        ``skip_existing=True``. The content is embedded again with this memory's embedder.

        Large imports are committed in steps of whole chains, reported to ``progress``; if a
        step fails, the steps before it stay stored, and the same import with
        ``skip_existing=True`` completes it. Returns how many were imported.
        """
        self._check_writable()
        items = list(memories)
        await off_loop(len(items), lambda: self._check_imports(items))
        existing = await self._storage.store.get([m.id for m in items])
        if existing and not skip_existing:
            raise ValidationError(
                f"{len(existing)} of these ids are already stored, e.g. {next(iter(existing))!r}"
            )
        fresh = [m for m in items if m.id not in existing]
        ids = {m.id for m in fresh}
        linked = {
            link
            for m in fresh
            for link in (m.supersedes, m.superseded_by)
            if link is not None and link not in ids
        }
        found = await self._storage.store.get(sorted(linked))
        stored = {memory_id: s.memory for memory_id, s in found.items()}
        chains = await off_loop(len(fresh), lambda: check_import_chains(fresh, stored))
        await self._write(fresh, whole_groups(chains), undo_on_failure=False, progress=progress)
        return len(fresh)

    async def reindex(self) -> int:
        """Rebuild the vector index from the stored embeddings. How many vectors it holds.

        The live index keeps serving until the new one is complete: a failure leaves this
        memory as it was (the index is only a cache of the store).
        """
        self._check_writable()
        return await self._storage.vectors.rebuild()

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
        self._check_writable()
        owned: Embedder | None = None
        if isinstance(new, MemoryConfig):
            from headroom.embedders.registry import create_embedder

            embedder = owned = await create_embedder(new)
        elif isinstance(new, Embedder):
            embedder = new
        else:
            raise ConfigError(f"reembed takes a MemoryConfig or an Embedder, got {new!r}")
        try:
            await reembed_store(self._storage.store, embedder, self._writes, progress)
        except BaseException:
            if owned is not None:
                await owned.aclose()
            raise
        if self._owned_embedder is not None:
            await self._owned_embedder.aclose()
        self._embedder = embedder
        self._owned_embedder = owned

    # -- internals ---------------------------------------------------------------------------

    def _new_memory(
        self, item: NewMemory | Mapping[str, Any], index: int | None, now: datetime
    ) -> Memory:
        """The memory ``item`` describes, validated; errors name ``index`` (of a batch)."""
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
                metadata=check_metadata(item.metadata, max_bytes=self._config.max_metadata_bytes),
                source=check_source(item.source, max_chars=self._config.max_content_chars),
            )
        except (ValidationError, TypeError) as exc:
            if isinstance(exc, TypeError):
                exc = ValidationError(str(exc))
            raise ValidationError(str(exc) if index is None else f"item {index}: {exc}") from None

    async def _embed(self, texts: list[str]) -> Vector:
        vectors = await self._embedder.embed(texts)
        return normalize(validate_vectors(vectors, len(texts), self._embedder.dimension))

    async def _embed_query(self, text: str) -> Vector:
        vectors: Vector = (await self._embed([text]))[0]
        return vectors

    def _check_imports(self, items: Sequence[Memory]) -> None:
        limit = self._config.max_content_chars
        for index, memory in enumerate(items):
            try:
                if not isinstance(memory, Memory):
                    raise ValidationError(f"expected a Memory, got {type(memory).__name__}")
                check_memory_id(memory.id)
                check_content(memory.content, max_chars=limit)
                check_id("user_id", memory.user_id, required=True)
                for name in ("session_id", "agent_id", "turn_id"):
                    check_id(name, getattr(memory, name))
                if not isinstance(memory.category, MemoryCategory):
                    raise ValidationError(f"category must be a MemoryCategory: {memory.category!r}")
                check_importance(memory.importance)
                check_metadata(memory.metadata, max_bytes=self._config.max_metadata_bytes)
                if memory.source is not None:
                    check_content(memory.source, max_chars=limit, name="source")
                for name in ("created_at", "valid_from", "valid_to"):
                    moment = getattr(memory, name)
                    if moment is None and name == "valid_to":
                        continue
                    if not isinstance(moment, datetime) or moment.tzinfo is None:
                        raise ValidationError(f"{name} must be a timezone-aware datetime")
            except ValidationError as exc:
                # "record", as the chain check and the CLI name an export's entries.
                raise ValidationError(f"record {index}: {exc}") from None
        if len({m.id for m in items}) != len(items):
            raise ValidationError("the memories to import repeat an id")

    async def _write(
        self,
        memories: Sequence[Memory],
        chunks: Iterable[Sequence[Memory]],
        *,
        undo_on_failure: bool,
        progress: Callable[[Progress], object] | None = None,
    ) -> None:
        """Embed and commit ``memories``, one transaction per chunk of them."""
        done: list[Memory] = []
        try:
            for chunk in chunks:
                vectors = await self._embed([m.indexed_text for m in chunk])
                await self._insert(chunk, vectors)
                done.extend(chunk)
                if progress is not None:
                    progress(Progress(len(done), len(memories)))
        except BaseException as exc:
            if done:
                if undo_on_failure:
                    await self._undo(done, exc)
                else:
                    _note(exc, f"{len(done)} of the {len(memories)} memories were stored")
            raise

    async def _undo(self, memories: Sequence[Memory], failure: BaseException) -> None:
        """Delete again what a failed ``add_many`` committed (fresh memories: no chains)."""
        with anyio.CancelScope(shield=True):
            try:
                async with self._writes:
                    await self._storage.store.delete([m.id for m in memories])
            except Exception as exc:
                _note(
                    failure,
                    f"{len(memories)} memories of this add_many were stored before it failed "
                    f"and could not be deleted again ({exc})",
                )

    async def _insert(self, memories: Sequence[Memory], vectors: Vector) -> list[int]:
        items = [StoredMemory(0, m, v) for m, v in zip(memories, vectors, strict=True)]
        async with self._writes:
            self._check_open()
            return await self._storage.store.insert(items)

    # -- by id, within a context (the plain methods pass their user's context, or None) ------

    async def _get(self, memory_id: str, within: Scope | None) -> Memory:
        self._check_open()
        check_memory_id(memory_id)
        found = (await self._storage.store.get([memory_id])).get(memory_id)
        if found is None or not _reaches(within, found.memory):
            raise NotFoundError(memory_id)
        return found.memory

    async def _history(self, memory_id: str, within: Scope | None) -> list[Memory]:
        self._check_open()
        check_memory_id(memory_id)
        chain = await self._storage.store.chain(memory_id)
        if within is None:
            return chain
        if not any(m.id == memory_id and _reaches(within, m) for m in chain):
            raise NotFoundError(memory_id)
        return [m for m in chain if _reaches(within, m)]

    @_telemetry.traced("headroom.supersede")
    async def _supersede(
        self,
        old_memory_id: str,
        new_content: str,
        *,
        category: MemoryCategory | str | None,
        importance: float | None,
        metadata: Mapping[str, Any] | None,
        source: str | None,
        within: Scope | None,
    ) -> Memory:
        self._check_writable()
        check_memory_id(old_memory_id)
        content = check_content(new_content, max_chars=self._config.max_content_chars)
        source = check_source(source, max_chars=self._config.max_content_chars)
        old = await self._get(old_memory_id, within)
        _telemetry.note(scope_level=old.scope.value, category=old.category.value)
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
            metadata=dict(old.metadata)
            if metadata is None
            else check_metadata(metadata, max_bytes=self._config.max_metadata_bytes),
            source=source,
        )
        vector = (await self._embed([new.indexed_text]))[0]
        async with self._writes:
            self._check_open()
            # The store refuses an old version of another user than the new one's.
            await self._storage.store.supersede(old.id, StoredMemory(0, new, vector))
        return new

    async def _rollback(self, memory_id: str, within: Scope | None) -> Memory:
        self._check_writable()
        chain = await self._history(memory_id, within)
        head = chain[-1]
        if head.id == memory_id:
            raise ValidationError(f"memory {memory_id!r} is already the current version")
        if not head.is_current:  # the head is outside this context (never for one user)
            raise NotFoundError(memory_id)
        target = next(m for m in chain if m.id == memory_id)
        return await self._supersede(
            head.id,
            target.content,
            category=target.category,
            importance=target.importance,
            metadata=target.metadata,
            source=target.source,
            within=within,
        )

    @_telemetry.traced("headroom.delete")
    async def _delete(self, memory_id: str, within: Scope | None) -> int:
        self._check_writable()
        check_memory_id(memory_id)
        if within is not None and within.level is not ScopeLevel.USER:
            await self._get(memory_id, within)  # the deeper ids; the store checks the user
        async with self._writes:
            self._check_open()
            owner = None if within is None else within.user_id
            versions = len(await self._storage.store.delete([memory_id], user_id=owner))
        _telemetry.note(versions=versions)
        return versions

    async def _count(self, where: MemoryFilter) -> MemoryStats:
        self._check_open()
        return await self._storage.store.stats(where)


def _note(exc: BaseException, text: str) -> None:
    """Tell the caller more about an error on its way out (logged too: Python 3.10 has no
    exception notes)."""
    logger.warning("%s: %s", type(exc).__name__, text)
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(text)


def _owner(user_id: str | None) -> Scope | None:
    """The context of one user (it reaches all of that user's memories), or None for any."""
    if user_id is None:
        return None
    check_id("user_id", user_id, required=True)
    return Scope(user_id)


def _reaches(within: Scope | None, memory: Memory) -> bool:
    return within is None or within.reaches(
        memory.user_id, memory.session_id, memory.agent_id, memory.turn_id
    )
