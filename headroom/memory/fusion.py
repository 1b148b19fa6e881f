"""Rank fusion of the vector and keyword result lists. Pure.

Weighted reciprocal rank fusion: a key's score is the sum over lists of
``weight / (k + rank)`` (rank from 1). RRF needs no score calibration between cosine
similarity and BM25, which live on unrelated scales; the weights let the measurements on
LongMemEval (docs/performance.md) lean toward the list that retrieves better.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["RRF_K", "reciprocal_rank_fusion"]

#: The RRF constant: ``weight / (k + rank)``. Cormack et al. (2009) used 60, which flattens
#: the head of each list; on the LongMemEval development set (docs/performance.md) a small k,
#: which lets each list's first hits lead, retrieved better at 5 and 10 with either half of the
#: questions (turn recall_any@5 0.82 -> 0.86, @10 0.88 -> 0.92, session recall_all@5 equal).
RRF_K = 5


def reciprocal_rank_fusion(
    ranked_lists: Sequence[Sequence[int]],
    weights: Sequence[float] | None = None,
    *,
    k: int = RRF_K,
) -> list[tuple[int, float]]:
    """Fuse ranked key lists (best first) into one ``(key, score)`` list, best first.

    A key repeated within one list counts at its best rank. Ties break on the best rank
    reached in any list, then on the key, so the result is deterministic.
    """
    if weights is None:
        weights = [1.0] * len(ranked_lists)
    if len(weights) != len(ranked_lists):
        raise ValueError("one weight per ranked list")
    if k < 0:
        raise ValueError("k must be non-negative")
    scores: dict[int, float] = {}
    best_rank: dict[int, int] = {}
    for ranked, weight in zip(ranked_lists, weights, strict=True):
        seen: set[int] = set()
        for rank, key in enumerate(ranked, start=1):
            if key in seen:
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
            best_rank[key] = min(best_rank.get(key, rank), rank)
    return sorted(scores.items(), key=lambda item: (-item[1], best_rank[item[0]], item[0]))
