"""Hybrid search: the vector and keyword halves over the ports, fused, fetched, re-checked.

Both halves run concurrently and each is exact about the filter (the backend pushes it
down). The fused winners are fetched from the store and checked against the scope rule once
more, so a stale index entry can never surface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import numpy as np

from headroom import _telemetry
from headroom._tasks import run_together
from headroom.domain import SearchFilter, SearchHit, visible
from headroom.memory.fusion import reciprocal_rank_fusion
from headroom.storage.base import Storage, Vector

__all__ = ["CANDIDATES_PER_RESULT", "MIN_CANDIDATES", "hybrid_search"]

#: How many candidates each half of a hybrid search contributes to the fusion, per result.
CANDIDATES_PER_RESULT = 4
MIN_CANDIDATES = 20


async def hybrid_search(
    storage: Storage,
    embed_query: Callable[[str], Awaitable[Vector]],
    text: str,
    where: SearchFilter,
    *,
    top_k: int,
    weights: tuple[float, float],
    min_similarity: float | None,
) -> list[SearchHit]:
    """The ``top_k`` best hits for ``text`` among what ``where`` allows, best first.

    ``weights`` are the vector and keyword lists' weights in the fusion; a half weighted 0 is
    not searched (the query is still embedded: every hit reports its similarity).
    """
    candidates = max(top_k * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
    vector_weight, text_weight = weights
    vector_keys: list[int] = []
    text_keys: list[int] = []
    query_vector = np.empty(0, dtype=np.float32)

    @_telemetry.traced("headroom.search.vector")
    async def vector_half() -> None:
        nonlocal query_vector
        query_vector = await embed_query(text)
        if vector_weight > 0:
            found = await storage.vectors.search(query_vector, candidates, where)
            vector_keys.extend(key for key, _ in found)
            _telemetry.note(candidates=len(found))

    @_telemetry.traced("headroom.search.keyword")
    async def text_half() -> None:
        if text_weight > 0:
            found = await storage.text.search(text, candidates, where)
            text_keys.extend(key for key, _ in found)
            _telemetry.note(candidates=len(found))

    await run_together(vector_half, text_half)
    fused = reciprocal_rank_fusion([vector_keys, text_keys], [vector_weight, text_weight])
    # The best 2 x top_k are considered, so rows deleted since the indexes answered (or under
    # min_similarity) don't cost results; fetched top_k at a time, as a second fetch is rarely
    # needed (fetching 20 rows costs twice 10). Every row is re-checked against the scope rule
    # before it is returned.
    considered = fused[: top_k * 2]
    hits: list[SearchHit] = []
    for start in range(0, len(considered), top_k):
        wanted = considered[start : start + top_k]
        by_key = await storage.store.get_by_keys([key for key, _ in wanted])
        for key, score in wanted:
            stored = by_key.get(key)
            if stored is None or not visible(stored.memory, where):
                continue
            similarity = float(np.dot(stored.embedding, query_vector))
            if min_similarity is not None and similarity < min_similarity:
                continue
            hits.append(SearchHit(stored.memory, score, similarity))
            if len(hits) == top_k:
                return hits
    return hits
