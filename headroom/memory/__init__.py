"""The memory engine: ``HierarchicalMemory`` and the values it takes and returns."""

from __future__ import annotations

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
from headroom.memory.facade import HierarchicalMemory, ReembedProgress

__all__ = [
    "EmbedderBackend",
    "HierarchicalMemory",
    "Memory",
    "MemoryCategory",
    "MemoryConfig",
    "MemoryFilter",
    "MemoryStats",
    "NewMemory",
    "ReembedProgress",
    "Scope",
    "ScopeLevel",
    "SearchHit",
]


def __dir__() -> list[str]:
    return sorted(__all__)
