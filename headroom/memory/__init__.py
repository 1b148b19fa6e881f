"""The memory engine: ``HierarchicalMemory`` and the values it takes and returns.

The values and the config are light to import; the engine itself (numpy, and the embedder
and storage ports with it) loads on first use of ``HierarchicalMemory``, so a command-line
``--help`` or a program that only builds a ``MemoryConfig`` stays instant.
"""

from __future__ import annotations

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
from headroom.memory.config import EmbedderBackend, MemoryConfig

if TYPE_CHECKING:
    from headroom.memory.facade import HierarchicalMemory, Progress, ReembedProgress, ScopedMemory

__all__ = [
    "EmbedderBackend",
    "HierarchicalMemory",
    "Memory",
    "MemoryCategory",
    "MemoryConfig",
    "MemoryFilter",
    "MemoryStats",
    "NewMemory",
    "Progress",
    "ReembedProgress",
    "Scope",
    "ScopeLevel",
    "ScopedMemory",
    "SearchHit",
]


_ENGINE = ("HierarchicalMemory", "Progress", "ReembedProgress", "ScopedMemory")


def __getattr__(name: str) -> Any:
    if name in _ENGINE:
        from headroom.memory import facade

        value = getattr(facade, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'headroom.memory' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
