"""The bounded keyword ranking plan, shared by the backends' keyword halves. Pure.

A query's words come from :func:`headroom.domain.words.terms`; no backend ever sees user
text as query syntax: each builds its own expression from these words only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RANK_BUDGET", "KeywordPlan", "plan_keywords"]

#: At most about this many rows get a BM25 score per keyword search. An OR of common words
#: matches most of a large user's rows, and ranking them all took 35 ms p50 at 100k memories.
#: Scoring costs about a microsecond a row, so the budget is the keyword half's cost: the
#: whole SQLite search (counting, planning, ranking) took 3.4 / 2.1 / 1.4 / 1.1 ms of CPU at
#: 100k memories for budgets of 2,000 / 1,000 / 500 / 250, and 5.6 / 3.3 / 2.2 ms at 1M,
#: while LongMemEval, LoCoMo and the injection set scored the same at 2,000, 1,000 and 500.
#: Below the budget, ranking is exactly as without it.
RANK_BUDGET = 500


@dataclass(frozen=True, slots=True)
class KeywordPlan:
    """Which words to search for, and whether to rank only the newest matches."""

    words: tuple[str, ...]
    window: int | None
    """Rank only the newest ``window`` matching rows (None: rank every match)."""


def plan_keywords(
    words: Sequence[str],
    counts: Sequence[int],
    *,
    budget: int = RANK_BUDGET,
    rows: int | None = None,
) -> KeywordPlan:
    """Bound the ranking work of an OR query, given how many rows each word matches.

    Words that match nothing are dropped. While the words together match more than ``budget``
    rows, the commonest are dropped: BM25 gives a word in a large share of the rows almost no
    weight (its IDF tends to zero), yet each of its rows costs a score. The rarest word is
    always kept; if it alone matches more than ``budget`` rows, only the newest ``budget`` of
    them are ranked (FTS5 walks a doclist newest first and stops).

    With ``rows``, how many rows the counts are out of (the user's), the words in more than
    half of them are dropped first, unless every word is: BM25 gives such a word no weight
    (its inverse document frequency is at most zero), yet its rows would fill the keyword
    list (LoCoMo facts any@5 0.800 -> 0.816 without them; LongMemEval unchanged).
    """
    if len(words) != len(counts):
        raise ValueError("one count per word")
    present = sorted(
        ((count, index) for index, count in enumerate(counts) if count > 0),
    )
    if rows is not None:
        present = [(count, index) for count, index in present if 2 * count <= rows] or present
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
