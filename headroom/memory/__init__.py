"""The memory engine: ``HierarchicalMemory`` and the values it takes and returns.

The facade is imported on first use: the storage modules import ``headroom.memory.models``,
and the facade imports them, so an eager import here would make a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headroom.memory.config import EmbedderBackend, MemoryConfig
from headroom.memory.models import (
    Memory,
    MemoryCategory,
    MemoryFilter,
    MemoryStats,
    NewMemory,
    SearchHit,
)
from headroom.scoping import Scope, ScopeLevel

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in ("HierarchicalMemory", "ReembedProgress"):
        from headroom.memory import facade

        value = getattr(facade, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'headroom.memory' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
