"""Pure helpers shared by the vector indexes: input checks, filtered-search strategy, top-k.

No I/O and no backend here, so every rule is testable on plain arrays. The strategy numbers
(``DEFAULT_EXACT_THRESHOLD``, ``OVERSAMPLING_MARGIN``, ``HNSW_COST_RATIO``) come from
``benchmarks/vector_index_probe.py``; docs/storage-vector-index.md records the measurements.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from headroom.errors import DimensionMismatchError, InvalidEmbeddingError, ValidationError
from headroom.storage.base import Keys

__all__ = [
    "DEFAULT_EXACT_THRESHOLD",
    "HNSW_COST_RATIO",
    "OVERSAMPLING_MARGIN",
    "Plan",
    "Strategy",
    "check_allowed",
    "check_k",
    "check_keys",
    "check_query",
    "check_vectors",
    "empty_result",
    "estimate_present",
    "estimate_sample",
    "is_member",
    "plan_search",
    "similarities",
    "top_k",
    "widen",
]

Vectors = npt.NDArray[np.float32]

DEFAULT_EXACT_THRESHOLD = 2048
"""Allowed sets up to this size are always searched exactly, by gathering their vectors.

Gathering costs ~1 µs a key whatever N (2,048 keys: 1.6-3.9 ms at 384 dims). It costs as much
as the oversampled HNSW search at ~1,600 keys for 10k vectors and ~7,500 for 100k; 2,048 keeps
small sets exact at every size, and HNSW_COST_RATIO moves the switch up for large indexes."""

OVERSAMPLING_MARGIN = 2.0
"""Candidates = margin · max(ef_search, k) · N / |allowed|. Measured on clustered data (10k
vectors, ef_search 50): recall@10 0.97 unfiltered; 0.90 at 50% allowed and 0.66 at 10% with
margin 1; 0.97 at both with margin 2. It also leaves ~2 · ef allowed keys among the
candidates, so the (x4) retry is rare unless the allowed keys avoid the query's region."""

HNSW_COST_RATIO = 4.0
"""What one HNSW candidate costs relative to gathering one allowed vector (measured: ~2.5 at
10k vectors, ~6 at 100k). Beyond the threshold, the plan still gathers when the candidates
would cost more than the allowed vectors: the effective threshold grows to
sqrt(ratio · margin · ef · N), ~6,300 at 100k vectors, and with k once k exceeds ef."""

WIDEN_FACTOR = 4

ESTIMATE_SAMPLE = 1024
"""Allowed keys probed to estimate how many are in the index. Probing all of a large set
costs more than the search (usearch ``contains``: ~6 ms for 100k keys, vs ~0.7 ms for an
HNSW query); a strided sample of 1,024 costs ~0.02 ms and is exact for smaller sets."""

BLOCK_ROWS = 1024
"""Rows per matrix-vector product. OpenBLAS (numpy's wheels) multithreads larger products,
and on a 2-core machine that measured 8 ms for 2,048 x 384 where 1,024-row blocks take
0.04 ms (16 ms vs 6 ms at 100k rows)."""

UNIT_TOLERANCE = 1e-2
"""How far a vector's norm may be from 1. Loose enough for f16/i8 round trips, tight enough to
catch a caller that forgot to normalise (cosine = dot only holds for unit vectors)."""

MAX_KEY = np.iinfo(np.int64).max


class Strategy(enum.Enum):
    GATHER = "gather"
    """Fetch the allowed vectors and compute every dot product: exact, cost ∝ |allowed|."""
    HNSW = "hnsw"
    """Ask the graph for ``candidates`` neighbours and keep the allowed ones."""


@dataclass(frozen=True, slots=True)
class Plan:
    strategy: Strategy
    candidates: int = 0
    """How many neighbours to request from HNSW (HNSW only)."""


def plan_search(
    *,
    size: int,
    allowed: int,
    k: int,
    exact_threshold: int,
    ef_search: int,
    margin: float = OVERSAMPLING_MARGIN,
    cost_ratio: float = HNSW_COST_RATIO,
) -> Plan:
    """How to find the best ``k`` of ``allowed`` keys present in an index of ``size``.

    ``k`` is already capped at ``allowed``; all counts are positive.
    """
    if allowed <= exact_threshold:
        return Plan(Strategy.GATHER)
    # An unfiltered search explores ef_search candidates to return k accurate ones; a filtered
    # one scales that effort by N / |allowed| (and a margin), so each allowed neighbour is found
    # with the same care. Scaling k alone (k' = 2k · N/|allowed|, what we first tried)
    # measured recall 0.80 instead of 0.97: the allowed hits sat in the inaccurate tail of the
    # candidate list. usearch explores max(ef_search, count) candidates, so returning all of
    # them costs nothing more.
    wanted = math.ceil(margin * max(ef_search, k) * size / allowed)
    return _cheapest(min(size, max(wanted, k)), size, allowed, cost_ratio)


def widen(plan: Plan, *, size: int, allowed: int, cost_ratio: float = HNSW_COST_RATIO) -> Plan:
    """The next attempt after an HNSW search left fewer than k allowed keys."""
    if plan.strategy is not Strategy.HNSW or plan.candidates >= size:
        # The graph returned all it could reach (removals can disconnect parts of it).
        return Plan(Strategy.GATHER)
    return _cheapest(min(size, plan.candidates * WIDEN_FACTOR), size, allowed, cost_ratio)


def _cheapest(candidates: int, size: int, allowed: int, cost_ratio: float) -> Plan:
    if candidates >= size or candidates * cost_ratio >= allowed:
        return Plan(Strategy.GATHER)
    return Plan(Strategy.HNSW, candidates)


def similarities(matrix: Vectors, vector: Vectors) -> Vectors:
    """``matrix @ vector`` as float32, in blocks small enough to stay single-threaded."""
    out = np.empty(matrix.shape[0], dtype=np.float32)
    for start in range(0, matrix.shape[0], BLOCK_ROWS):
        np.matmul(matrix[start : start + BLOCK_ROWS], vector, out=out[start : start + BLOCK_ROWS])
    return out


def estimate_sample(allowed: Keys) -> Keys:
    """Evenly spaced allowed keys (all of them when there are few) to probe for presence."""
    if allowed.size <= ESTIMATE_SAMPLE:
        return allowed
    positions = np.arange(ESTIMATE_SAMPLE) * (allowed.size / ESTIMATE_SAMPLE)
    return allowed[positions.astype(np.intp)]


def estimate_present(allowed: int, sampled: int, hits: int) -> int:
    """How many of ``allowed`` keys are present, from ``hits`` among ``sampled`` probes."""
    if sampled >= allowed:
        return hits
    return round(hits / sampled * allowed)


def is_member(allowed: Keys, keys: Keys) -> npt.NDArray[np.bool_]:
    """Which ``keys`` are in ``allowed`` (sorted, unique): a binary search each."""
    if allowed.size == 0:
        return np.zeros(keys.shape, dtype=np.bool_)
    positions = np.searchsorted(allowed, keys)
    np.minimum(positions, allowed.size - 1, out=positions)
    result: npt.NDArray[np.bool_] = allowed[positions] == keys
    return result


def top_k(keys: Keys, similarities: Vectors, k: int) -> tuple[Keys, Vectors]:
    """The ``k`` most similar, best first; ties broken by the smaller key (deterministic)."""
    if k < similarities.size:
        # argpartition is O(n); the final sort only touches k items.
        part = np.argpartition(-similarities, k - 1)[:k]
        keys, similarities = keys[part], similarities[part]
    order = np.lexsort((keys, -similarities))
    return (
        np.ascontiguousarray(keys[order], dtype=np.int64),
        np.ascontiguousarray(similarities[order], dtype=np.float32),
    )


def empty_result() -> tuple[Keys, Vectors]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValidationError(f"k must be an integer, not {k!r}")
    if k < 0:
        raise ValidationError(f"k must be >= 0, not {k}")
    return int(k)


def check_keys(keys: object) -> Keys:
    """``keys`` as a contiguous int64 array of distinct non-negative keys, or ValidationError.

    Negative keys are refused because usearch stores keys as uint64 and reserves the largest
    value (what -1 becomes) as its "no key" sentinel.
    """
    array = np.asarray(keys)
    if array.ndim != 1:
        raise ValidationError(f"keys must be a 1-d array, got shape {array.shape}")
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise ValidationError(f"keys must be integers, got dtype {array.dtype}")
    if array.dtype.kind == "u" and int(array.max()) > MAX_KEY:
        raise ValidationError("keys must fit in int64")
    if array.dtype.kind == "i" and int(array.min()) < 0:
        raise ValidationError("keys must be >= 0")
    result = np.ascontiguousarray(array, dtype=np.int64)
    if np.unique(result).size != result.size:
        raise ValidationError("keys must be distinct within one call")
    return result


def check_vectors(vectors: object, count: int, dimension: int) -> Vectors:
    """``vectors`` as a C-contiguous float32 ``(count, dimension)`` array of unit rows."""
    array = np.asarray(vectors)
    if array.dtype.kind != "f":
        raise InvalidEmbeddingError(f"vectors must be floating point, got dtype {array.dtype}")
    if array.ndim != 2:
        raise InvalidEmbeddingError(f"vectors must be a 2-d array, got shape {array.shape}")
    if array.shape[1] != dimension:
        raise DimensionMismatchError(
            f"vectors have dimension {array.shape[1]}, this index holds {dimension}"
        )
    if array.shape[0] != count:
        raise ValidationError(f"{count} keys but {array.shape[0]} vectors")
    result = np.ascontiguousarray(array, dtype=np.float32)
    _check_values(result)
    return result


def check_query(query: object, dimension: int) -> Vectors:
    """``query`` as a contiguous float32 ``(dimension,)`` unit vector (``(1, d)`` is accepted)."""
    array = np.asarray(query)
    if array.dtype.kind != "f":
        raise InvalidEmbeddingError(f"query must be floating point, got dtype {array.dtype}")
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1:
        raise InvalidEmbeddingError(f"query must be one vector, got shape {array.shape}")
    if array.shape[0] != dimension:
        raise DimensionMismatchError(
            f"query has dimension {array.shape[0]}, this index holds {dimension}"
        )
    result = np.ascontiguousarray(array, dtype=np.float32)
    _check_values(result[np.newaxis, :])
    return result


def check_allowed(allowed: object) -> Keys:
    """``allowed`` as sorted, distinct, non-negative int64 keys.

    The protocol asks callers for sorted keys; an unsorted array is sorted here rather than
    silently mis-searched (binary search on unsorted keys would drop allowed ones).
    """
    array = np.asarray(allowed)
    if array.ndim != 1:
        raise ValidationError(f"allowed must be a 1-d array, got shape {array.shape}")
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise ValidationError(f"allowed must hold integer keys, got dtype {array.dtype}")
    if array.dtype.kind == "u":
        array = array[array <= MAX_KEY]
    result = np.ascontiguousarray(array, dtype=np.int64)
    if result.size > 1 and not bool(np.all(result[1:] > result[:-1])):
        result = np.unique(result)
    # No key is negative (check_keys refuses them); dropping them keeps -1 away from usearch,
    # where it would alias the sentinel.
    start = int(np.searchsorted(result, 0))
    return result[start:] if start else result


def _check_values(rows: Vectors) -> None:
    if not np.isfinite(rows).all():
        raise InvalidEmbeddingError("vectors contain NaN or infinite values")
    norms = np.linalg.norm(rows, axis=1)
    bad = np.abs(norms - 1.0) > UNIT_TOLERANCE
    if bad.any():
        row = int(np.argmax(bad))
        raise InvalidEmbeddingError(
            f"vectors must be unit length (row {row} has norm {float(norms[row]):.4g})"
        )
