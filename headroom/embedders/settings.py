"""EmbedderSettings: what an embedder is built from, as a protocol.

:class:`headroom.memory.MemoryConfig` satisfies it; so does any object with these read-only
attributes. The embedders depend on this shape, never on the engine's configuration class.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["DEFAULT_EMBEDDER_THREADS", "EmbedderSettings"]

DEFAULT_EMBEDDER_THREADS = 2
"""Texts the local model embeds at once, each on one core: a batch runs two at a time (on two
cores an import went 252 -> 458 memories/s), while a query, one text, runs alone. On one core
the two share it, at the same rate as one."""


class EmbedderSettings(Protocol):
    """The settings the embedder backends read (see MemoryConfig for their meaning)."""

    @property
    def backend(self) -> str:
        """``local``, ``openai`` or ``ollama``."""
        ...

    @property
    def model(self) -> str: ...

    @property
    def vector_dimension(self) -> int | None: ...

    @property
    def cache_enabled(self) -> bool: ...

    @property
    def cache_max_size(self) -> int: ...

    @property
    def embedder_threads(self) -> int: ...

    @property
    def embedder_timeout(self) -> float: ...

    @property
    def embedder_max_retries(self) -> int: ...

    @property
    def openai_api_key(self) -> str | None: ...

    @property
    def openai_base_url(self) -> str | None: ...

    @property
    def ollama_base_url(self) -> str: ...
