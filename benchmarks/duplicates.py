"""How well the wrapper tells a restated memory from a new one, on the pairs of
:mod:`benchmarks.duplicate_cases`.

For each pair the real similarity of the two texts (the cached model) is fed to
:func:`headroom.wrapper.duplicates.compare` with its threshold and with others, and to a
similarity threshold alone: how many restatements are recognised (not stored again, or stored
as a new version of the memory they extend) and how many different facts are mistaken for
one (which would lose them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.duplicate_cases import DISTINCT, RESTATED
from headroom.embedders.base import Embedder
from headroom.wrapper import duplicates
from headroom.wrapper.duplicates import Relation, compare

__all__ = ["run_duplicates"]

Rule = Callable[[str, str, float], bool]


def _words_and(threshold: float) -> Rule:
    return lambda new, stored, similarity: (
        compare(new, stored, similarity, threshold=threshold) is not Relation.OTHER
    )


def _cosine(threshold: float) -> Rule:
    return lambda _new, _stored, similarity: similarity >= threshold


def _exact(new: str, stored: str, similarity: float) -> bool:
    return duplicates.normalized(new) == duplicates.normalized(stored)


def _rules() -> list[tuple[str, str, Rule]]:
    default = duplicates.RESTATE_SIMILARITY
    out: list[tuple[str, str, Rule]] = [
        (
            "wrapper defaults",
            f"same words, one holding the other, or similarity >= {default:g} with no word swapped",
            _words_and(default),
        ),
        ("same text only", "case, punctuation and spacing aside", _exact),
    ]
    for threshold in (0.85, 0.88, 0.9, 0.95):
        out.append(
            (
                f"words, similarity {threshold:g}",
                "the default rule, another threshold",
                _words_and(threshold),
            )
        )
    for threshold in (0.85, 0.9, 0.92, 0.95):
        out.append((f"cosine >= {threshold:g} alone", "similarity only", _cosine(threshold)))
    return out


async def run_duplicates(embedder: Embedder) -> dict[str, Any]:
    """Every rule on every pair."""
    started = time.perf_counter()
    pairs = [(a, b, True) for a, b in RESTATED] + [(a, b, False) for a, b in DISTINCT]
    texts = list(dict.fromkeys(t for a, b, _ in pairs for t in (a, b)))
    vectors = np.asarray(await embedder.embed(texts), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {t: i for i, t in enumerate(texts)}
    similarity = {(a, b): float(vectors[index[a]] @ vectors[index[b]]) for a, b, _ in pairs}
    rows = []
    for name, note, rule in _rules():
        # The stored memory is the first of the pair, the block item the second.
        caught = sum(rule(b, a, similarity[(a, b)]) for a, b, same in pairs if same)
        lost = [b for a, b, same in pairs if not same and rule(b, a, similarity[(a, b)])]
        rows.append(
            {
                "name": name,
                "note": note,
                "restatements_recognised": caught,
                "different_facts_lost": len(lost),
                "lost": lost,
            }
        )
    restated = sorted(similarity[(a, b)] for a, b, same in pairs if same)
    distinct = sorted(similarity[(a, b)] for a, b, same in pairs if not same)
    return {
        "restated_pairs": len(RESTATED),
        "distinct_pairs": len(DISTINCT),
        "similarity": {
            "restated_min_median_max": [
                round(restated[0], 3),
                round(restated[len(restated) // 2], 3),
                round(restated[-1], 3),
            ],
            "distinct_min_median_max": [
                round(distinct[0], 3),
                round(distinct[len(distinct) // 2], 3),
                round(distinct[-1], 3),
            ],
        },
        "rules": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
