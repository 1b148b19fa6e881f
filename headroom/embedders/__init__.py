"""Embedders turn texts into vectors: the port, the three backends, the cache and the registry.

Importing this package is light: a backend's module (and onnxruntime or httpx with it) loads
on first use of its class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headroom.embedders.base import Embedder, Vectors, embed_one, normalize, validate_vectors
from headroom.embedders.models import MINILM_L6_V2, LocalModelSpec, known_dimension

__all__ = [
    "MINILM_L6_V2",
    "CachedEmbedder",
    "Embedder",
    "LocalModelSpec",
    "OllamaEmbedder",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "Vectors",
    "create_embedder",
    "embed_one",
    "known_dimension",
    "normalize",
    "validate_vectors",
]

_LAZY = {
    "CachedEmbedder": "headroom.embedders.cache",
    "OllamaEmbedder": "headroom.embedders.ollama",
    "OnnxEmbedder": "headroom.embedders.onnx",
    "OpenAIEmbedder": "headroom.embedders.openai",
    "create_embedder": "headroom.embedders.registry",
}

if TYPE_CHECKING:
    from headroom.embedders.cache import CachedEmbedder
    from headroom.embedders.ollama import OllamaEmbedder
    from headroom.embedders.onnx import OnnxEmbedder
    from headroom.embedders.openai import OpenAIEmbedder
    from headroom.embedders.registry import create_embedder


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'headroom.embedders' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
