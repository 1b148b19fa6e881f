"""Alternatives to the default hybrid search, measured on the same LongMemEval questions.

1. **Fusion sweeps**, exact and cheap: the engine fuses the vector and keyword lists with
   :func:`headroom.memory.fusion.reciprocal_rank_fusion`, a pure function, over the first
   ``max(top_k * per_result, min_candidates)`` keys of each list. Given each question's deep
   single-list rankings (from the vector-only and text-only runs), every variant of weights,
   RRF constant and candidate depth is replayed here with the engine's own function; the
   default variant is checked against the engine's real hybrid results.
2. **Neighbouring turns as keyword context** (an engine feature we do not have): each memory's
   keyword-indexed text is its turn plus the previous and next turns of the same session,
   while its vector stays the turn's own. Emulated through the public API: the content is the
   context text and the embedder maps it back to the turn's cached vector.
3. **The turn before as its source** (the engine's ``source``): each turn stored with the turn
   before it in its session as its source, embedded and keyword-indexed after the turn. On a
   type-stratified subset of ``SOURCE_QUESTIONS`` questions (the turn-and-source texts are new
   embeddings: about 16,000 of them, some 15 minutes on one core the first time), beside the
   defaults on the same questions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.embedding_cache import DiskCachedEmbedder, Floats
from benchmarks.lme_data import Question, Scores, Turn, load_questions, score
from benchmarks.progress import Progress
from benchmarks.quality import (
    MODES,
    SESSION_DEPTH,
    TURN_K,
    QuestionResult,
    aggregate,
    evaluate_question,
)
from headroom.memory import MemoryConfig
from headroom.memory.fusion import RRF_K, reciprocal_rank_fusion
from headroom.memory.search import CANDIDATES_PER_RESULT, MIN_CANDIDATES

__all__ = [
    "SOURCE_QUESTIONS",
    "Variant",
    "neighbour_context",
    "previous_turns",
    "run_experiments",
    "simulate",
]

SOURCE_QUESTIONS = 32
"""Questions of the source experiment (type-stratified, as ``load_questions(limit=...)``)."""


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    vector_weight: float
    text_weight: float
    rrf_k: int = RRF_K
    per_result: int = CANDIDATES_PER_RESULT
    min_candidates: int = MIN_CANDIDATES

    @property
    def note(self) -> str:
        return (
            f"weights vector {self.vector_weight:g} / text {self.text_weight:g}, "
            f"RRF k={self.rrf_k}, candidates max({self.per_result}*top_k, "
            f"{self.min_candidates})"
        )


def _fuse(result: QuestionResult, variant: Variant, top_k: int) -> list[Turn]:
    depth = max(top_k * variant.per_result, variant.min_candidates)
    ids: dict[Turn, int] = {}
    lists: list[list[int]] = []
    weights: list[float] = []
    for mode, weight in (
        ("vector-only", variant.vector_weight),
        ("text-only", variant.text_weight),
    ):
        if weight > 0:
            lists.append([ids.setdefault(t, len(ids)) for t in result.ranked[mode][:depth]])
            weights.append(weight)
    turns = {key: turn for turn, key in ids.items()}
    fused = reciprocal_rank_fusion(lists, weights, k=variant.rrf_k)
    return [turns[key] for key, _ in fused[:top_k]]


def simulate(result: QuestionResult, variant: Variant) -> Scores:
    """The scores the engine would give ``result.question`` with ``variant``'s fusion."""
    top = score(result.question, _fuse(result, variant, TURN_K))
    deep = score(result.question, _fuse(result, variant, SESSION_DEPTH))
    return Scores(
        top.turn_any_at_5, top.turn_any_at_10, deep.session_any_at_5, deep.session_all_at_5
    )


def _variants() -> list[Variant]:
    defaults = MemoryConfig()
    out = [Variant("engine defaults (replayed)", defaults.vector_weight, defaults.text_weight)]
    for rrf_k in (1, 2, 5, 10, 30, 60):
        for text_weight in (1.0, 1.25, 2.0):
            name = f"RRF k={rrf_k}, text weight {text_weight:g}"
            out.append(Variant(name, 1.0, text_weight, rrf_k))
    for per_result in (2, 8):
        out.append(Variant(f"candidates {per_result}x top_k", 1.0, 1.0, per_result=per_result))
    return out


def _ceiling(results: Sequence[QuestionResult], depth: int) -> float:
    """Turn recall_any of the union of both lists' first ``depth`` turns (2*depth turns)."""
    found = [
        any(
            t.has_answer for t in {*r.ranked["vector-only"][:depth], *r.ranked["text-only"][:depth]}
        )
        for r in results
        if r.question.has_evidence_turns
    ]
    return round(sum(found) / len(found), 4) if found else 0.0


def _halves(results: Sequence[QuestionResult], variant: Variant) -> list[dict[str, Any]]:
    """The variant on the even- and odd-numbered questions apart: is a gain in both halves?"""
    return [
        _aggregate_scores(half, [simulate(r, variant) for r in half])["overall"]
        for half in (results[0::2], results[1::2])
    ]


def _aggregate_scores(
    results: Sequence[QuestionResult], scores: Sequence[Scores]
) -> dict[str, Any]:
    replaced = [
        QuestionResult(r.question, {"x": s}, r.ranked, r.ingest_seconds, r.search_ms)
        for r, s in zip(results, scores, strict=True)
    ]
    return aggregate(replaced, "x")


def neighbour_context(question: Question) -> dict[str, str]:
    """Turn text -> the turn with the previous and next turns of its session around it."""
    by_session: dict[str, list[Turn]] = {}
    for turn in question.turns:
        by_session.setdefault(turn.session_id, []).append(turn)
    out: dict[str, str] = {}
    for turns in by_session.values():
        for i, turn in enumerate(turns):
            window = turns[max(0, i - 1) : i + 2]
            out.setdefault(turn.content, "\n".join(t.content for t in window))
    return out


def _window_of(windows: dict[str, str], turn: Turn) -> str:
    return windows[turn.content]


class _ContextEmbedder:
    """Embeds a context text as the turn it was made from (the turn's own vector)."""

    def __init__(self, inner: DiskCachedEmbedder) -> None:
        self._inner = inner
        self.original: dict[str, str] = {}

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    async def embed(self, texts: Sequence[str]) -> Floats:
        vectors = await self._inner.embed([self.original.get(t, t) for t in texts])
        return np.asarray(vectors, dtype=np.float32)

    async def aclose(self) -> None:
        return None


async def _each_question(
    questions: Sequence[Question],
    label: str,
    evaluate: Callable[[Question, Path], Awaitable[QuestionResult]],
) -> list[QuestionResult]:
    """``evaluate(question, scratch folder)`` for each question, in order, with progress."""
    results = []
    progress = Progress(label, len(questions))
    with tempfile.TemporaryDirectory(prefix="headroom-lme-") as tmp:
        for question in questions:
            results.append(await evaluate(question, Path(tmp)))
            progress.advance()
    progress.done()
    return results


async def _context_run(
    questions: Sequence[Question], embedder: DiskCachedEmbedder
) -> list[QuestionResult]:
    context = _ContextEmbedder(embedder)
    modes = [m for m in MODES if m.name != "vector-only"]

    async def one(question: Question, tmp: Path) -> QuestionResult:
        windows = neighbour_context(question)
        context.original = {v: k for k, v in windows.items()}
        return await evaluate_question(
            question, context, tmp, modes, content=partial(_window_of, windows)
        )

    return await _each_question(questions, "LongMemEval, neighbour-context experiment", one)


def previous_turns(question: Question) -> dict[tuple[str, int], str]:
    """(session id, turn index) -> the text of the turn before it in its session."""
    out: dict[tuple[str, int], str] = {}
    last: Turn | None = None
    for turn in question.turns:
        if last is not None and last.session_id == turn.session_id:
            out[(turn.session_id, turn.index)] = last.content
        last = turn
    return out


def _source_of(before: dict[tuple[str, int], str], turn: Turn) -> str | None:
    return before.get((turn.session_id, turn.index))


async def _source_run(
    questions: Sequence[Question], embedder: DiskCachedEmbedder
) -> list[QuestionResult]:
    modes = [m for m in MODES if m.name != "vector-only"]

    async def one(question: Question, tmp: Path) -> QuestionResult:
        before = previous_turns(question)
        return await evaluate_question(
            question, embedder, tmp, modes, source=partial(_source_of, before)
        )

    return await _each_question(questions, "LongMemEval, the turn before as its source", one)


async def _source_rows(
    questions: Sequence[Question],
    results: Sequence[QuestionResult],
    embedder: DiskCachedEmbedder,
) -> list[dict[str, Any]]:
    wanted = {q.id for q in load_questions(limit=SOURCE_QUESTIONS)}
    subset = [q for q in questions if q.id in wanted]
    plain = [r for r in results if r.question.id in wanted]
    sourced = await _source_run(subset, embedder)
    rows = []
    for name, rows_of, mode in (
        (f"engine defaults, the same {len(subset)} questions", plain, "hybrid"),
        (f"the turn before as its source, text-only ({len(subset)} q)", sourced, "text-only"),
        (f"the turn before as its source, hybrid ({len(subset)} q)", sourced, "hybrid"),
    ):
        by_type = aggregate(rows_of, mode)
        rows.append(
            {
                "name": name,
                "note": "each turn stored with the turn before it (same session) as its "
                "source; a type-stratified subset"
                if rows_of is sourced
                else "the plain turns, for comparison on the subset",
                "overall": by_type["overall"],
                "by_type": by_type,
                "halves": [aggregate(h, mode)["overall"] for h in (rows_of[0::2], rows_of[1::2])],
            }
        )
    return rows


async def run_experiments(
    questions: Sequence[Question],
    results: Sequence[QuestionResult],
    embedder: DiskCachedEmbedder,
) -> list[dict[str, Any]]:
    """The alternatives, each with its overall and per-type metrics."""
    out: list[dict[str, Any]] = []
    variants = _variants()
    replayed = [simulate(r, variants[0]) for r in results]
    agree = sum(s == r.scores["hybrid"] for s, r in zip(replayed, results, strict=True))
    for variant in variants:
        scores = [simulate(r, variant) for r in results]
        by_type = _aggregate_scores(results, scores)
        out.append(
            {
                "name": variant.name,
                "note": variant.note
                + (
                    f"; matches the engine on {agree}/{len(results)} questions"
                    if variant is variants[0]
                    else ""
                ),
                "overall": by_type["overall"],
                "by_type": by_type,
                "halves": _halves(results, variant),
            }
        )
    union = {depth: _ceiling(results, depth) for depth in (3, 5, 10)}
    out.append(
        {
            "name": "union of both lists' first turns (no fusion)",
            "note": "turn recall_any of the union of the vector and keyword lists' first d "
            "turns: "
            + ", ".join(f"d={d} (<= {2 * d} turns): {v:.3f}" for d, v in union.items())
            + "; bounds what fusing these two lists can reach",
            "overall": {"questions": len(results)},
            "union": union,
        }
    )
    context = await _context_run(questions, embedder)
    for mode in ("text-only", "hybrid"):
        by_type = aggregate(context, mode)
        out.append(
            {
                "name": f"neighbour turns as keyword context, {mode}",
                "note": "FTS indexes turn +-1 of its session; vector of the turn alone "
                "(engine defaults otherwise)",
                "overall": by_type["overall"],
                "by_type": by_type,
            }
        )
    # The best of the fusion sweep over the context rankings, if context helps the text list.
    for variant in variants[1:8]:
        merged = [
            QuestionResult(
                c.question,
                c.scores,
                {"vector-only": r.ranked["vector-only"], "text-only": c.ranked["text-only"]},
                c.ingest_seconds,
                c.search_ms,
            )
            for r, c in zip(results, context, strict=True)
        ]
        by_type = _aggregate_scores(merged, [simulate(m, variant) for m in merged])
        out.append(
            {
                "name": f"context + {variant.name}",
                "note": "neighbour-context keyword list fused with the plain vector list; "
                + variant.note,
                "overall": by_type["overall"],
                "by_type": by_type,
            }
        )
    out += await _source_rows(questions, results, embedder)
    return out
