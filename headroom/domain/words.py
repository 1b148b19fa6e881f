"""Which words of a text carry meaning: the stop words, and a query's terms. Pure.

Shared by every keyword half (the SQLite FTS5 query, a Postgres tsquery) and by the wrapper's
word tests, so that "a content word" means the same everywhere.
"""

from __future__ import annotations

import re

__all__ = ["MAX_TERMS", "STOP_WORDS", "terms"]

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
