"""Whether a memory from a block restates one already stored. Pure: no I/O.

Models restate what they remember: "User lives in Lisbon" comes back as "The user lives in
Lisbon", "user lives in lisbon.", "User lives in Lisbon, Portugal". Storing each again would
fill the memory with copies. But a memory that looks alike may say something else: "User
lives in Porto" (0.82 similar on the default model), "User retired in 2021" against "... in
2019" (0.96), "User's son is allergic to peanuts" against "User is allergic to peanuts"
(0.91). Similarity alone cannot tell these apart, so :func:`compare` looks at the words too:

* **the same**: the same words once case, punctuation and stop words are set aside ("The
  user is allergic to peanuts", "user is allergic to peanuts!"); or a
  similarity of at least ``RESTATE_SIMILARITY`` with no word swapped (one side's content
  words contain the other's: a detail added or left out; negations count as words, "no sugar"
  is not "two sugars"). Not stored again.
* **narrower**: the stored words hold the new ones whole, in order ("User lives in Lisbon"
  against a stored "User lives in Lisbon, Portugal"): it says less. Not stored.
* **broader**: the new words hold the stored ones whole, in order ("User works at Google, in
  its Lisbon office" against "User works at Google", 0.79 similar): the same fact with more
  detail. It replaces the stored one as its new version (the history keeps the old wording).
* anything else is new.

``RESTATE_SIMILARITY`` is measured on the pairs in ``benchmarks/duplicate_cases.py``
(docs/performance.md): 21 of 40 restatements recognised, and of 40 different facts alike none
taken for the same (one that says less, "User speaks German and English" against "... German,
English and Hindi", is not stored, by design). Restatements in other words ("is employed at"
for "works at", 0.87) are stored: at their similarity real updates ("used to work at Google",
0.87) are found too.
"""

from __future__ import annotations

import enum
import re

from headroom.domain.words import STOP_WORDS
from headroom.wrapper.relevance import stem

__all__ = ["RESTATE_SIMILARITY", "Relation", "compare", "content_words", "normalized"]

RESTATE_SIMILARITY = 0.92
"""Similarity from which a memory whose words contain the other's, or are contained in them,
restates it."""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NEGATIONS = frozenset(
    "no not never nor without cannot don doesn didn isn wasn aren weren won t".split()
)


class Relation(enum.Enum):
    """How a new memory relates to a stored one."""

    SAME = "same"
    NARROWER = "narrower"
    BROADER = "broader"
    OTHER = "other"


def normalized(text: str) -> str:
    """``text`` without case, punctuation or extra spacing."""
    return " ".join(w.lower() for w in _WORD.findall(text))


def content_words(text: str) -> frozenset[str]:
    """The stems of ``text``'s words that carry meaning: stop words out, negations kept."""
    words = [w.lower() for w in _WORD.findall(text.replace("'s", " "))]
    return frozenset(stem(w) for w in words if w not in STOP_WORDS or w in _NEGATIONS)


def _meaningful(text: str) -> str:
    """The words of ``text`` that carry meaning, in order: case, punctuation, stop words
    ("the", "is", "at") left out, negations kept."""
    words = (w.lower() for w in _WORD.findall(text.replace("'s", " ")))
    return " ".join(w for w in words if w not in STOP_WORDS or w in _NEGATIONS)


def compare(
    new: str, stored: str, similarity: float, *, threshold: float = RESTATE_SIMILARITY
) -> Relation:
    """How ``new`` relates to ``stored`` (``similarity``: their cosine; ``threshold``: from
    which a similar memory with no word swapped is the same)."""
    mine, theirs = _meaningful(new), _meaningful(stored)
    if mine == theirs or normalized(new) == normalized(stored):
        return Relation.SAME
    if f" {mine} " in f" {theirs} ":
        return Relation.NARROWER
    if f" {theirs} " in f" {mine} ":
        return Relation.BROADER
    if similarity >= threshold:
        words, stored_words = content_words(new), content_words(stored)
        if words <= stored_words or stored_words <= words:
            return Relation.SAME
    return Relation.OTHER
