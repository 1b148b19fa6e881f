"""The LongMemEval development slice: loading, and the retrieval metrics. Pure but for loading.

``../shared/data/README.md`` defines the metrics: for each non-abstention question, the
retrieved turns are scored at turn level (is any of the first k an evidence turn) and, mapped to
their sessions in rank order and de-duplicated, at session level (are any / all evidence
sessions among the first k sessions).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATA_FILE",
    "data_dir",
    "Question",
    "Scores",
    "Turn",
    "load_questions",
    "score",
    "session_order",
]


def data_dir() -> Path:
    """The development sets: ``$HEADROOM_DATA`` if set, else the first ``shared/data`` found
    beside the checkout or above it (``/work/main`` and ``/work/wt/<name>`` both find it)."""
    override = os.environ.get("HEADROOM_DATA")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for parent in here.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return here.parents[1] / "shared" / "data"


DATA_FILE = data_dir() / "longmemeval_s_dev.json.gz"


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a haystack session: a memory of the benchmark."""

    session_id: str
    date: str
    index: int
    role: str
    content: str
    has_answer: bool


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    type: str
    question: str
    date: str
    answer_session_ids: frozenset[str]
    turns: tuple[Turn, ...]

    @property
    def has_evidence_turns(self) -> bool:
        return any(t.has_answer for t in self.turns)


def load_questions(path: Path = DATA_FILE, *, limit: int | None = None) -> list[Question]:
    """The non-abstention questions, in file order; ``limit`` keeps a type-stratified slice."""
    with gzip.open(path, "rt", encoding="utf-8") as file:
        raw = json.load(file)
    questions = [_question(item) for item in raw if not str(item["question_id"]).endswith("_abs")]
    if limit is not None and limit < len(questions):
        questions = _stratified(questions, limit)
    return questions


def _question(item: dict[str, object]) -> Question:
    turns: list[Turn] = []
    sessions = item["haystack_sessions"]
    ids = item["haystack_session_ids"]
    dates = item["haystack_dates"]
    assert isinstance(sessions, list) and isinstance(ids, list) and isinstance(dates, list)
    for session, session_id, date in zip(sessions, ids, dates, strict=True):
        for index, turn in enumerate(session):
            content = str(turn["content"])
            if not content.strip():
                continue
            turns.append(
                Turn(
                    session_id=str(session_id),
                    date=str(date),
                    index=index,
                    role=str(turn["role"]),
                    content=content,
                    has_answer=bool(turn.get("has_answer", False)),
                )
            )
    answers = item["answer_session_ids"]
    assert isinstance(answers, list)
    return Question(
        id=str(item["question_id"]),
        type=str(item["question_type"]),
        question=str(item["question"]),
        date=str(item["question_date"]),
        answer_session_ids=frozenset(str(a) for a in answers),
        turns=tuple(turns),
    )


def _stratified(questions: list[Question], limit: int) -> list[Question]:
    """Round-robin over question types, in file order: every type is represented."""
    by_type: dict[str, list[Question]] = {}
    for q in questions:
        by_type.setdefault(q.type, []).append(q)
    picked: list[Question] = []
    depth = 0
    while len(picked) < limit:
        for group in by_type.values():
            if depth < len(group) and len(picked) < limit:
                picked.append(group[depth])
        depth += 1
    order = {q.id: i for i, q in enumerate(questions)}
    return sorted(picked, key=lambda q: order[q.id])


def session_order(turns: Sequence[Turn]) -> list[str]:
    """The sessions of ranked turns, in rank order, de-duplicated."""
    return list(dict.fromkeys(t.session_id for t in turns))


@dataclass(frozen=True, slots=True)
class Scores:
    """One question's metrics; ``None`` where the metric does not apply."""

    turn_any_at_5: float | None
    turn_any_at_10: float | None
    session_any_at_5: float
    session_all_at_5: float


def score(question: Question, ranked: Sequence[Turn]) -> Scores:
    """The metrics of the README for ``ranked`` (best first, at least 10 when available)."""
    evidence = question.has_evidence_turns

    def turn_any(k: int) -> float | None:
        if not evidence:
            return None
        return 1.0 if any(t.has_answer for t in ranked[:k]) else 0.0

    sessions = set(session_order(ranked)[:5])
    wanted = question.answer_session_ids
    return Scores(
        turn_any_at_5=turn_any(5),
        turn_any_at_10=turn_any(10),
        session_any_at_5=1.0 if sessions & wanted else 0.0,
        session_all_at_5=1.0 if wanted <= sessions else 0.0,
    )
