"""headroom: persistent, hierarchical, temporal memory for LLM applications.

``import headroom`` is light: the engine, the embedders and the wrapper load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headroom.errors import HeadroomError

__version__ = "0.1.0"

__all__ = [
    "EmbedderBackend",
    "HeadroomError",
    "HierarchicalMemory",
    "Memory",
    "MemoryCategory",
    "MemoryConfig",
    "MemoryFilter",
    "ScopeLevel",
    "SearchHit",
    "__version__",
    "with_memory",
]

_LAZY = {
    "EmbedderBackend": "headroom.memory",
    "HierarchicalMemory": "headroom.memory",
    "Memory": "headroom.memory",
    "MemoryCategory": "headroom.memory",
    "MemoryConfig": "headroom.memory",
    "MemoryFilter": "headroom.memory",
    "ScopeLevel": "headroom.memory",
    "SearchHit": "headroom.memory",
    "with_memory": "headroom.wrapper",
}

if TYPE_CHECKING:
    from headroom.memory import (
        EmbedderBackend,
        HierarchicalMemory,
        Memory,
        MemoryCategory,
        MemoryConfig,
        MemoryFilter,
        ScopeLevel,
        SearchHit,
    )
    from headroom.wrapper import with_memory


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'headroom' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
