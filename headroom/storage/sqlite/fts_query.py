"""User text to a safe FTS5 query. Pure.

User text never reaches MATCH as syntax: it is split into words, each word becomes a quoted
string, and the words are OR-ed. Stop words are dropped (they match nearly every row and make
BM25 ranking slow without helping it), unless nothing else is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from headroom.domain.words import MAX_TERMS, STOP_WORDS, terms

__all__ = [
    "MAX_TERMS",
    "RANK_BUDGET",
    "STOP_WORDS",
    "KeywordPlan",
    "count_expressions",
    "match_expression",
    "or_expression",
    "plan_keywords",
    "terms",
]


def match_expression(text: str, owner: str | None = None) -> str | None:
    """An FTS5 MATCH expression for ``text``, restricted to ``owner``; None if nothing to find."""
    words = terms(text)
    if not words:
        return None
    if owner is None:
        return "content:(" + " OR ".join(f'"{word}"' for word in words) + ")"
    return or_expression(words, owner)


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


def count_expressions(words: Sequence[str], owner: str) -> list[str]:
    """One MATCH expression per word, restricted to ``owner``, to count its rows."""
    return [f'owner:"{owner}" AND content:"{word}"' for word in words]


def or_expression(words: Sequence[str], owner: str) -> str:
    """The OR of ``words`` as a MATCH expression restricted to ``owner``."""
    body = " OR ".join(f'"{word}"' for word in words)
    return f'owner:"{owner}" AND content:({body})'
