"""Supersession chains: ordering the versions of one fact, and checking imported ones. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from headroom.domain.models import Memory
from headroom.errors import StorageError, ValidationError

__all__ = ["check_import_chains", "order_chain"]


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


def check_import_chains(
    records: Sequence[Memory], stored: Mapping[str, Memory]
) -> list[list[Memory]]:
    """The supersession chains of memories about to be imported, each oldest first.

    ``records`` are the memories to store (ids unique, none stored yet); ``stored`` holds the
    stored memories their links name outside ``records``. Every link must join two versions
    of one fact: the same user and the same session, agent and turn ids, each side naming the
    other (``a.superseded_by == b.id`` exactly when ``b.supersedes == a.id``), the target in
    ``records`` or in ``stored``, no cycle. Then every chain is a simple path with one head.
    Otherwise :class:`ValidationError` names the first bad record, in the order given.

    Chains are returned in the order of their first record; a record linked to a stored
    memory continues that stored chain.
    """
    by_id = {m.id: m for m in records}
    for index, record in enumerate(records):
        for link, back, verb in (
            (record.supersedes, "superseded_by", "supersedes"),
            (record.superseded_by, "supersedes", "is superseded by"),
        ):
            if link is None:
                continue
            where = f"record {index} ({record.id})"
            if link == record.id:
                raise ValidationError(f"{where} {verb} itself")
            target = by_id.get(link) or stored.get(link)
            if target is None:
                raise ValidationError(
                    f"{where} {verb} {link!r}, which is neither among the memories imported "
                    "nor stored"
                )
            if target.user_id != record.user_id:
                raise ValidationError(f"{where} {verb} {link!r}, a memory of another user")
            if _scope_ids(target) != _scope_ids(record):
                raise ValidationError(
                    f"{where} {verb} {link!r}, a memory of another session, agent or turn"
                )
            other = getattr(target, back)
            if other != record.id:
                problem = _does_not_link_back(other, back)
                raise ValidationError(f"{where} {verb} {link!r}, {problem}")
    chains: list[list[Memory]] = []
    placed: set[str] = set()
    for record in records:
        if record.supersedes in by_id:
            continue  # not the oldest imported version of its chain
        chain = [record]
        while (next_id := chain[-1].superseded_by) is not None and next_id in by_id:
            chain.append(by_id[next_id])
        placed.update(m.id for m in chain)
        chains.append(chain)
    if len(placed) != len(records):
        index, cyclic = next((i, m) for i, m in enumerate(records) if m.id not in placed)
        raise ValidationError(f"record {index} ({cyclic.id}) is on a cycle of supersession links")
    return chains


def _does_not_link_back(other: str | None, back: str) -> str:
    if back == "superseded_by":
        if other is None:
            return "which is the current version of its chain (superseded by nothing)"
        return f"which is superseded by {other!r}: two versions claim to replace it"
    if other is None:
        return "which supersedes nothing"
    return f"which supersedes {other!r}: two versions claim to be replaced by it"


def _scope_ids(memory: Memory) -> tuple[str, str | None, str | None, str | None]:
    return (memory.user_id, memory.session_id, memory.agent_id, memory.turn_id)
