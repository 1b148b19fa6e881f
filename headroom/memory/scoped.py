"""ScopedMemory: the engine bounded to one context, the object a request handler is given.

A view is made by :meth:`HierarchicalMemory.scoped` from the ids of who is asking (a user,
and optionally a session, an agent and a turn). Three relations of :mod:`headroom.scoping`
bound what it does:

* it **searches** what its context *sees* (the scope rule);
* it **writes** only memories its context sees (its own ids, or fewer of them);
* it **reads, changes and deletes by id**, lists and counts what its context *reaches*: what
  it sees and what was stored within it. Anything else, another user's memory first of all,
  is reported exactly as an unknown id is (:class:`NotFoundError`).

``clear`` deletes only what was stored within the context (never what it merely sees: a
session's view clears the session, not the user's profile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from headroom.domain import (
    Memory,
    MemoryCategory,
    MemoryFilter,
    MemoryStats,
    NewMemory,
    Scope,
    ScopeLevel,
    SearchHit,
)
from headroom.errors import ValidationError
from headroom.memory.chunks import Progress, off_loop

if TYPE_CHECKING:
    from headroom.memory.facade import HierarchicalMemory

__all__ = ["ScopedMemory"]

_DEEPER = ("session_id", "agent_id", "turn_id")
_LEVEL_IDS = {
    ScopeLevel.USER: (),
    ScopeLevel.SESSION: ("session_id",),
    ScopeLevel.AGENT: ("session_id", "agent_id"),
    ScopeLevel.TURN: _DEEPER,
}


class ScopedMemory:
    """A :class:`HierarchicalMemory` bounded to one context (see the module docstring).

    Make it with ``memory.scoped(user_id=..., session_id=..., ...)``; it is cheap (no I/O)
    and shares the memory's lifetime: closing the memory closes every view of it.
    """

    def __init__(self, memory: HierarchicalMemory, scope: Scope) -> None:
        """Use :meth:`HierarchicalMemory.scoped`."""
        self._memory = memory
        self._scope = scope

    @property
    def scope(self) -> Scope:
        """The context: whose memories, where."""
        return self._scope

    @property
    def user_id(self) -> str:
        return self._scope.user_id

    def __repr__(self) -> str:
        ids = ", ".join(
            f"{name}={value!r}"
            for name in ("user_id", *_DEEPER)
            if (value := getattr(self._scope, name)) is not None
        )
        return f"<ScopedMemory {ids}>"

    def narrowed(
        self,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        turn_id: str | None = None,
    ) -> ScopedMemory:
        """A view of a narrower context: this one with more ids. An id this view already
        has cannot be changed (ValidationError): a view only ever narrows."""
        given = {"session_id": session_id, "agent_id": agent_id, "turn_id": turn_id}
        for name, value in given.items():
            own = getattr(self._scope, name)
            if value is not None and own is not None and value != own:
                raise ValidationError(f"this view's {name} is {own!r}; it cannot become {value!r}")
        ids = {name: getattr(self._scope, name) or value for name, value in given.items()}
        return self._memory.scoped(user_id=self._scope.user_id, **ids)

    # -- writes ------------------------------------------------------------------------------

    async def add(
        self,
        content: str,
        *,
        category: MemoryCategory | str = MemoryCategory.FACT,
        importance: float = 0.5,
        metadata: Mapping[str, Any] | None = None,
        source: str | None = None,
        scope: ScopeLevel | str | None = None,
    ) -> Memory:
        """Store one memory in this context, or at a wider ``scope`` level of it.

        By default the memory carries every id of the view. ``scope`` keeps the view's ids
        down to that level (``"user"``: the user's only, seen in every context of the user;
        ``"session"``: the user and session ids); the view must have that level's id.
        """
        return await self._memory.add(
            content,
            user_id=self._scope.user_id,
            category=category,
            importance=importance,
            metadata=metadata,
            source=source,
            **self._ids_at(scope),
        )

    async def add_many(
        self,
        items: Sequence[NewMemory | Mapping[str, Any]],
        *,
        progress: Callable[[Progress], object] | None = None,
    ) -> list[Memory]:
        """Store many memories, all or none (as :meth:`HierarchicalMemory.add_many`).

        Each must be one this context sees: this view's user (a dict may leave ``user_id``
        out), and session, agent and turn ids that are either absent or this view's. Any
        other raises ValidationError naming the item, and nothing is stored.
        """
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise ValidationError("add_many takes a list of NewMemory objects or dicts")
        given = list(items)
        batch = await off_loop(
            len(given), lambda: [self._bounded(item, index) for index, item in enumerate(given)]
        )
        return await self._memory.add_many(batch, progress=progress)

    async def supersede(
        self,
        memory_id: str,
        new_content: str,
        *,
        category: MemoryCategory | str | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> Memory:
        """A new version of a memory this view reaches (see HierarchicalMemory.supersede)."""
        return await self._memory._supersede(
            memory_id,
            new_content,
            category=category,
            importance=importance,
            metadata=metadata,
            source=source,
            within=self._scope,
        )

    async def rollback(self, memory_id: str) -> Memory:
        """Make an older version of a memory this view reaches current again."""
        return await self._memory._rollback(memory_id, self._scope)

    async def delete(self, memory_id: str) -> int:
        """Forget a memory this view reaches, every version of it. How many versions."""
        return await self._memory._delete(memory_id, self._scope)

    async def clear(self) -> int:
        """Delete what was stored within this context (memories carrying all of its ids);
        never what it only sees from above. How many versions were deleted."""
        scope = self._scope
        return await self._memory.clear(
            user_id=scope.user_id,
            session_id=scope.session_id,
            agent_id=scope.agent_id,
            turn_id=scope.turn_id,
        )

    # -- reads -------------------------------------------------------------------------------

    async def get(self, memory_id: str) -> Memory:
        """The memory, if this view reaches it; NotFoundError otherwise."""
        return await self._memory._get(memory_id, self._scope)

    async def get_history(self, memory_id: str) -> list[Memory]:
        """Every version of a memory this view reaches, oldest first."""
        return await self._memory._history(memory_id, self._scope)

    async def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        categories: Sequence[MemoryCategory | str] | None = None,
        include_superseded: bool = False,
        min_similarity: float | None = None,
    ) -> list[SearchHit]:
        """The memories this context sees that best match ``query``, best first."""
        scope = self._scope
        return await self._memory.search(
            query,
            user_id=scope.user_id,
            session_id=scope.session_id,
            agent_id=scope.agent_id,
            turn_id=scope.turn_id,
            top_k=top_k,
            categories=categories,
            include_superseded=include_superseded,
            min_similarity=min_similarity,
        )

    async def query(self, where: MemoryFilter | None = None) -> list[Memory]:
        """What ``where`` selects among the memories this view reaches, oldest first."""
        if where is None:
            where = MemoryFilter()
        elif not isinstance(where, MemoryFilter):
            raise ValidationError(f"query takes a MemoryFilter, got {type(where).__name__}")
        if where.within is not None:
            raise ValidationError("a scoped view sets the filter's `within` itself")
        return await self._memory.query(replace(where, within=self._scope))

    async def stats(self) -> MemoryStats:
        """Counts over the memories this view reaches (every version)."""
        return await self._memory._count(MemoryFilter(within=self._scope, include_superseded=True))

    # -- internals ---------------------------------------------------------------------------

    def _ids_at(self, level: ScopeLevel | str | None) -> dict[str, str | None]:
        if level is None:
            return {name: getattr(self._scope, name) for name in _DEEPER}
        try:
            wanted = ScopeLevel(level)
        except ValueError:
            choices = ", ".join(lv.value for lv in ScopeLevel)
            raise ValidationError(f"unknown scope {level!r}; expected one of: {choices}") from None
        kept = _LEVEL_IDS[wanted]
        if kept and getattr(self._scope, kept[-1]) is None:
            raise ValidationError(f"scope {wanted.value!r} needs a {kept[-1]}; this view has none")
        return {name: getattr(self._scope, name) if name in kept else None for name in _DEEPER}

    def _bounded(
        self, item: NewMemory | Mapping[str, Any], index: int
    ) -> NewMemory | Mapping[str, Any]:
        scope = self._scope
        if isinstance(item, Mapping):
            if "user_id" not in item:
                item = {**item, "user_id": scope.user_id}
            ids = {name: item.get(name) for name in ("user_id", *_DEEPER)}
        elif isinstance(item, NewMemory):
            ids = {name: getattr(item, name) for name in ("user_id", *_DEEPER)}
        else:
            return item  # the engine names the wrong type
        if ids["user_id"] != scope.user_id:
            raise ValidationError(f"item {index}: a memory of another user than this view's")
        for name in _DEEPER:
            value = ids[name]
            if value is not None and value != getattr(scope, name):
                raise ValidationError(
                    f"item {index}: {name} {value!r} is outside this view, which writes only "
                    "memories its context sees"
                )
        return item
