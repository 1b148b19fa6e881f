"""LongMemEval retrieval quality through the public API, per search mode.

For each question: a fresh database for one user, every turn of every haystack session added as
a memory (``add_many``; metadata: session id, date, turn index), then one search per mode with
the question. ``top_k=10`` scores the turn metrics; a deeper search (``top_k=50``) is mapped to
sessions in rank order for the session metrics (five distinct sessions need more than five
turns). Turn embeddings come from the on-disk cache (:mod:`benchmarks.embedding_cache`), so the
ingest time reported excludes the model; the question is embedded like any query.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from benchmarks.fixtures import open_memory
from benchmarks.lme_data import Question, Scores, Turn, score
from benchmarks.progress import Progress
from headroom.embedders.base import Embedder
from headroom.memory import HierarchicalMemory, NewMemory, SearchHit

__all__ = [
    "MODES",
    "Mode",
    "QuestionResult",
    "aggregate",
    "evaluate_questions",
    "turn_content",
]

USER = "lme-user"
TURN_K = 10
SESSION_DEPTH = 50
RANKING_DEPTH = 200
"""How deep the single-list modes' rankings are kept, for the fusion experiments."""
_BATCH = 1000
MAX_CHARS = 500_000


@dataclass(frozen=True, slots=True)
class Mode:
    name: str
    settings: dict[str, object] = field(default_factory=dict)


MODES = (
    Mode("vector-only", {"text_weight": 0.0}),
    Mode("text-only", {"vector_weight": 0.0}),
    Mode("hybrid"),
)
"""Hybrid takes the engine's defaults (``MemoryConfig``'s weights)."""


@dataclass(frozen=True, slots=True)
class QuestionResult:
    question: Question
    scores: dict[str, Scores]
    ranked: dict[str, list[Turn]]
    """Per mode, the deepest ranking searched (``RANKING_DEPTH`` for single-list modes)."""
    ingest_seconds: float
    search_ms: dict[str, float]


def turn_content(turn: Turn) -> str:
    """A turn's memory content: its text as spoken (the plain default)."""
    return turn.content


TurnSource = Callable[[Turn], "str | None"]
"""A turn's memory source (:attr:`headroom.memory.Memory.source`), or None."""


def _turn_of(hit: SearchHit, by_key: dict[tuple[str, int], Turn]) -> Turn:
    meta = hit.memory.metadata
    return by_key[(str(meta["session_id"]), int(meta["turn"]))]


def _remove_files(workdir: Path, stem: str) -> None:
    for leftover in workdir.glob(f"{stem}.db*"):
        leftover.unlink()


def _single_list(mode: Mode) -> bool:
    return any(mode.settings.get(w) == 0 for w in ("vector_weight", "text_weight"))


async def _ingest(
    memory: HierarchicalMemory,
    question: Question,
    content: Callable[[Turn], str],
    source: TurnSource | None,
) -> None:
    items = [
        NewMemory(
            content=content(t),
            source=None if source is None else source(t),
            user_id=USER,
            metadata={"session_id": t.session_id, "date": t.date, "turn": t.index},
        )
        for t in question.turns
    ]
    for start in range(0, len(items), _BATCH):
        await memory.add_many(items[start : start + _BATCH])


async def evaluate_question(
    question: Question,
    embedder: Embedder,
    workdir: Path,
    modes: Sequence[Mode],
    *,
    content: Callable[[Turn], str] = turn_content,
    source: TurnSource | None = None,
    base: dict[str, object] | None = None,
) -> QuestionResult:
    by_key = {(t.session_id, t.index): t for t in question.turns}
    path = workdir / f"{question.id}.db"
    # A few LongMemEval turns are longer than the default 20,000-character limit for memories.
    settings = {"max_content_chars": MAX_CHARS, **(base or {})}
    memory = await open_memory(path, embedder, **settings)
    try:
        started = time.perf_counter()
        await _ingest(memory, question, content, source)
        ingest = time.perf_counter() - started
    finally:
        await memory.aclose()
    scores: dict[str, Scores] = {}
    ranked: dict[str, list[Turn]] = {}
    search_ms: dict[str, float] = {}
    for mode in modes:
        memory = await open_memory(path, embedder, **{**settings, **mode.settings})
        try:
            started = time.perf_counter()
            top = await memory.search(question.question, user_id=USER, top_k=TURN_K)
            search_ms[mode.name] = (time.perf_counter() - started) * 1000
            deep = await memory.search(question.question, user_id=USER, top_k=SESSION_DEPTH)
            if _single_list(mode):
                # One list: a deeper search only extends the ranking (same order, more of it).
                deeper = await memory.search(question.question, user_id=USER, top_k=RANKING_DEPTH)
                ranked[mode.name] = [_turn_of(h, by_key) for h in deeper]
            else:
                ranked[mode.name] = [_turn_of(h, by_key) for h in deep]
        finally:
            await memory.aclose()
        turns = [_turn_of(h, by_key) for h in top]
        deep_turns = [_turn_of(h, by_key) for h in deep]
        at_turn = score(question, turns)
        at_session = score(question, deep_turns)
        scores[mode.name] = Scores(
            turn_any_at_5=at_turn.turn_any_at_5,
            turn_any_at_10=at_turn.turn_any_at_10,
            session_any_at_5=at_session.session_any_at_5,
            session_all_at_5=at_session.session_all_at_5,
        )
    await anyio.to_thread.run_sync(_remove_files, workdir, question.id)
    return QuestionResult(question, scores, ranked, ingest, search_ms)


async def evaluate_questions(
    questions: Sequence[Question],
    embedder: Embedder,
    modes: Sequence[Mode] = MODES,
    *,
    content: Callable[[Turn], str] = turn_content,
    base: dict[str, object] | None = None,
    label: str = "LongMemEval",
) -> list[QuestionResult]:
    results = []
    progress = Progress(label, len(questions))
    with tempfile.TemporaryDirectory(prefix="headroom-lme-") as tmp:
        for question in questions:
            results.append(
                await evaluate_question(
                    question, embedder, Path(tmp), modes, content=content, base=base
                )
            )
            progress.advance()
    progress.done()
    return results


_METRICS = ("turn_any_at_5", "turn_any_at_10", "session_any_at_5", "session_all_at_5")


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def aggregate(results: Sequence[QuestionResult], mode: str) -> dict[str, Any]:
    """Per question type and overall: the mean of each metric, and how many questions."""
    groups: dict[str, list[QuestionResult]] = {"overall": list(results)}
    for r in results:
        groups.setdefault(r.question.type, []).append(r)
    out: dict[str, Any] = {}
    for name, members in groups.items():
        row: dict[str, Any] = {"questions": len(members)}
        for metric in _METRICS:
            row[metric] = _mean([getattr(r.scores[mode], metric) for r in members])
        out[name] = row
    return out
