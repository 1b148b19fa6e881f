"""Which of the memories found are worth injecting. Pure: no I/O.

A search always returns its best hits, relevant or not; the wrapper must decide whether any of
them belong in the prompt. Two kinds of evidence, one from each half of the hybrid search:

* **meaning**: the cosine similarity of the query (in the third person, see
  ``headroom.wrapper.query``) and the memory is at least ``floor`` when the conversation
  speaks of the user ("I", "my", ...), ``IMPERSONAL_MARGIN`` more when it does not (a
  general question needs more evidence that a memory about the user belongs in it);
* **words**: the memory holds most of the question's content words (stop words left out,
  light stemming: "work" finds "works") and the similarity is at least ``KEYWORD_FLOOR``, so
  that a shared word alone ("like", "day") does not admit an unrelated memory.

"Where do I work?" against "User works at Google" scores 0.19 on the default model, under any
floor that keeps unrelated questions out, but its one content word is in the memory: it is
injected. "How many legs does a spider have?" shares one word of three with "User has a fear
of spiders": words alone do not admit it. The numbers are measured on the injection case set
(``benchmarks/injection_cases.py``; docs/performance.md has the table).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from headroom.domain.words import terms
from headroom.memory import SearchHit

__all__ = [
    "DEFAULT_FLOOR",
    "IMPERSONAL_MARGIN",
    "KEYWORD_COVERAGE",
    "KEYWORD_FLOOR",
    "content_stems",
    "keyword_coverage",
    "select",
    "stem",
]

DEFAULT_FLOOR = 0.3
"""Cosine similarity at which a memory is injected on meaning alone (the default model)."""

IMPERSONAL_MARGIN = 0.1
"""How much more similar a memory must be when the question does not mention the user."""

KEYWORD_COVERAGE = 0.6
"""Share of the question's content words a memory must hold to be injected on its words."""

KEYWORD_FLOOR = 0.1
"""The least similarity a memory admitted on its words must still have."""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MIN_STEM = 3

_Hit = TypeVar("_Hit", bound=SearchHit)


def stem(word: str) -> str:
    """A light English stem, enough to match a word's forms: "works", "worked", "working"
    -> "work"; "lives", "lived", "living" -> "liv"; "studies", "studied" -> "study"."""
    word = word.lower()
    if len(word) <= _MIN_STEM:
        return word
    if word.endswith(("ies", "ied")):
        word = word[:-3] + "y"
    elif word.endswith(("sses", "ches", "shes", "xes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and len(word) - 3 >= _MIN_STEM:
        word = word[:-3]
    elif word.endswith("ed") and len(word) - 2 >= _MIN_STEM:
        word = word[:-2]
    if len(word) > _MIN_STEM and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # "running" -> "run"
    if len(word) > _MIN_STEM and word.endswith("e"):
        word = word[:-1]  # "live" and "lived" alike
    return word


def content_stems(text: str) -> set[str]:
    """The stems of every word of ``text`` (stop words included: the memory side)."""
    return {stem(w) for w in _WORD.findall(text.replace("'s", " "))}


def keyword_coverage(question: str, memory: str) -> float:
    """The share of ``question``'s content words (stop words left out) found in ``memory``."""
    wanted = {stem(w) for w in terms(question.replace("'s", " "))}
    if not wanted:
        return 0.0
    return len(wanted & content_stems(memory)) / len(wanted)


def select(
    question: str,
    hits: Sequence[_Hit],
    *,
    floor: float | None = DEFAULT_FLOOR,
    personal: bool = True,
    limit: int | None = None,
) -> list[_Hit]:
    """The hits to inject, in their search order, at most ``limit``.

    ``floor`` None injects every hit (the caller asked for no relevance test). ``question`` is
    the user's own message: the words that must be found. ``personal`` False (the
    conversation does not mention the user) raises the floor by ``IMPERSONAL_MARGIN``.
    """
    if floor is not None and not personal:
        floor += IMPERSONAL_MARGIN
    chosen: list[_Hit] = []
    for hit in hits:
        if limit is not None and len(chosen) >= limit:
            break
        if _relevant(question, hit, floor):
            chosen.append(hit)
    return chosen


def _relevant(question: str, hit: SearchHit, floor: float | None) -> bool:
    if floor is None or hit.similarity >= floor:
        return True
    return (
        hit.similarity >= KEYWORD_FLOOR
        and keyword_coverage(question, hit.content) >= KEYWORD_COVERAGE
    )
