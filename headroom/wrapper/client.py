"""``with_memory``: any OpenAI-compatible client, with a memory, in one line.

The returned proxy intercepts ``chat.completions.create`` and adds ``client.memory``; every
other attribute is the wrapped client's own (``client.models``, ``client.embeddings``, ...).
A sync client runs the memory on headroom's background loop (``headroom._sync``); an async
client awaits it on the caller's loop. The LLM call itself always runs where the caller runs
it, and its errors reach the caller unchanged.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

from headroom import _sync
from headroom.domain import Memory, MemoryCategory, MemoryStats, SearchHit
from headroom.domain.validation import check_id
from headroom.embedders.base import Embedder
from headroom.errors import ConfigError
from headroom.memory import HierarchicalMemory, MemoryConfig
from headroom.scoping import ScopeLevel
from headroom.wrapper._core import MemoryCore, MemoryOptions, Turn
from headroom.wrapper._responses import AsyncMemoryStream, MemoryStream, strip_completion
from headroom.wrapper.block import BlockItem, StrippedAnswer
from headroom.wrapper.instructions import admit_facts
from headroom.wrapper.policy import DEFAULT_SCOPE_POLICY, ScopePolicy
from headroom.wrapper.relevance import DEFAULT_FLOOR

if TYPE_CHECKING:
    from groq import AsyncGroq, Groq
    from openai import AsyncOpenAI, OpenAI

__all__ = [
    "DEFAULT_MAX_CONTEXT_TOKENS",
    "DEFAULT_MIN_SIMILARITY",
    "AsyncMemoryAPI",
    "AsyncMemoryClient",
    "MemoryAPI",
    "MemoryClient",
    "with_memory",
]

logger = logging.getLogger("headroom.wrapper")

DEFAULT_MAX_CONTEXT_TOKENS = 1000
"""The injected block's budget, in approximate tokens (four characters each)."""

DEFAULT_MIN_SIMILARITY = DEFAULT_FLOOR
"""The relevance floor: a memory this similar to the query (cosine) is injected on meaning
alone; one less similar only when it also holds most of the question's content words
(``headroom.wrapper.relevance``). Measured on the injection case set with the default
all-MiniLM-L6-v2 (docs/performance.md); another embedding model may want another value.
"""


@overload
def with_memory(
    client: AsyncOpenAI | AsyncGroq,
    *,
    user_id: str,
    session_id: str | None = None,
    agent_id: str | None = None,
    memory: HierarchicalMemory | None = None,
    config: MemoryConfig | None = None,
    db_path: str | Path | None = None,
    embedder: Embedder | None = None,
    top_k: int = 5,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
    strict: bool = False,
    scope_policy: ScopePolicy | None = None,
    admit: Callable[[BlockItem], bool] | None = None,
    keep_source: bool = True,
) -> AsyncMemoryClient: ...


@overload
def with_memory(
    client: OpenAI | Groq,
    *,
    user_id: str,
    session_id: str | None = None,
    agent_id: str | None = None,
    memory: HierarchicalMemory | None = None,
    config: MemoryConfig | None = None,
    db_path: str | Path | None = None,
    embedder: Embedder | None = None,
    top_k: int = 5,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
    strict: bool = False,
    scope_policy: ScopePolicy | None = None,
    admit: Callable[[BlockItem], bool] | None = None,
    keep_source: bool = True,
) -> MemoryClient: ...


@overload
def with_memory(
    client: object,
    *,
    user_id: str,
    session_id: str | None = None,
    agent_id: str | None = None,
    memory: HierarchicalMemory | None = None,
    config: MemoryConfig | None = None,
    db_path: str | Path | None = None,
    embedder: Embedder | None = None,
    top_k: int = 5,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
    strict: bool = False,
    scope_policy: ScopePolicy | None = None,
    admit: Callable[[BlockItem], bool] | None = None,
    keep_source: bool = True,
) -> MemoryClient | AsyncMemoryClient: ...


def with_memory(
    client: object,
    *,
    user_id: str,
    session_id: str | None = None,
    agent_id: str | None = None,
    memory: HierarchicalMemory | None = None,
    config: MemoryConfig | None = None,
    db_path: str | Path | None = None,
    embedder: Embedder | None = None,
    top_k: int = 5,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
    strict: bool = False,
    scope_policy: ScopePolicy | None = None,
    admit: Callable[[BlockItem], bool] | None = None,
    keep_source: bool = True,
) -> MemoryClient | AsyncMemoryClient:
    """Give ``client`` a memory of ``user_id`` (in ``session_id``, as ``agent_id``).

    ``memory`` shares an open :class:`HierarchicalMemory` (the caller closes it); otherwise
    ``config`` / ``db_path`` / ``embedder`` say which to open, on first use (the default: the
    engine's default database). Clients over the same database share one engine.

    Before each ``chat.completions.create`` the ``top_k`` best memories this client can see
    for the last user message (with the turns before it when it is a follow-up) are searched,
    and those that are relevant (at least ``min_similarity`` similar, or holding most of the
    message's content words) are prepended to it within ``max_context_tokens``; None injects
    all ``top_k``. A short instruction asks the model to end with a ``<memory>`` block, which
    is stored and removed from the answer, each memory with the end of the user's message
    as its ``source`` (searched with it, never injected; ``keep_source=False`` stores none).
    Memory failures are logged and the answer returned; ``strict=True`` raises them instead.
    """
    if isinstance(client, (MemoryClient, AsyncMemoryClient)):
        raise ConfigError("this client already has a memory")
    completions = getattr(getattr(client, "chat", None), "completions", None)
    create = getattr(completions, "create", None)
    if not callable(create):
        raise ConfigError(
            f"with_memory needs a client with chat.completions.create, got {type(client).__name__}"
        )
    options = _options(user_id, session_id, agent_id, top_k, max_context_tokens, min_similarity)
    if not isinstance(strict, bool):
        raise ConfigError(f"strict must be a bool, got {strict!r}")
    if scope_policy is None:
        scope_policy = DEFAULT_SCOPE_POLICY
    elif not isinstance(scope_policy, ScopePolicy):
        raise ConfigError(f"scope_policy must be a ScopePolicy, got {scope_policy!r}")
    if admit is None:
        admit = admit_facts
    elif not callable(admit):
        raise ConfigError(f"admit must be a function of a BlockItem, got {admit!r}")
    if not isinstance(keep_source, bool):
        raise ConfigError(f"keep_source must be a bool, got {keep_source!r}")
    core = MemoryCore(
        MemoryOptions(
            **options,
            strict=strict,
            scope_policy=scope_policy,
            admit=admit,
            keep_source=keep_source,
        ),
        memory=memory,
        config=_config(memory, config, db_path, embedder),
        embedder=embedder,
    )
    if _is_async(client, create):
        return AsyncMemoryClient(client, core)
    return MemoryClient(client, core)


def _options(
    user_id: str,
    session_id: str | None,
    agent_id: str | None,
    top_k: int,
    max_context_tokens: int,
    min_similarity: float | None,
) -> dict[str, Any]:
    check_id("user_id", user_id, required=True)
    check_id("session_id", session_id)
    check_id("agent_id", agent_id)
    for name, value in (("top_k", top_k), ("max_context_tokens", max_context_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    if min_similarity is not None and (
        isinstance(min_similarity, bool)
        or not isinstance(min_similarity, (int, float))
        or not -1.0 <= min_similarity <= 1.0
    ):
        raise ConfigError(f"min_similarity must be None or in [-1, 1], got {min_similarity!r}")
    return {
        "user_id": user_id,
        "session_id": session_id,
        "agent_id": agent_id,
        "top_k": top_k,
        "max_context_tokens": max_context_tokens,
        "min_similarity": None if min_similarity is None else float(min_similarity),
    }


def _config(
    memory: HierarchicalMemory | None,
    config: MemoryConfig | None,
    db_path: str | Path | None,
    embedder: Embedder | None,
) -> MemoryConfig:
    if memory is not None:
        if not isinstance(memory, HierarchicalMemory):
            raise ConfigError(f"memory must be a HierarchicalMemory, got {type(memory).__name__}")
        if config is not None or db_path is not None or embedder is not None:
            raise ConfigError("pass either memory= or config=/db_path=/embedder=, not both")
        return memory.config
    if config is not None and not isinstance(config, MemoryConfig):
        raise ConfigError(f"config must be a MemoryConfig, got {type(config).__name__}")
    if db_path is not None:  # a file named here beats $HEADROOM_DB_URL, as the CLI's --db does
        return (config or MemoryConfig()).with_changes(db_path=db_path, db_url=None)
    return config or MemoryConfig()


def _is_async(client: object, create: Any) -> bool:
    # The OpenAI SDK's async create is wrapped by a plain-def decorator: look underneath it,
    # then at the class (AsyncOpenAI, AsyncAzureOpenAI, AsyncGroq all derive AsyncAPIClient).
    if inspect.iscoroutinefunction(create) or inspect.iscoroutinefunction(inspect.unwrap(create)):
        return True
    return any(cls.__name__.startswith("Async") for cls in type(client).__mro__)


# -- sync ------------------------------------------------------------------------------------


class _Proxy:
    """Forwards every attribute it does not define to the wrapped object."""

    _target: Any

    def __getattr__(self, name: str) -> Any:
        if name == "_target":
            raise AttributeError(name)
        return getattr(self._target, name)


class _Completions(_Proxy):
    def __init__(self, completions: Any, core: MemoryCore) -> None:
        self._target = completions
        self._core = core

    def create(self, **kwargs: Any) -> Any:
        """The SDK's ``create``, with memory: same arguments, same return type."""
        turn = _sync.run(self._core.prepare, kwargs)
        response = self._target.create(**turn.kwargs)
        if not turn.instructed:
            return response
        if turn.kwargs.get("stream") is True:
            return MemoryStream[Any](response, partial(self._remember, turn))
        response, answer = strip_completion(response)
        if answer is not None:
            self._remember(turn, answer)
        return response

    def _remember(self, turn: Turn, answer: StrippedAnswer) -> None:
        _sync.run(self._core.remember, turn, answer)


class _Chat(_Proxy):
    def __init__(self, chat: Any, core: MemoryCore) -> None:
        self._target = chat
        self.completions = _Completions(chat.completions, core)


class MemoryAPI:
    """``client.memory`` of a sync client: this user's memories, with plain calls."""

    def __init__(self, core: MemoryCore) -> None:
        self._core = core

    @property
    def user_id(self) -> str:
        return self._core.options.user_id

    def search(self, query: str, top_k: int = 5) -> list[SearchHit]:
        """The memories this client can see that best match ``query``, best first."""
        return _sync.run(partial(self._core.search, query, top_k=top_k))

    def add(
        self,
        content: str,
        category: MemoryCategory | str = MemoryCategory.FACT,
        importance: float = 0.5,
        *,
        scope: ScopeLevel | str | None = None,
    ) -> Memory:
        """Store a memory at ``scope`` (default: by category, as for a block)."""
        return _sync.run(partial(self._core.add, content, category, importance, scope))

    def get_all(self) -> list[Memory]:
        """Every current memory of this user (all sessions and agents), oldest first."""
        return _sync.run(self._core.get_all)

    def clear(self) -> int:
        """Delete every memory of this user (never another user's). How many versions."""
        return _sync.run(self._core.clear)

    def stats(self) -> MemoryStats:
        """Counts of this user's memories: ``total``, by category, by scope."""
        return _sync.run(self._core.stats)

    def history(self, memory_id: str) -> list[Memory]:
        """Every version of this user's memory, oldest first."""
        return _sync.run(self._core.history, memory_id)

    def supersede(self, memory_id: str, content: str) -> Memory:
        """Replace this user's memory with a new version; the old one stays in its history."""
        return _sync.run(self._core.supersede, memory_id, content)


class MemoryClient(_Proxy):
    """A sync client with memory: the wrapped client, plus ``memory``."""

    def __init__(self, client: Any, core: MemoryCore, *, owns_memory: bool = True) -> None:
        self._target = client
        self._core = core
        self._owns_memory = owns_memory
        self.chat = _Chat(client.chat, core)
        self.memory = MemoryAPI(core)

    @property
    def wrapped(self) -> Any:
        """The client without memory."""
        return self._target

    def with_options(self, **options: Any) -> MemoryClient:
        """The wrapped client's ``with_options``, keeping this memory."""
        return MemoryClient(self._target.with_options(**options), self._core, owns_memory=False)

    copy = with_options

    def close(self) -> None:
        """Close the memory (if this client opened it) and the wrapped client."""
        if self._owns_memory and self._core.has_engine:
            _sync.run(self._core.aclose)
        close = getattr(self._target, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MemoryClient {self._core.options.user_id!r} over {self._target!r}>"


# -- async -----------------------------------------------------------------------------------


class _AsyncCompletions(_Proxy):
    def __init__(self, completions: Any, core: MemoryCore) -> None:
        self._target = completions
        self._core = core

    async def create(self, **kwargs: Any) -> Any:
        """The SDK's ``create``, with memory: same arguments, same return type."""
        turn = await self._core.prepare(kwargs)
        response = await self._target.create(**turn.kwargs)
        if not turn.instructed:
            return response
        if turn.kwargs.get("stream") is True:
            return AsyncMemoryStream[Any](response, partial(self._core.remember, turn))
        response, answer = strip_completion(response)
        if answer is not None:
            await self._core.remember(turn, answer)
        return response


class _AsyncChat(_Proxy):
    def __init__(self, chat: Any, core: MemoryCore) -> None:
        self._target = chat
        self.completions = _AsyncCompletions(chat.completions, core)


class AsyncMemoryAPI:
    """``client.memory`` of an async client: this user's memories, as awaitables."""

    def __init__(self, core: MemoryCore) -> None:
        self._core = core

    @property
    def user_id(self) -> str:
        return self._core.options.user_id

    async def search(self, query: str, top_k: int = 5) -> list[SearchHit]:
        """The memories this client can see that best match ``query``, best first."""
        return await self._core.search(query, top_k=top_k)

    async def add(
        self,
        content: str,
        category: MemoryCategory | str = MemoryCategory.FACT,
        importance: float = 0.5,
        *,
        scope: ScopeLevel | str | None = None,
    ) -> Memory:
        """Store a memory at ``scope`` (default: by category, as for a block)."""
        return await self._core.add(content, category, importance, scope)

    async def get_all(self) -> list[Memory]:
        """Every current memory of this user (all sessions and agents), oldest first."""
        return await self._core.get_all()

    async def clear(self) -> int:
        """Delete every memory of this user (never another user's). How many versions."""
        return await self._core.clear()

    async def stats(self) -> MemoryStats:
        """Counts of this user's memories: ``total``, by category, by scope."""
        return await self._core.stats()

    async def history(self, memory_id: str) -> list[Memory]:
        """Every version of this user's memory, oldest first."""
        return await self._core.history(memory_id)

    async def supersede(self, memory_id: str, content: str) -> Memory:
        """Replace this user's memory with a new version; the old one stays in its history."""
        return await self._core.supersede(memory_id, content)


class AsyncMemoryClient(_Proxy):
    """An async client with memory: the wrapped client, plus ``memory``."""

    def __init__(self, client: Any, core: MemoryCore, *, owns_memory: bool = True) -> None:
        self._target = client
        self._core = core
        self._owns_memory = owns_memory
        self.chat = _AsyncChat(client.chat, core)
        self.memory = AsyncMemoryAPI(core)

    @property
    def wrapped(self) -> Any:
        """The client without memory."""
        return self._target

    def with_options(self, **options: Any) -> AsyncMemoryClient:
        """The wrapped client's ``with_options``, keeping this memory."""
        return AsyncMemoryClient(
            self._target.with_options(**options), self._core, owns_memory=False
        )

    copy = with_options

    async def close(self) -> None:
        """Close the memory (if this client opened it) and the wrapped client."""
        if self._owns_memory:
            await self._core.aclose()
        close = getattr(self._target, "close", None)
        if callable(close):
            result = close()
            if isinstance(result, Awaitable):
                await result

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncMemoryClient {self._core.options.user_id!r} over {self._target!r}>"
