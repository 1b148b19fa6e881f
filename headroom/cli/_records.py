"""Memories as JSON objects, and back: the export format and the ``--json`` output. Pure.

One memory is one JSON object whose keys are exactly the fields of :class:`Memory`. Times are
ISO 8601 with microseconds and a UTC offset (``2025-01-31T09:15:02.123456+00:00``): the store
keeps integer microseconds, so this text form loses nothing and a round trip is exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from headroom.memory import Memory, MemoryCategory, SearchHit

__all__ = ["RecordError", "hit_to_json", "memory_from_record", "memory_to_json", "memory_to_record"]

RECORD_FIELDS = (
    "id",
    "content",
    "category",
    "importance",
    "user_id",
    "session_id",
    "agent_id",
    "turn_id",
    "created_at",
    "valid_from",
    "valid_to",
    "supersedes",
    "superseded_by",
    "metadata",
    "source",
)
_OPTIONAL_FIELDS = ("source",)
"""Fields an export may lack (one written before they existed): None when absent."""
_TIMES = ("created_at", "valid_from", "valid_to")
_OPTIONAL_TEXT = ("session_id", "agent_id", "turn_id", "supersedes", "superseded_by", "source")
# Computed from the fields; ``--json`` output carries them, and import accepts and ignores
# them, so the output of ``list --json`` (one object per line with jq -c) imports as is.
_DERIVED = ("scope", "is_current")


class RecordError(ValueError):
    """A JSON object that is not a valid memory record; the message names the field."""


def format_time(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def memory_to_record(memory: Memory) -> dict[str, Any]:
    """The export form: exactly the stored fields."""
    return {
        "id": memory.id,
        "content": memory.content,
        "category": memory.category.value,
        "importance": memory.importance,
        "user_id": memory.user_id,
        "session_id": memory.session_id,
        "agent_id": memory.agent_id,
        "turn_id": memory.turn_id,
        "created_at": format_time(memory.created_at),
        "valid_from": format_time(memory.valid_from),
        "valid_to": None if memory.valid_to is None else format_time(memory.valid_to),
        "supersedes": memory.supersedes,
        "superseded_by": memory.superseded_by,
        "metadata": memory.metadata,
        "source": memory.source,
    }


def memory_to_json(memory: Memory) -> dict[str, Any]:
    """The ``--json`` form: the record plus its scope level and whether it is current."""
    record = memory_to_record(memory)
    record["scope"] = memory.scope.value
    record["is_current"] = memory.is_current
    return record


def hit_to_json(hit: SearchHit) -> dict[str, Any]:
    return {"score": hit.score, "similarity": hit.similarity, "memory": memory_to_json(hit.memory)}


def memory_from_record(record: object) -> Memory:
    """A memory from its record; :class:`RecordError` names what is wrong.

    Checks the shape and types only; the engine validates the values on import.
    """
    if not isinstance(record, Mapping):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    unknown = set(record) - set(RECORD_FIELDS) - set(_DERIVED)
    if unknown:
        raise RecordError(f"unknown fields {sorted(unknown)}")
    missing = [n for n in RECORD_FIELDS if n not in record and n not in _OPTIONAL_FIELDS]
    if missing:
        raise RecordError(f"missing fields {missing}")
    record = {**dict.fromkeys(_OPTIONAL_FIELDS), **record}
    for name in ("id", "content", "user_id", "category"):
        if not isinstance(record[name], str):
            raise RecordError(f"{name} must be a string, got {record[name]!r}")
    for name in _OPTIONAL_TEXT:
        if record[name] is not None and not isinstance(record[name], str):
            raise RecordError(f"{name} must be a string or null, got {record[name]!r}")
    importance = record["importance"]
    if isinstance(importance, bool) or not isinstance(importance, (int, float)):
        raise RecordError(f"importance must be a number, got {importance!r}")
    if not math.isfinite(importance):
        raise RecordError(f"importance must be finite, got {importance!r}")
    if not isinstance(record["metadata"], dict):
        raise RecordError(f"metadata must be a JSON object, got {record['metadata']!r}")
    try:
        category = MemoryCategory.parse(record["category"])
    except ValueError as exc:
        raise RecordError(str(exc)) from None
    valid_to = record["valid_to"]
    return Memory(
        id=record["id"],
        content=record["content"],
        category=category,
        importance=float(importance),
        user_id=record["user_id"],
        session_id=record["session_id"],
        agent_id=record["agent_id"],
        turn_id=record["turn_id"],
        created_at=parse_record_time("created_at", record["created_at"]),
        valid_from=parse_record_time("valid_from", record["valid_from"]),
        valid_to=None if valid_to is None else parse_record_time("valid_to", valid_to),
        supersedes=record["supersedes"],
        superseded_by=record["superseded_by"],
        metadata=dict(record["metadata"]),
        source=record["source"],
    )


def parse_record_time(name: str, value: object) -> datetime:
    """An ISO 8601 time with a UTC offset (``Z`` accepted); naive times are refused."""
    if not isinstance(value, str):
        raise RecordError(f"{name} must be an ISO 8601 string, got {value!r}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"{name} is not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise RecordError(f"{name} must carry a UTC offset (e.g. +00:00): {value!r}")
    return moment
