"""Wiring: the embedder and the storage backend a MemoryConfig describes.

Backends are chosen from a small static table and imported only when chosen, so the engine
imports no backend and a deployment on one never loads another's dependencies.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from headroom.embedders.base import Embedder
from headroom.errors import ConfigError
from headroom.memory.config import MemoryConfig
from headroom.storage.base import EmbedderRecord, Storage

__all__ = ["BACKENDS", "backend_name", "open_embedder", "open_storage"]


async def _open_sqlite(
    config: MemoryConfig, embedder: EmbedderRecord, *, read_only: bool
) -> Storage:
    from headroom.storage.sqlite import HnswSettings, open_sqlite

    hnsw = HnswSettings(
        m=config.hnsw_m,
        ef_construction=config.hnsw_ef_construction,
        ef_search=config.hnsw_ef_search,
        exact_threshold=config.exact_search_threshold,
    )
    return await open_sqlite(config.path, embedder, hnsw, read_only=read_only)


async def _open_postgres(
    config: MemoryConfig, embedder: EmbedderRecord, *, read_only: bool
) -> Storage:
    from headroom._imports import require

    require("asyncpg", extra="postgres")
    from headroom.storage.postgres import PostgresSettings, open_postgres

    assert config.db_url is not None  # backend_name chose postgres
    settings = PostgresSettings(
        pool_size=config.db_pool_size,
        statement_cache_size=config.db_statement_cache_size,
        hnsw_m=config.hnsw_m,
        hnsw_ef_construction=config.hnsw_ef_construction,
        hnsw_ef_search=config.hnsw_ef_search,
        exact_threshold=config.exact_search_threshold,
    )
    # Read-only, nothing is created, and the engine refuses every write before it reaches the
    # server (a role with SELECT rights only makes that a server-side guarantee).
    return await open_postgres(config.db_url, embedder, settings, read_only=read_only)


class _Opener(Protocol):
    def __call__(
        self, config: MemoryConfig, embedder: EmbedderRecord, *, read_only: bool
    ) -> Awaitable[Storage]: ...


BACKENDS: dict[str, _Opener] = {
    "sqlite": _open_sqlite,
    "postgres": _open_postgres,
}
"""Backend name -> the function that opens it for a config and an embedder."""


def backend_name(config: MemoryConfig) -> str:
    """Which backend ``config`` selects: PostgreSQL when it names a ``db_url``."""
    return "postgres" if config.db_url is not None else "sqlite"


async def open_storage(
    config: MemoryConfig, embedder: Embedder, *, read_only: bool = False
) -> Storage:
    """The storage ``config`` selects, for vectors of ``embedder``.

    Raises :class:`~headroom.errors.DimensionMismatchError` when the database holds vectors
    of another model or dimension.
    """
    opener = BACKENDS[backend_name(config)]
    record = EmbedderRecord(embedder.model_name, embedder.dimension)
    return await opener(config, record, read_only=read_only)


async def open_embedder(
    config: MemoryConfig, given: Embedder | None, *, lazy: bool = False
) -> tuple[Embedder, Embedder | None]:
    """The embedder to use and, when headroom made it, the one it must close.

    ``given`` (any object satisfying the Embedder protocol) replaces the one ``config``
    describes; headroom does not close it, and caches it when ``config.cache_enabled``.
    ``lazy`` makes the configured one on its first use, when its name and dimension are known
    without loading it (the bundled model and the well-known hosted ones).
    """
    if given is None:
        from headroom.embedders.models import known_dimension
        from headroom.embedders.registry import create_embedder

        dimension = config.vector_dimension
        if lazy and dimension is not None and known_dimension(str(config.backend), config.model):
            from headroom.embedders.lazy import LazyEmbedder

            deferred = LazyEmbedder(
                lambda: create_embedder(config), model_name=config.model, dimension=dimension
            )
            return deferred, deferred
        made = await create_embedder(config)
        return made, made
    if not isinstance(given, Embedder):
        raise ConfigError(
            f"embedder must satisfy the Embedder protocol, got {type(given).__name__}"
        )
    if config.cache_enabled:
        from headroom.embedders.cache import CachedEmbedder

        return CachedEmbedder(given, config.cache_max_size), None
    return given, None
