"""LangGraph items as headroom memories, and LangGraph's matching rules. Pure: no I/O.

An item ``(namespace, key) -> value`` is stored as one memory of the user its namespace names:

* ``content`` is the text a search ranks it by: the text at the index fields (LangGraph's path
  syntax), by default every string in the value, in order; a value without any string is
  stored as its compact JSON;
* ``metadata["langgraph"]`` keeps the namespace, the key, the value itself, when the item was
  first put, and whether it takes part in searches with a query (``index=False`` opts out);
* ``metadata["langgraph_item"]`` is the item's address as one string (the JSON of its
  namespace and key), so the engine finds an item's memory by a metadata match, whichever
  process stored it.

A put on an existing key supersedes the memory, so every earlier value stays in its history.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langgraph.store.base import Item, MatchCondition, SearchItem
from langgraph.store.base.embed import get_text_at_path, tokenize_path

from headroom.errors import ValidationError
from headroom.memory import Memory

__all__ = [
    "ADDRESS",
    "META",
    "Address",
    "Stored",
    "address_key",
    "content_of",
    "item_of",
    "matches_filter",
    "matches_namespace",
    "metadata_for",
    "search_item_of",
    "stored_of",
]

META = "langgraph"
"""The metadata key under which a memory records that it is a LangGraph item."""

ADDRESS = "langgraph_item"
"""The metadata key holding the item's address as one string (see :func:`address_key`)."""

Address = tuple[tuple[str, ...], str]
"""An item's ``(namespace, key)``."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What a memory's metadata says about the item it holds."""

    address: Address
    value: dict[str, Any]
    created_at: datetime
    indexed: bool


def stored_of(memory: Memory) -> Stored | None:
    """The item ``memory`` holds, or None for a memory stored by something else."""
    meta = memory.metadata.get(META)
    if not isinstance(meta, dict):
        return None
    try:
        namespace = tuple(str(label) for label in meta["namespace"])
        return Stored(
            (namespace, str(meta["key"])),
            dict(meta["value"]),
            datetime.fromisoformat(meta["created_at"]),
            bool(meta.get("indexed", True)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def address_key(address: Address) -> str:
    """The item's address as one string: the JSON of its namespace's labels and its key."""
    namespace, key = address
    return json.dumps([*namespace, key], ensure_ascii=False, separators=(",", ":"))


def metadata_for(
    address: Address, value: Mapping[str, Any], created_at: datetime, indexed: bool
) -> dict[str, Any]:
    namespace, key = address
    return {
        ADDRESS: address_key(address),
        META: {
            "namespace": list(namespace),
            "key": key,
            "value": dict(value),
            "created_at": created_at.isoformat(),
            "indexed": indexed,
        },
    }


def item_of(memory: Memory, stored: Stored) -> Item:
    namespace, key = stored.address
    return Item(
        value=stored.value,
        key=key,
        namespace=namespace,
        created_at=stored.created_at,
        updated_at=memory.valid_from,
    )


def search_item_of(memory: Memory, stored: Stored, score: float | None) -> SearchItem:
    namespace, key = stored.address
    return SearchItem(namespace, key, stored.value, stored.created_at, memory.valid_from, score)


def content_of(value: Mapping[str, Any], fields: Sequence[str] | None) -> str:
    """The text a value is searched by (see the module docstring)."""
    if fields is None or list(fields) == ["$"]:
        texts = list(_strings(value))
    else:
        texts = []
        for path in fields:
            for text in get_text_at_path(value, tokenize_path(path)):
                texts.append(text if isinstance(text, str) else json.dumps(text))
    text = "\n".join(t for t in texts if t.strip())
    if text:
        return text
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


# -- LangGraph's matching rules (as its reference InMemoryStore applies them) ---------------------


def matches_namespace(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """A prefix or suffix condition, where ``"*"`` matches any one label."""
    path = condition.path
    if len(namespace) < len(path):
        return False
    labels = namespace if condition.match_type == "prefix" else namespace[::-1]
    wanted = path if condition.match_type == "prefix" else path[::-1]
    return all(p == "*" or p == label for label, p in zip(labels, wanted, strict=False))


def matches_filter(value: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Each filter key's condition holds for that field of the value.

    A condition is a value (equal, compared like JSON: nested objects field by field, lists
    element by element) or an object of operators ``$eq $ne $gt $gte $lt $lte``. An ordering
    operator on a value that is not a number is false, not an error.
    """
    if not where:
        return True
    return all(_compare(value.get(key), wanted) for key, wanted in where.items())


def _compare(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping):
        if any(str(k).startswith("$") for k in wanted):
            return all(_operator(actual, op, operand) for op, operand in wanted.items())
        return isinstance(actual, Mapping) and all(
            _compare(actual.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(wanted)
            and all(_compare(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return bool(actual == wanted)


_ORDER = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _operator(actual: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(actual == operand)
    if op == "$ne":
        return bool(actual != operand)
    compare = _ORDER.get(op)
    if compare is None:
        raise ValidationError(
            f"unknown filter operator {op!r}; expected one of: $eq, $ne, $gt, $gte, $lt, $lte"
        )
    try:
        return bool(compare(float(actual), float(operand)))
    except (TypeError, ValueError):
        return False
