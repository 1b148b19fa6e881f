"""The Embedder port: one batch method, two properties, and an async close.

Single-text helpers and validation are derived here, once, for every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from headroom.errors import DimensionMismatchError, InvalidEmbeddingError

__all__ = ["Embedder", "Vectors", "embed_one", "normalize", "validate_vectors"]

Vectors = npt.NDArray[np.float32]
"""A ``(n, dimension)`` float32 array, one row a text."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. Any object with these members is an embedder."""

    @property
    def model_name(self) -> str:
        """Names the model; recorded in the database beside the dimension."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector; known before the first ``embed`` call."""
        ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One vector per text, in order, as a ``(len(texts), dimension)`` float32 array."""
        ...

    async def aclose(self) -> None:
        """Release sessions, connections and threads. Idempotent."""
        ...


async def embed_one(embedder: Embedder, text: str) -> Vectors:
    """The vector of one text, shape ``(dimension,)``, validated."""
    vectors = validate_vectors(await embedder.embed([text]), 1, embedder.dimension)
    first: Vectors = vectors[0]
    return first


def validate_vectors(vectors: object, count: int, dimension: int) -> Vectors:
    """``vectors`` as a C-contiguous float32 ``(count, dimension)`` array, or a specific error.

    Rejects a wrong shape (:class:`DimensionMismatchError` when only the width is off), NaN or
    infinite values, and all-zero rows (:class:`InvalidEmbeddingError`).
    """
    try:
        array = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidEmbeddingError(
            f"embedder returned something that is not numeric: {exc}"
        ) from exc
    if array.ndim != 2 or array.shape[0] != count:
        raise InvalidEmbeddingError(
            f"embedder returned shape {array.shape}, expected ({count}, {dimension})"
        )
    if array.shape[1] != dimension:
        raise DimensionMismatchError(
            f"embedder returned vectors of dimension {array.shape[1]}, expected {dimension}"
        )
    if not np.isfinite(array).all():
        raise InvalidEmbeddingError("embedder returned NaN or infinite values")
    if count and not np.any(array, axis=1).all():
        raise InvalidEmbeddingError("embedder returned an all-zero vector")
    return np.ascontiguousarray(array)


def normalize(vectors: Vectors) -> Vectors:
    """Rows scaled to unit length (cosine similarity becomes a dot product)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: Vectors = np.ascontiguousarray(vectors / norms, dtype=np.float32)
    return normalized
