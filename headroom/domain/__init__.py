"""The domain: the values headroom stores and returns, and the pure rules over them.

The bottom floor: it imports only :mod:`headroom.errors` and :mod:`headroom.scoping`, so
every layer above (storage backends, embedders, the engine, the wrapper) can use it.
"""

from headroom.domain.chains import order_chain
from headroom.domain.filters import MemoryFilter, SearchFilter, visible
from headroom.domain.models import (
    Memory,
    MemoryCategory,
    MemoryStats,
    NewMemory,
    SearchHit,
    indexed_text,
)
from headroom.scoping import Scope, ScopeLevel

__all__ = [
    "Memory",
    "MemoryCategory",
    "MemoryFilter",
    "MemoryStats",
    "NewMemory",
    "Scope",
    "ScopeLevel",
    "SearchFilter",
    "SearchHit",
    "indexed_text",
    "order_chain",
    "visible",
]
