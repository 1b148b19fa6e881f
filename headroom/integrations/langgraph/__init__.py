"""A LangGraph ``BaseStore`` kept by headroom (``pip install 'headroom[langgraph]'``).

``HeadroomStore`` gives LangGraph and LangMem applications headroom's memory: a put on an
existing key keeps the old value in its history, searches with a query are hybrid (vectors and
keywords), filters work on value fields, and each namespace names the headroom user its items
belong to. See ``docs/integrations-langgraph.md``.
"""

from headroom._imports import require

require("langgraph.store.base", package="langgraph", extra="langgraph")

from headroom.integrations.langgraph._store import HeadroomStore, NamespaceError  # noqa: E402

__all__ = ["HeadroomStore", "NamespaceError"]
