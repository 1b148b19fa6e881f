"""The bounded keyword ranking plan, shared by the backends' keyword halves. Pure.

A query's words come from :func:`headroom.domain.words.terms`; no backend ever sees user
text as query syntax: each builds its own expression from these words only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RANK_BUDGET", "KeywordPlan", "plan_keywords"]

#: At most about this many rows get a BM25 score per keyword search. An OR of common words
#: matches most of a large user's rows, and ranking them all took 35 ms p50 at 100k memories;
#: with this budget, 9 ms (counting 3 ms, ranking 6 ms; budgets of 500 to 3,000 measured 5 to
#: 7 ms of ranking: FTS5's bm25() itself scans each word's whole doclist once per query).
#: Below the budget, ranking is exactly as without it.
RANK_BUDGET = 2000


@dataclass(frozen=True, slots=True)
class KeywordPlan:
    """Which words to search for, and whether to rank only the newest matches."""

    words: tuple[str, ...]
    window: int | None
    """Rank only the newest ``window`` matching rows (None: rank every match)."""


def plan_keywords(
    words: Sequence[str], counts: Sequence[int], *, budget: int = RANK_BUDGET
) -> KeywordPlan:
    """Bound the ranking work of an OR query, given how many rows each word matches.

    Words that match nothing are dropped. While the words together match more than ``budget``
    rows, the commonest are dropped: BM25 gives a word in a large share of the rows almost no
    weight (its IDF tends to zero), yet each of its rows costs a score. The rarest word is
    always kept; if it alone matches more than ``budget`` rows, only the newest ``budget`` of
    them are ranked (FTS5 walks a doclist newest first and stops).
    """
    if len(words) != len(counts):
        raise ValueError("one count per word")
    present = sorted(
        ((count, index) for index, count in enumerate(counts) if count > 0),
    )
    kept: list[int] = []
    total = 0
    for count, index in present:
        if kept and total + count > budget:
            break
        kept.append(index)
        total += count
    kept.sort()  # the query's own order, for a stable expression
    window = budget if total > budget else None
    return KeywordPlan(tuple(words[i] for i in kept), window)
