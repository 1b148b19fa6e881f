"""Conversions between Python values and their stored form. Pure."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "blob_to_vector",
    "from_micros",
    "owner_token",
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
