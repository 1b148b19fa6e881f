"""Supersession chains: ordering the versions of one fact. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from headroom.domain.models import Memory
from headroom.errors import StorageError

__all__ = ["order_chain"]


def order_chain(members: Sequence[Memory]) -> list[Memory]:
    """The versions of one chain, oldest first, following the ``superseded_by`` links.

    ``members`` is the whole chain in any order. A chain is a simple path: exactly one root
    (superseding nothing in the set) and no version superseded twice; anything else is a
    corrupt store and raises :class:`StorageError`.
    """
    if not members:
        return []
    by_id = {m.id: m for m in members}
    roots = [m for m in members if m.supersedes is None or m.supersedes not in by_id]
    if len(roots) != 1:
        raise StorageError(f"broken supersession chain: {len(roots)} roots among {sorted(by_id)}")
    ordered = [roots[0]]
    seen = {roots[0].id}
    while (next_id := ordered[-1].superseded_by) is not None and next_id in by_id:
        if next_id in seen:
            raise StorageError(f"broken supersession chain: a cycle through {next_id}")
        seen.add(next_id)
        ordered.append(by_id[next_id])
    if len(ordered) != len(by_id):
        raise StorageError(f"broken supersession chain: {len(by_id) - len(ordered)} unreachable")
    return ordered
