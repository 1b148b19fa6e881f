"""User text to keywords, and the bounded ranking plan: shared by the backends. Pure.

A query is split into words; stop words are dropped (they match nearly every row and make
ranking slow without helping it), unless nothing else is left. No backend ever sees user text
as query syntax: each builds its own expression from these words only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_TERMS", "RANK_BUDGET", "STOP_WORDS", "KeywordPlan", "plan_keywords", "terms"]

#: At most this many distinct terms per query: bounds the work a 10,000-character query costs.
MAX_TERMS = 32

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don down
    during each few for from further had hadn has hasn have haven having he her here hers herself
    him himself his how i if in into is isn it its itself just ll let me more most mustn my myself
    no nor not now of off on once only or other ought our ours ourselves out over own re s same
    shan she should shouldn so some such t than that the their theirs them themselves then there
    these they this those through to too under until up ve very was wasn we were weren what when
    where which while who whom why will with won would wouldn you your yours yourself yourselves
    d m o y also get got would could shall may might must us ever
    """.split()
)


def terms(text: str, *, max_terms: int = MAX_TERMS) -> list[str]:
    """The distinct lower-cased words of ``text`` worth searching for, in order."""
    words = [w.lower() for w in _WORD.findall(text)]
    seen: dict[str, None] = {}
    for word in words:
        if word not in STOP_WORDS:
            seen.setdefault(word, None)
    if not seen:
        # A query of stop words only ("who am I?") still deserves an answer.
        for word in words:
            seen.setdefault(word, None)
    return list(seen)[:max_terms]


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
