"""create_embedder: the embedder a MemoryConfig describes, from a small static table.

Each backend's module is imported only when chosen, so the OpenAI backend never loads
onnxruntime and the local one never loads httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from headroom.embedders.base import Embedder
from headroom.embedders.cache import CachedEmbedder
from headroom.errors import ConfigError, DimensionMismatchError

if TYPE_CHECKING:
    from headroom.embedders.settings import EmbedderSettings

__all__ = ["BACKENDS", "create_embedder"]

BACKENDS: dict[str, tuple[str, str]] = {
    "local": ("headroom.embedders.onnx", "OnnxEmbedder"),
    "openai": ("headroom.embedders.openai", "OpenAIEmbedder"),
    "ollama": ("headroom.embedders.ollama", "OllamaEmbedder"),
}
"""``embedder_backend`` value -> (module, class); each class has ``async from_config(config)``."""


class _FromConfig(Protocol):
    async def from_config(self, config: EmbedderSettings) -> Embedder: ...


async def create_embedder(config: EmbedderSettings) -> Embedder:
    """The embedder ``config`` describes, cached when ``cache_enabled``.

    Raises :class:`DimensionMismatchError` naming both numbers when ``vector_dimension`` is set
    and the model makes vectors of another length.
    """
    try:
        module, name = BACKENDS[str(config.backend)]
    except KeyError:
        raise ConfigError(f"no embedder for backend {str(config.backend)!r}") from None
    backend: _FromConfig = getattr(importlib.import_module(module), name)
    embedder = await backend.from_config(config)
    wanted = config.vector_dimension
    if wanted is not None and embedder.dimension != wanted:
        await embedder.aclose()
        raise DimensionMismatchError(
            f"{config.backend!s} model {embedder.model_name!r} makes vectors of dimension "
            f"{embedder.dimension}, but vector_dimension is {wanted}; leave vector_dimension "
            "unset to use the model's own"
        )
    if config.cache_enabled:
        return CachedEmbedder(embedder, config.cache_max_size)
    return embedder
