"""``HeadroomStore``: a LangGraph ``BaseStore`` over ``HierarchicalMemory``.

Namespaces map onto headroom's scopes by one rule: the label at position ``user_label``
(default 0) names the headroom user, and the item is stored as a user-level memory of that
user, so every headroom context of the user (the wrapper, ``headroom mcp``, the CLI) sees it.
The whole namespace is kept with the item; prefix searches and listings compare it, after the
engine has narrowed everything to the one user the prefix names (a search with a query never
looks beyond that user). Deeper labels do not become session or agent ids: LangGraph's prefix
search must see a whole subtree, while headroom's scope rule matches ids exactly.

The engine runs on the event loop that opened it. ``abatch`` awaits it there (directly when
called on that loop); ``batch`` hands the work to that loop from any other thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import anyio
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from headroom import _sync
from headroom.embedders import Embedder
from headroom.errors import ConfigError, NotFoundError, SupersededError, ValidationError
from headroom.integrations.langgraph._items import (
    ADDRESS,
    Address,
    Stored,
    address_key,
    content_of,
    item_of,
    matches_filter,
    matches_namespace,
    metadata_for,
    search_item_of,
    stored_of,
)
from headroom.memory import (
    HierarchicalMemory,
    Memory,
    MemoryCategory,
    MemoryConfig,
    MemoryFilter,
    ScopedMemory,
)

__all__ = ["HeadroomStore", "NamespaceError"]

_T = TypeVar("_T")


class NamespaceError(ValidationError, InvalidNamespaceError):
    """A namespace without the label that names the user (or an empty label there)."""


@dataclass(eq=False)
class _Directory:
    """Where each item lives (its current memory's id), per user, as this engine learnt it.

    A cache: an item not in it is looked up in the database by its address (stored in its
    metadata), so items put by another process or engine are found; a stale entry (the memory
    was deleted or updated elsewhere) is corrected when it is used. Shared by every store on
    one engine, so two stores never disagree.
    """

    users: dict[str, dict[Address, str]] = field(default_factory=dict)
    lock: anyio.Lock = field(default_factory=anyio.Lock)


_directories: weakref.WeakKeyDictionary[HierarchicalMemory, _Directory] = (
    weakref.WeakKeyDictionary()
)


class HeadroomStore(BaseStore):
    """LangGraph's long-term store, kept by headroom: history, hybrid search, one user per item.

    ``HeadroomStore(memory)`` uses an open memory (you close it) and must be made on the loop
    that opened it, or be given ``loop=``. ``HeadroomStore.open(config)`` opens one on
    headroom's background loop, for sync programs; ``await HeadroomStore.acreate(config)`` on
    the running loop (both take the engine's ``embedder=`` too). Those two close their memory
    with ``close()`` / ``aclose()``.

    ``index_fields`` are the paths whose text a search with a query ranks by (LangGraph's
    syntax: ``"content"``, ``"a.b"``, ``"items[*].text"``); by default every string in the
    value. Items are stored as ``category`` memories.
    """

    supports_ttl = False

    def __init__(
        self,
        memory: HierarchicalMemory,
        *,
        user_label: int = 0,
        index_fields: Sequence[str] | None = None,
        category: MemoryCategory | str = MemoryCategory.FACT,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(memory, HierarchicalMemory):
            raise ConfigError(f"memory must be a HierarchicalMemory, got {type(memory).__name__}")
        if isinstance(user_label, bool) or not isinstance(user_label, int) or user_label < 0:
            raise ConfigError(
                f"user_label must be a label position (0, 1, ...), got {user_label!r}"
            )
        if isinstance(index_fields, str):
            index_fields = [index_fields]
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise ConfigError(
                    "make HeadroomStore(memory) on the event loop that opened the memory, or "
                    "pass loop=; HeadroomStore.open(config) opens one for sync code"
                ) from None
        self._memory = memory
        self._user_label = user_label
        self._fields = None if index_fields is None else list(index_fields)
        self._category = MemoryCategory.parse(category)
        self._loop = loop
        self._owns_memory = False
        self._directory = _directories.setdefault(memory, _Directory())

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: MemoryConfig | None = None,
        *,
        embedder: Embedder | None = None,
        user_label: int = 0,
        index_fields: Sequence[str] | None = None,
        category: MemoryCategory | str = MemoryCategory.FACT,
    ) -> HeadroomStore:
        """A store on its own memory, run on headroom's background loop; ``close()`` it."""
        memory = _sync.run(partial(HierarchicalMemory.create, config, embedder=embedder))
        loop = _sync.run(_running_loop)
        store = cls(
            memory, user_label=user_label, index_fields=index_fields, category=category, loop=loop
        )
        store._owns_memory = True
        return store

    @classmethod
    async def acreate(
        cls,
        config: MemoryConfig | None = None,
        *,
        embedder: Embedder | None = None,
        user_label: int = 0,
        index_fields: Sequence[str] | None = None,
        category: MemoryCategory | str = MemoryCategory.FACT,
    ) -> HeadroomStore:
        """A store on its own memory, opened on the running loop; ``await aclose()`` it."""
        memory = await HierarchicalMemory.create(config, embedder=embedder)
        store = cls(memory, user_label=user_label, index_fields=index_fields, category=category)
        store._owns_memory = True
        return store

    @property
    def memory(self) -> HierarchicalMemory:
        return self._memory

    def close(self) -> None:
        """Close the memory if this store opened it."""
        if self._owns_memory:
            self._call(self._memory.aclose())

    async def aclose(self) -> None:
        if self._owns_memory:
            await self._await(self._memory.aclose())

    def __enter__(self) -> HeadroomStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> HeadroomStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- BaseStore ---------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return self._call(self._batch(list(ops)))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await self._await(self._batch(list(ops)))

    # -- history (beyond BaseStore) ----------------------------------------------------------

    def history(self, namespace: tuple[str, ...], key: str) -> list[Item]:
        """Every value the item has had, oldest first (empty if there is no such item)."""
        return self._call(self._history(tuple(namespace), str(key)))

    async def ahistory(self, namespace: tuple[str, ...], key: str) -> list[Item]:
        return await self._await(self._history(tuple(namespace), str(key)))

    # -- running on the memory's loop --------------------------------------------------------

    def _call(self, work: Coroutine[Any, Any, _T]) -> _T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            work.close()
            raise RuntimeError(
                "a sync HeadroomStore method was called on the event loop its memory runs "
                "on; use the async methods there (aget, aput, asearch, ...)"
            )
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    async def _await(self, work: Coroutine[Any, Any, _T]) -> _T:
        if asyncio.get_running_loop() is self._loop:
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    # -- the operations ----------------------------------------------------------------------

    async def _batch(self, ops: list[Op]) -> list[Result]:
        # As LangGraph's own stores do: reads see the state before the batch, then the puts
        # are applied, the last one winning for a key given twice.
        results: list[Result] = []
        puts: dict[Address, PutOp] = {}
        for op in ops:
            if isinstance(op, GetOp):
                results.append(await self._get((tuple(op.namespace), str(op.key))))
            elif isinstance(op, SearchOp):
                results.append(await self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(await self._list_namespaces(op))
            elif isinstance(op, PutOp):
                address = (tuple(op.namespace), str(op.key))
                self._user(address[0])  # refuse the whole batch before anything is written
                puts.pop(address, None)
                puts[address] = op
                results.append(None)
            else:
                raise ValidationError(f"unknown store operation {type(op).__name__}")
        for address, put in puts.items():
            if put.value is None:
                await self._delete(address)
            else:
                await self._put(address, put)
        return results

    def _user(self, namespace: tuple[str, ...]) -> str:
        if len(namespace) <= self._user_label:
            raise NamespaceError(
                f"namespace {namespace!r} has no label {self._user_label}, which names the "
                f"user in this store (user_label={self._user_label})"
            )
        user = namespace[self._user_label]
        if not isinstance(user, str) or not user.strip():
            raise NamespaceError(f"namespace {namespace!r}: the user label must not be empty")
        return user

    def _view(self, user: str) -> ScopedMemory:
        """The engine bounded to one user: every operation on a user's items goes through it."""
        return self._memory.scoped(user_id=user)

    async def _items_of(self, user: str | None) -> list[tuple[Memory, Stored]]:
        """The current memories holding items: one user's, or everyone's (a listing of
        namespaces across users)."""
        found = await (self._memory.query() if user is None else self._view(user).query())
        items = [(m, s) for m in found if (s := stored_of(m)) is not None]
        by_user: dict[str, dict[Address, str]] = {}
        for memory, stored in items:
            by_user.setdefault(memory.user_id, {})[stored.address] = memory.id
        if user is not None:
            by_user.setdefault(user, {})
        self._directory.users.update(by_user)
        return items

    async def _locate(self, address: Address) -> tuple[Memory, Stored] | None:
        """The current memory holding the item, correcting the directory if it is stale."""
        user = self._user(address[0])
        entries = self._directory.users.setdefault(user, {})
        memory_id = entries.get(address)
        if memory_id is None:
            # Not put through this engine since it read the user's items: perhaps by another
            # process, or another engine. Ask the database.
            found = await self._view(user).query(
                MemoryFilter(metadata={ADDRESS: address_key(address)}, limit=1)
            )
            if not found:
                return None
            memory_id = found[0].id
        view = self._view(user)
        try:
            memory = await view.get(memory_id)
            if not memory.is_current:  # updated through another tool: follow the chain
                memory = (await view.get_history(memory_id))[-1]
        except NotFoundError:
            memory = None
        stored = None if memory is None else stored_of(memory)
        if memory is None or stored is None or stored.address != address:
            entries.pop(address, None)
            return None
        entries[address] = memory.id
        return memory, stored

    async def _get(self, address: Address) -> Item | None:
        found = await self._locate(address)
        return None if found is None else item_of(*found)

    async def _put(self, address: Address, op: PutOp) -> None:
        user = self._user(address[0])
        if not isinstance(op.value, dict):
            raise ValidationError(f"a value must be a dict, got {type(op.value).__name__}")
        fields = self._fields if op.index is None or op.index is False else list(op.index)
        content = content_of(op.value, fields)
        indexed = op.index is not False
        async with self._directory.lock:
            found = await self._locate(address)
            now = datetime.now(timezone.utc)
            view = self._view(user)
            if found is None:
                memory = await view.add(
                    content,
                    category=self._category,
                    metadata=metadata_for(address, op.value, now, indexed),
                )
            else:
                old, stored = found
                metadata = metadata_for(address, op.value, stored.created_at, indexed)
                try:
                    memory = await view.supersede(old.id, content, metadata=metadata)
                except SupersededError as exc:  # updated elsewhere since _locate read it
                    memory = await view.supersede(exc.head_id, content, metadata=metadata)
            self._directory.users.setdefault(user, {})[address] = memory.id

    async def _delete(self, address: Address) -> None:
        user = self._user(address[0])
        async with self._directory.lock:
            found = await self._locate(address)
            if found is None:
                return
            with contextlib.suppress(NotFoundError):  # deleted elsewhere meanwhile: fine
                await self._view(user).delete(found[0].id)
            self._directory.users[user].pop(address, None)

    async def _history(self, namespace: tuple[str, ...], key: str) -> list[Item]:
        found = await self._locate((namespace, key))
        if found is None:
            return []
        versions = []
        view = self._view(self._user(namespace))
        for memory in await view.get_history(found[0].id):
            stored = stored_of(memory)
            if stored is not None:
                versions.append(item_of(memory, stored))
        return versions

    async def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        if op.limit < 0 or op.offset < 0:
            raise ValidationError("limit and offset must not be negative")
        user = self._user(prefix) if len(prefix) > self._user_label else None

        def wanted(stored: Stored, ranked: bool) -> bool:
            return (
                stored.address[0][: len(prefix)] == prefix
                and (stored.indexed or not ranked)
                and matches_filter(stored.value, op.filter)
            )

        if op.query is None:
            items = [(m, s) for m, s in await self._items_of(user) if wanted(s, False)]
            items.sort(key=lambda pair: pair[0].valid_from, reverse=True)  # newest first
            page = items[op.offset : op.offset + op.limit]
            return [search_item_of(m, s, None) for m, s in page]
        if user is None:
            raise ValidationError(
                f"a search with a query needs a namespace prefix that names the user (label "
                f"{self._user_label}); {prefix!r} does not: headroom searches one user's "
                "memories at a time"
            )
        return await self._ranked(op, user, partial(wanted, ranked=True))

    async def _ranked(self, op: SearchOp, user: str, wanted: Any) -> list[SearchItem]:
        """Hybrid search within the user, asking for more until the page is full or the
        user's memories run out (other namespaces and filters take their share)."""
        needed = op.offset + op.limit
        top_k = max(2 * needed, 10)
        while True:
            hits = await self._view(user).search(str(op.query), top_k=top_k)
            matched: list[SearchItem] = []
            for hit in hits:
                stored = stored_of(hit.memory)
                if stored is not None and wanted(stored):
                    matched.append(search_item_of(hit.memory, stored, hit.score))
            if len(matched) >= needed or len(hits) < top_k:
                return matched[op.offset : needed]
            top_k *= 4

    async def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions = op.match_conditions or ()
        user = None
        for condition in conditions:
            path = condition.path
            names_user = condition.match_type == "prefix" and len(path) > self._user_label
            if names_user and path[self._user_label] != "*":
                user = self._user(tuple(path))
        namespaces = {
            stored.address[0]
            for _, stored in await self._items_of(user)
            if all(matches_namespace(c, stored.address[0]) for c in conditions)
        }
        if op.max_depth is not None:
            namespaces = {ns[: op.max_depth] for ns in namespaces}
        return sorted(namespaces)[op.offset : op.offset + op.limit]


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()
