"""The async heart of a wrapped client: what happens before and after each LLM call.

Sync and async clients share it: an async client awaits it on the caller's loop, a sync one
runs it on headroom's background loop (``headroom._sync``). It never calls the LLM itself.

Failure policy: a memory failure (opening, searching, storing, a malformed block) is logged on
``headroom.wrapper`` and the call goes on without memory, unless ``strict`` asks to raise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headroom import _telemetry
from headroom.embedders.base import Embedder
from headroom.errors import (
    ClosedError,
    MemoryBlockError,
    NotFoundError,
    SupersededError,
    ValidationError,
)
from headroom.memory import (
    HierarchicalMemory,
    Memory,
    MemoryCategory,
    MemoryConfig,
    MemoryFilter,
    MemoryStats,
    NewMemory,
    SearchHit,
)
from headroom.scoping import ScopeLevel
from headroom.wrapper import _engines
from headroom.wrapper.block import BlockItem, StrippedAnswer, parse_block
from headroom.wrapper.duplicates import Relation, compare, normalized
from headroom.wrapper.prompt import (
    add_instruction,
    available_scopes,
    format_context,
    inject_context,
    instruction,
    plan_turn,
    scope_ids,
    storage_scope,
)
from headroom.wrapper.query import search_query
from headroom.wrapper.relevance import select

__all__ = ["MemoryCore", "MemoryOptions", "Turn"]

logger = logging.getLogger("headroom.wrapper")

#: Search this many times ``top_k`` hits, and inject the ``top_k`` best relevant ones.
_SEARCH_POOL = 2

#: Stored memories compared with each new one from a block (the most similar first).
_RESTATED_CANDIDATES = 3

#: Stored with every memory the wrapper writes, so they can be told apart later.
_METADATA = {"source": "with_memory"}


@dataclass(frozen=True, slots=True)
class MemoryOptions:
    """The settings of one wrapped client (validated by ``with_memory``)."""

    user_id: str
    session_id: str | None
    agent_id: str | None
    top_k: int
    max_context_tokens: int
    min_similarity: float | None
    strict: bool


@dataclass(frozen=True, slots=True)
class Turn:
    """One call, prepared: the arguments for the SDK and what the answer is read against.

    ``shown`` are the memories injected, numbered from 1 in that order (a block's
    ``supersedes`` refers to those numbers). ``instructed`` is False when no block was asked
    for; then the answer is returned untouched.
    """

    kwargs: dict[str, Any]
    shown: tuple[Memory, ...]
    instructed: bool


class MemoryCore:
    """Memory for one client's ids; opens (or shares) the engine on first use."""

    def __init__(
        self,
        options: MemoryOptions,
        *,
        memory: HierarchicalMemory | None,
        config: MemoryConfig,
        embedder: Embedder | None,
    ) -> None:
        self.options = options
        self._config = config
        self._embedder = embedder
        self._engine = memory
        self._shared = memory is None  # an engine we opened through the registry
        self._closed = False

    async def engine(self) -> HierarchicalMemory:
        if self._closed:
            raise ClosedError("this client's memory is closed")
        if self._engine is not None:
            return self._engine
        engine = await _engines.acquire(self._config, self._embedder)
        if self._engine is not None:  # a concurrent first call got there first
            await _engines.release(engine)
            return self._engine
        self._engine = engine
        return engine

    @property
    def has_engine(self) -> bool:
        return self._engine is not None

    async def aclose(self) -> None:
        """Let go of the engine (the last client of a database closes it). Idempotent."""
        self._closed = True
        engine, self._engine = self._engine, None
        if engine is not None and self._shared:
            await _engines.release(engine)

    # -- around an LLM call ------------------------------------------------------------------

    @_telemetry.traced("headroom.inject")
    async def prepare(self, kwargs: Mapping[str, Any]) -> Turn:
        """Search, inject the context block and the instruction; the caller's data unchanged."""
        out = dict(kwargs)
        raw = out.get("messages")
        if raw is None or isinstance(raw, (str, bytes, Mapping)):
            return Turn(out, (), instructed=False)  # not ours to fix: the SDK will say why
        messages = list(raw)  # an iterator must be read once, here, and handed on as a list
        out["messages"] = messages
        plan = plan_turn(messages, out)
        if plan.user_index is None:
            logger.debug("no memory for this call: %s", plan.reason)
            return Turn(out, (), instructed=False)
        shown: list[Memory] = []
        if plan.query.strip():
            query = search_query(messages, plan.user_index)
            hits = await self._search_for_context(query.text)
            relevant = select(
                plan.query,
                hits,
                floor=self.options.min_similarity,
                personal=query.personal,
                limit=self.options.top_k,
            )
            block, shown = format_context(
                [h.memory for h in relevant], self.options.max_context_tokens
            )
            if shown:
                messages = inject_context(messages, plan.user_index, block)
        if plan.instruct:
            scopes = available_scopes(self.options.session_id, self.options.agent_id)
            messages = add_instruction(messages, instruction(numbered=bool(shown), scopes=scopes))
        else:
            logger.debug("no memory block requested: %s", plan.reason)
        out["messages"] = messages
        _telemetry.note(memories_injected=len(shown), instructed=plan.instruct)
        _telemetry.record("headroom.wrapper.memories_injected", len(shown))
        return Turn(out, tuple(shown), instructed=plan.instruct)

    @_telemetry.traced("headroom.store")
    async def remember(self, turn: Turn, answer: StrippedAnswer) -> list[Memory]:
        """Store what the answer's blocks hold (before the caller sees the answer)."""
        if not answer.found:
            return []
        items: list[BlockItem] = []
        problems: list[str] = []
        for number, body in enumerate(answer.bodies, start=1):
            if answer.unterminated and number == len(answer.bodies):
                problems.append("the memory block was never closed; nothing stored from it")
                continue
            try:
                parsed = parse_block(body)
            except MemoryBlockError as exc:
                problems.append(f"malformed memory block, nothing stored from it: {exc}")
                continue
            items.extend(parsed.items)
            problems.extend(f"memory block {p}" for p in parsed.problems)
        _telemetry.note(blocks=len(answer.bodies), items=len(items), dropped=len(problems))
        _telemetry.add("headroom.wrapper.blocks_dropped", len(problems))
        for problem in problems:
            logger.warning("%s", problem)
        if problems and self.options.strict:
            raise MemoryBlockError("; ".join(problems))
        try:
            stored = await self._store(items, turn.shown)
            _telemetry.note(stored=len(stored))
            _telemetry.add("headroom.wrapper.memories_stored", len(stored))
            return stored
        except Exception as exc:
            if self.options.strict:
                raise
            logger.warning("storing memories failed; the answer is returned: %s", exc, exc_info=exc)
            return []

    async def _search_for_context(self, query: str) -> list[SearchHit]:
        try:
            engine = await self.engine()
            return await engine.search(
                query,
                user_id=self.options.user_id,
                session_id=self.options.session_id,
                agent_id=self.options.agent_id,
                # The relevant ones among twice as many: a paraphrase's memory is often
                # ranked just past top_k.
                top_k=self.options.top_k * _SEARCH_POOL,
            )
        except Exception as exc:
            if self.options.strict:
                raise
            logger.warning(
                "memory search failed; answering without memories: %s", exc, exc_info=exc
            )
            return []

    async def _store(self, items: Sequence[BlockItem], shown: Sequence[Memory]) -> list[Memory]:
        known = {normalized(m.content) for m in shown}
        fresh: list[NewMemory] = []
        replacements: list[tuple[Memory, BlockItem]] = []
        for item in items:
            key = normalized(item.content)
            if key in known:
                continue  # the model restated what it was shown, or an item of this block
            known.add(key)
            if item.supersedes is not None:
                if item.supersedes <= len(shown):
                    replacements.append((shown[item.supersedes - 1], item))
                    continue
                logger.warning(
                    "memory block: supersedes [%d] names no memory shown (%d were); "
                    "stored as a new memory",
                    item.supersedes,
                    len(shown),
                )
            fresh.append(self._new_memory(item))
        if not fresh and not replacements:
            return []
        engine = await self.engine()
        stored: list[Memory] = []
        for old, item in replacements:
            try:
                stored.append(await _supersede(engine, old, item))
            except NotFoundError:
                fresh.append(self._new_memory(item))  # deleted since it was shown
            except ValidationError as exc:
                self._rejected(item.content, exc)
        for memory in list(fresh):
            relation, hit = await self._relation(engine, memory)
            if relation is Relation.OTHER:
                continue
            fresh.remove(memory)
            if relation is Relation.BROADER and hit is not None:
                logger.debug("memory block: %r extends %s; a new version", memory.content, hit.id)
                stored.append(await _extend(engine, hit.memory, memory))
            else:
                logger.debug("memory block: %r is stored already; not again", memory.content)
        if fresh:
            stored.extend(await self._add_each(engine, fresh))
        return stored

    async def _relation(
        self, engine: HierarchicalMemory, new: NewMemory
    ) -> tuple[Relation, SearchHit | None]:
        """How ``new`` relates to the current memories seen wherever it would be stored.

        A memory it extends is replaced only at the same level: a session's detail does not
        become a new version of a user-level memory. One search (the engine's embedding cache
        serves the add after it).
        """
        hits = await engine.search(
            new.content,
            user_id=new.user_id,
            session_id=new.session_id,
            agent_id=new.agent_id,
            top_k=_RESTATED_CANDIDATES,
        )
        for hit in hits:
            relation = compare(new.content, hit.content, hit.similarity)
            same_level = (hit.memory.session_id, hit.memory.agent_id) == (
                new.session_id,
                new.agent_id,
            )
            if relation is Relation.BROADER and not same_level:
                continue
            if relation is not Relation.OTHER:
                return relation, hit
        return Relation.OTHER, None

    async def _add_each(
        self, engine: HierarchicalMemory, items: Sequence[NewMemory]
    ) -> list[Memory]:
        try:
            return await engine.add_many(items)  # one embedding call, one transaction
        except ValidationError:
            if self.options.strict:
                raise
        stored: list[Memory] = []  # add_many is all or nothing: keep the valid ones
        for item in items:
            try:
                stored.extend(await engine.add_many([item]))
            except ValidationError as exc:
                self._rejected(item.content, exc)
        return stored

    def _rejected(self, content: str, exc: ValidationError) -> None:
        if self.options.strict:
            raise exc
        logger.warning("memory block: not stored %r: %s", content[:60], exc)

    def _new_memory(self, item: BlockItem) -> NewMemory:
        options = self.options
        level = storage_scope(item.scope, item.category, options.session_id, options.agent_id)
        return self._memory_at(
            item.content, item.category, 0.5 if item.importance is None else item.importance, level
        )

    def _memory_at(
        self, content: str, category: MemoryCategory, importance: float, level: ScopeLevel
    ) -> NewMemory:
        session_id, agent_id = scope_ids(level, self.options.session_id, self.options.agent_id)
        return NewMemory(
            content=content,
            user_id=self.options.user_id,
            category=category,
            importance=importance,
            session_id=session_id,
            agent_id=agent_id,
            metadata=_METADATA,
        )

    # -- client.memory -------------------------------------------------------------------------

    async def search(self, query: str, top_k: int = 5) -> list[SearchHit]:
        engine = await self.engine()
        return await engine.search(
            query,
            user_id=self.options.user_id,
            session_id=self.options.session_id,
            agent_id=self.options.agent_id,
            top_k=top_k,
        )

    async def add(
        self,
        content: str,
        category: MemoryCategory | str = MemoryCategory.FACT,
        importance: float = 0.5,
        scope: ScopeLevel | str | None = None,
    ) -> Memory:
        parsed = MemoryCategory.parse(category)
        requested = None if scope is None else ScopeLevel(scope)
        options = self.options
        level = storage_scope(requested, parsed, options.session_id, options.agent_id)
        engine = await self.engine()
        added = await engine.add_many([self._memory_at(content, parsed, importance, level)])
        return added[0]

    async def get_all(self) -> list[Memory]:
        engine = await self.engine()
        return await engine.query(MemoryFilter(user_id=self.options.user_id))

    async def clear(self) -> int:
        engine = await self.engine()
        return await engine.clear(user_id=self.options.user_id)

    async def stats(self) -> MemoryStats:
        engine = await self.engine()
        return await engine.stats(self.options.user_id)

    async def history(self, memory_id: str) -> list[Memory]:
        engine = await self.engine()
        await self._own(engine, memory_id)
        return await engine.get_history(memory_id)

    async def supersede(self, memory_id: str, content: str) -> Memory:
        engine = await self.engine()
        await self._own(engine, memory_id)
        return await engine.supersede(memory_id, content)

    async def _own(self, engine: HierarchicalMemory, memory_id: str) -> None:
        # Another user's memory is reported as missing: its existence is not ours to reveal.
        if (await engine.get(memory_id)).user_id != self.options.user_id:
            raise NotFoundError(memory_id)


async def _extend(engine: HierarchicalMemory, old: Memory, new: NewMemory) -> Memory:
    """``new`` as the next version of ``old``, which it holds whole; the higher importance."""
    importance = max(old.importance, new.importance)
    try:
        return await engine.supersede(old.id, new.content, importance=importance)
    except SupersededError as exc:
        return await engine.supersede(exc.head_id, new.content, importance=importance)


async def _supersede(engine: HierarchicalMemory, old: Memory, item: BlockItem) -> Memory:
    try:
        return await engine.supersede(
            old.id, item.content, category=item.category, importance=item.importance
        )
    except SupersededError as exc:
        # Replaced since it was shown (another call, another process): replace the current one.
        return await engine.supersede(
            exc.head_id, item.content, category=item.category, importance=item.importance
        )
