"""Conversions between Python values and their stored form in PostgreSQL. Pure.

Vectors travel in pgvector's binary format: a big-endian uint16 dimension, a uint16 left 0,
then the values as big-endian float32. Times are ``timestamptz`` (microseconds, like the
SQLite backend), metadata is ``json`` text written exactly as the SQLite backend writes it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from headroom.domain import Memory, MemoryCategory
from headroom.storage.base import StoredMemory

__all__ = [
    "decode_vector",
    "dump_metadata",
    "encode_vector",
    "insert_columns",
    "record_to_memory",
    "record_to_stored",
]

_HEADER = struct.Struct(">HH")


def encode_vector(vector: npt.NDArray[np.float32] | bytes) -> bytes:
    """A vector in pgvector's binary format (bytes already in it pass through)."""
    if isinstance(vector, bytes):
        return vector
    values = np.ascontiguousarray(vector, dtype=">f4")
    return _HEADER.pack(values.shape[0], 0) + values.tobytes()


def decode_vector(data: bytes) -> npt.NDArray[np.float32]:
    (dimension, _) = _HEADER.unpack_from(data)
    return np.frombuffer(data, dtype=">f4", count=dimension, offset=_HEADER.size).astype(np.float32)


def dump_metadata(metadata: Mapping[str, Any]) -> str:
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _load_metadata(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def record_to_memory(row: asyncpg.Record) -> Memory:
    """A row of :data:`headroom.storage.postgres.sql.COLUMNS` as a Memory."""
    return Memory(
        id=row["id"],
        content=row["content"],
        category=MemoryCategory(row["category"]),
        importance=row["importance"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        agent_id=row["agent_id"],
        turn_id=row["turn_id"],
        created_at=row["created_at"],
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        supersedes=row["supersedes"],
        superseded_by=row["superseded_by"],
        metadata=_load_metadata(row["metadata"]),
        source=row["source"],
    )


def record_to_stored(row: asyncpg.Record) -> StoredMemory:
    """A row of ``COLUMNS`` and ``embedding``."""
    return StoredMemory(int(row["key"]), record_to_memory(row), row["embedding"])


def insert_columns(items: list[StoredMemory]) -> list[list[Any]]:
    """The column arrays of :data:`headroom.storage.postgres.sql.INSERT_MEMORIES`."""
    memories = [item.memory for item in items]
    return [
        [m.id for m in memories],
        [m.content for m in memories],
        [m.category.value for m in memories],
        [m.importance for m in memories],
        [m.user_id for m in memories],
        [m.session_id for m in memories],
        [m.agent_id for m in memories],
        [m.turn_id for m in memories],
        [m.created_at for m in memories],
        [m.valid_from for m in memories],
        [m.valid_to for m in memories],
        [m.supersedes for m in memories],
        [m.superseded_by for m in memories],
        [dump_metadata(m.metadata) for m in memories],
        [m.source for m in memories],
        [encode_vector(item.embedding) for item in items],
    ]
