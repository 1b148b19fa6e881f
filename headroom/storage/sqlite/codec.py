"""Conversions between Python values and their stored form in SQLite. Pure."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

from headroom.domain import Memory, MemoryCategory

__all__ = [
    "blob_to_vector",
    "dump_metadata",
    "from_micros",
    "load_metadata",
    "memory_params",
    "owner_token",
    "row_to_memory",
    "to_micros",
    "vector_to_blob",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch."""
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """Integer microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=micros)


def vector_to_blob(vector: npt.NDArray[np.float32]) -> bytes:
    """A vector as little-endian float32 bytes."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def blob_to_vector(blob: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def owner_token(user_id: str) -> str:
    """The FTS5 token standing for a user: ``u`` and decimal digits.

    Digits only after the prefix, so the porter stemmer leaves it alone; a 64-bit hash keeps it
    short. A collision would only cost speed: the search re-checks ``user_id`` on every row.
    """
    digest = hashlib.blake2b(user_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return f"u{int.from_bytes(digest, 'little')}"


def dump_metadata(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def load_metadata(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def row_to_memory(row: tuple[Any, ...]) -> Memory:
    """A row of :data:`headroom.storage.sqlite.sql.COLUMNS` as a Memory."""
    return Memory(
        id=row[1],
        content=row[2],
        category=MemoryCategory(row[3]),
        importance=row[4],
        user_id=row[5],
        session_id=row[6],
        agent_id=row[7],
        turn_id=row[8],
        created_at=from_micros(row[9]),
        valid_from=from_micros(row[10]),
        valid_to=None if row[11] is None else from_micros(row[11]),
        supersedes=row[12],
        superseded_by=row[13],
        metadata=load_metadata(row[14]),
        source=row[15],
    )


def memory_params(m: Memory, embedding: npt.NDArray[np.float32]) -> tuple[Any, ...]:
    """The parameters of :data:`headroom.storage.sqlite.sql.INSERT_MEMORY` for a memory."""
    return (
        m.id,
        m.content,
        m.category.value,
        m.importance,
        m.user_id,
        m.session_id,
        m.agent_id,
        m.turn_id,
        to_micros(m.created_at),
        to_micros(m.valid_from),
        None if m.valid_to is None else to_micros(m.valid_to),
        m.supersedes,
        m.superseded_by,
        dump_metadata(m.metadata),
        m.source,
        vector_to_blob(embedding),
    )
