"""The memory engine: ``HierarchicalMemory`` and the values it takes and returns."""

from headroom.memory.config import EmbedderBackend, MemoryConfig
from headroom.memory.facade import HierarchicalMemory
from headroom.memory.models import (
    Memory,
    MemoryCategory,
    MemoryFilter,
    MemoryStats,
    NewMemory,
    SearchHit,
)
from headroom.scoping import Scope, ScopeLevel

__all__ = [
    "EmbedderBackend",
    "HierarchicalMemory",
    "Memory",
    "MemoryCategory",
    "MemoryConfig",
    "MemoryFilter",
    "MemoryStats",
    "NewMemory",
    "Scope",
    "ScopeLevel",
    "SearchHit",
]
