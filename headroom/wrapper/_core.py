"""The async heart of a wrapped client: what happens before and after each LLM call.

Sync and async clients share it: an async client awaits it on the caller's loop, a sync one
runs it on headroom's background loop (``headroom._sync``). It never calls the LLM itself.

Failure policy: a memory failure (opening, searching, storing, a malformed block) is logged on
``headroom.wrapper`` and the call goes on without memory, unless ``strict`` asks to raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headroom import _telemetry
from headroom.embedders.base import Embedder, normalize, validate_vectors
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
    MemoryStats,
    NewMemory,
    ScopedMemory,
    SearchHit,
)
from headroom.scoping import ScopeLevel
from headroom.wrapper import _engines
from headroom.wrapper.block import BlockItem, StrippedAnswer, parse_block
from headroom.wrapper.duplicates import Relation, compare, normalized
from headroom.wrapper.instructions import admit_facts
from headroom.wrapper.limits import first_memories, query_tail, with_user_text
from headroom.wrapper.neutralise import neutralise_messages
from headroom.wrapper.policy import DEFAULT_SCOPE_POLICY, ScopePolicy
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
from headroom.wrapper.query import DEFAULT_WINDOW_CHARS, search_query
from headroom.wrapper.relevance import select

__all__ = ["MemoryCore", "MemoryOptions", "Turn"]

logger = logging.getLogger("headroom.wrapper")

#: Search this many times ``top_k`` hits, and inject the ``top_k`` best relevant ones.
_SEARCH_POOL = 2

#: Stored memories compared with each new one from a block (the most similar first).
_RESTATED_CANDIDATES = 3

#: Stored with every memory the wrapper writes, so they can be told apart later.
_METADATA = {"source": "with_memory"}


SOURCE_CHARS = 2_000
"""The most of the user's message a block's memory keeps as its source: the end of it, where
a message usually says what it is about (a pasted document before a question is cut)."""


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
    scope_policy: ScopePolicy = DEFAULT_SCOPE_POLICY
    admit: Callable[[BlockItem], bool] = admit_facts
    """Whether a memory of the model's block is stored."""
    keep_source: bool = True
    """Whether a block's memories are stored with the user's message as their source."""


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
    source: str | None = None
    """The end of the user's message (``SOURCE_CHARS``): what the block's memories were drawn
    from, stored as their ``source`` so a search finds them by what was said."""


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

    async def view(self) -> ScopedMemory:
        """The engine bounded to this client's context: searches and the model's writes."""
        options = self.options
        return (await self.engine()).scoped(
            user_id=options.user_id, session_id=options.session_id, agent_id=options.agent_id
        )

    async def user_view(self) -> ScopedMemory:
        """The engine bounded to this client's user: ``client.memory``'s user-wide calls."""
        return (await self.engine()).scoped(user_id=self.options.user_id)

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
            # A bounded tail of the user's message (a pasted 10 MB document must not cost a
            # 10 MB search); the question usually comes last.
            limit = self._config.max_query_chars
            question = query_tail(plan.query, limit)
            room = max(limit - DEFAULT_WINDOW_CHARS, limit // 2)  # the rest: earlier turns
            bounded = with_user_text(messages, plan.user_index, query_tail(question, room))
            query = search_query(bounded, plan.user_index)
            hits = await self._search_for_context(query_tail(query.text, limit))
            relevant = select(
                question,
                hits,
                floor=self.options.min_similarity,
                personal=query.personal,
                limit=self.options.top_k,
            )
            block, shown = format_context(
                [h.memory for h in relevant], self.options.max_context_tokens
            )
        if plan.instruct:
            # A <memory> tag in what the model reads (a quoted block, a document, an earlier
            # answer) must not come back as if the model had written it.
            messages = neutralise_messages(messages)
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
        return Turn(out, tuple(shown), instructed=plan.instruct, source=self._source(plan.query))

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
        limit = self._config.max_memories_per_answer
        kept, over = first_memories(items, limit)
        if over:  # documented truncation, not a failure: logged even when strict
            logger.warning(
                "memory block: %d memories in one answer; the first %d are stored, %d dropped "
                "(MemoryConfig.max_memories_per_answer)",
                len(items),
                limit,
                over,
            )
        items = self._admitted(kept)
        _telemetry.note(blocks=len(answer.bodies), items=len(items), dropped=len(problems))
        _telemetry.add("headroom.wrapper.blocks_dropped", len(problems))
        for problem in problems:
            logger.warning("%s", problem)
        if problems and self.options.strict:
            raise MemoryBlockError("; ".join(problems))
        try:
            stored = await self._store(items, turn.shown, turn.source)
            _telemetry.note(stored=len(stored))
            _telemetry.add("headroom.wrapper.memories_stored", len(stored))
            return stored
        except Exception as exc:
            if self.options.strict:
                raise
            logger.warning("storing memories failed; the answer is returned: %s", exc, exc_info=exc)
            return []

    def _admitted(self, items: Sequence[BlockItem]) -> list[BlockItem]:
        """The items the ``admit`` hook lets through; the others are logged, not stored."""
        kept: list[BlockItem] = []
        for item in items:
            if self.options.admit(item):
                kept.append(item)
            else:
                logger.warning(
                    "memory block: not stored %r: it reads as an instruction to the "
                    "assistant, not a fact (with_memory's admit hook)",
                    item.content[:60],
                )
                _telemetry.add("headroom.wrapper.blocks_dropped", 1)
        return kept

    async def _search_for_context(self, query: str) -> list[SearchHit]:
        try:
            view = await self.view()
            return await view.search(
                query,
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

    def _source(self, message: str) -> str | None:
        if not self.options.keep_source or not message.strip():
            return None
        return query_tail(message, min(SOURCE_CHARS, self._config.max_content_chars))

    async def _store(
        self, items: Sequence[BlockItem], shown: Sequence[Memory], source: str | None
    ) -> list[Memory]:
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
            fresh.append(self._new_memory(item, source))
        if not fresh and not replacements:
            return []
        view = await self.view()
        stored: list[Memory] = []
        for old, item in replacements:
            if not self._may_replace(old, item):
                fresh.append(self._new_memory(item, source))
                continue
            try:
                stored.append(await _supersede(view, old, item, source))
            except NotFoundError:
                fresh.append(self._new_memory(item, source))  # deleted since it was shown
            except ValidationError as exc:
                self._rejected(item.content, exc)
        engine = await self.engine()
        for memory in list(fresh):
            relation, hit = await self._relation(engine, memory)
            if relation is Relation.OTHER:
                continue
            fresh.remove(memory)
            if relation is Relation.BROADER and hit is not None:
                logger.debug("memory block: %r extends %s; a new version", memory.content, hit.id)
                stored.append(await _extend(view, hit.memory, memory))
            else:
                logger.debug("memory block: %r is stored already; not again", memory.content)
        if fresh:
            stored.extend(await self._add_each(view, fresh))
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
            query_tail(new.content, self._config.max_query_chars),
            user_id=new.user_id,
            session_id=new.session_id,
            agent_id=new.agent_id,
            top_k=_RESTATED_CANDIDATES,
        )
        similarities = await _content_similarities(engine, new, hits)
        for hit, similarity in zip(hits, similarities, strict=True):
            relation = compare(new.content, hit.content, similarity)
            same_level = (hit.memory.session_id, hit.memory.agent_id) == (
                new.session_id,
                new.agent_id,
            )
            if relation is Relation.BROADER and not same_level:
                continue
            if relation is not Relation.OTHER:
                return relation, hit
        return Relation.OTHER, None

    def _may_replace(self, old: Memory, item: BlockItem) -> bool:
        """A new version keeps the old one's scope: only when the policy lets the item's
        category live there (a user-level fact replaced by "context" would widen it)."""
        options = self.options
        level = options.scope_policy.level_for(
            old.scope, item.category, options.session_id, options.agent_id
        )
        if level is old.scope:
            return True
        logger.warning(
            "memory block: %r may not replace memory %s at the %s level (a %s is stored at "
            "%s at most); stored as a new memory",
            item.content[:60],
            old.id,
            old.scope.value,
            item.category.value,
            level.value,
        )
        return False

    async def _add_each(self, view: ScopedMemory, items: Sequence[NewMemory]) -> list[Memory]:
        try:
            return await view.add_many(items)  # one embedding call, one transaction
        except ValidationError:
            if self.options.strict:
                raise
        stored: list[Memory] = []  # add_many is all or nothing: keep the valid ones
        for item in items:
            try:
                stored.extend(await view.add_many([item]))
            except ValidationError as exc:
                self._rejected(item.content, exc)
        return stored

    def _rejected(self, content: str, exc: ValidationError) -> None:
        if self.options.strict:
            raise exc
        logger.warning("memory block: not stored %r: %s", content[:60], exc)

    def _new_memory(self, item: BlockItem, source: str | None) -> NewMemory:
        options = self.options
        level = options.scope_policy.level_for(
            item.scope, item.category, options.session_id, options.agent_id
        )
        importance = 0.5 if item.importance is None else item.importance
        return self._memory_at(item.content, item.category, importance, level, source)

    def _memory_at(
        self,
        content: str,
        category: MemoryCategory,
        importance: float,
        level: ScopeLevel,
        source: str | None = None,
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
            source=source,
        )

    # -- client.memory -------------------------------------------------------------------------

    async def search(self, query: str, top_k: int = 5) -> list[SearchHit]:
        return await (await self.view()).search(query, top_k=top_k)

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
        view = await self.view()
        added = await view.add_many([self._memory_at(content, parsed, importance, level)])
        return added[0]

    # The user-wide calls (documented as "this user's memories, all sessions and agents")
    # go through the user's view: another user's id is reported as missing.

    async def get_all(self) -> list[Memory]:
        return await (await self.user_view()).query()

    async def clear(self) -> int:
        return await (await self.user_view()).clear()

    async def stats(self) -> MemoryStats:
        return await (await self.user_view()).stats()

    async def history(self, memory_id: str) -> list[Memory]:
        return await (await self.user_view()).get_history(memory_id)

    async def supersede(self, memory_id: str, content: str) -> Memory:
        return await (await self.user_view()).supersede(memory_id, content)


async def _content_similarities(
    engine: HierarchicalMemory, new: NewMemory, hits: Sequence[SearchHit]
) -> list[float]:
    """Each hit's cosine similarity to ``new`` by their contents alone. A hit with a source
    was embedded with it, but a restatement repeats the content: the restated threshold was
    measured on contents."""
    sourced = [h for h in hits if h.memory.source is not None]
    if not sourced:
        return [h.similarity for h in hits]
    texts = [new.content, *(h.content for h in sourced)]
    embedder = engine.embedder
    vectors = normalize(
        validate_vectors(await embedder.embed(texts), len(texts), embedder.dimension)
    )
    by_id = {h.memory.id: float(vectors[0] @ v) for h, v in zip(sourced, vectors[1:], strict=True)}
    return [by_id.get(h.memory.id, h.similarity) for h in hits]


async def _extend(view: ScopedMemory, old: Memory, new: NewMemory) -> Memory:
    """``new`` as the next version of ``old``, which it holds whole; the higher importance."""
    importance = max(old.importance, new.importance)
    return await _supersede_current(
        view, old.id, new.content, importance=importance, source=new.source
    )


async def _supersede(
    view: ScopedMemory, old: Memory, item: BlockItem, source: str | None
) -> Memory:
    return await _supersede_current(
        view,
        old.id,
        item.content,
        category=item.category,
        importance=item.importance,
        source=source,
    )


async def _supersede_current(
    view: ScopedMemory, old_id: str, content: str, **fields: Any
) -> Memory:
    """``content`` as the next version of ``old_id``'s fact; of its current version if it was
    replaced since it was shown (by another call, another process)."""
    try:
        return await view.supersede(old_id, content, **fields)
    except SupersededError as exc:
        return await view.supersede(exc.head_id, content, **fields)
