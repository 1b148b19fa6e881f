"""User text to a safe FTS5 query. Pure.

User text never reaches MATCH as syntax: it is split into words (:mod:`headroom.domain.words`),
each word becomes a quoted string, and the words are OR-ed.
"""

from __future__ import annotations

from collections.abc import Sequence

from headroom.domain.words import MAX_TERMS, STOP_WORDS, terms
from headroom.storage.keywords import RANK_BUDGET, KeywordPlan, plan_keywords

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
    return or_expression(words, owner)


def count_expressions(words: Sequence[str], owner: str | None) -> list[str]:
    """One MATCH expression per word, restricted to ``owner`` (None: every row), to count
    its rows."""
    if owner is None:
        return [f'content:"{word}"' for word in words]
    return [f'owner:"{owner}" AND content:"{word}"' for word in words]


def or_expression(words: Sequence[str], owner: str | None) -> str:
    """The OR of ``words`` as a MATCH expression restricted to ``owner`` (None: every row)."""
    body = "content:(" + " OR ".join(f'"{word}"' for word in words) + ")"
    return body if owner is None else f'owner:"{owner}" AND {body}'
