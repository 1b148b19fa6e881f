"""The LoCoMo development conversations: loading, and the retrieval metrics. Pure but for loading.

``../shared/data/README.md`` defines the two settings. One user per conversation:

* **facts**: every observation (a short third-person fact extracted from the dialogue, the
  closest thing to what a model writes in a ``<memory>`` block) is a memory; a question's
  relevant facts are those citing one of its evidence turns. ``any@5``: a relevant fact is
  among the first 5; ``R@5``: the share of the relevant facts that are.
* **turns**: every dialogue turn ``"<speaker>: <text>"`` is a memory; ``R@k``: the share of the
  question's evidence turns among the first k (LoCoMo's own recall).

Adversarial questions (category 5) have no answer in the conversation and are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchmarks.lme_data import data_dir

__all__ = [
    "CATEGORY_NAMES",
    "DATA_FILE",
    "Conversation",
    "Fact",
    "LocomoQuestion",
    "Turn",
    "fact_scores",
    "load_conversations",
    "turn_recall",
]

DATA_FILE = data_dir() / "locomo_dev.json"

CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
"""LoCoMo's question categories (5, adversarial, is skipped)."""

_DIA_ID = re.compile(r"D\d+:\d+")
_DATE_FORMAT = "%I:%M %p on %d %B, %Y"


@dataclass(frozen=True, slots=True)
class Turn:
    dia_id: str
    session: int
    speaker: str
    text: str
    date: datetime
    caption: str | None = None
    """The caption of the photo the turn shares, if it shares one."""

    @property
    def content(self) -> str:
        """The memory of the turn setting: ``"<speaker>: <text>"``."""
        return f"{self.speaker}: {self.text}"


@dataclass(frozen=True, slots=True)
class Fact:
    index: int
    session: int
    speaker: str
    text: str
    evidence: frozenset[str]
    date: datetime


@dataclass(frozen=True, slots=True)
class LocomoQuestion:
    question: str
    category: int
    evidence: frozenset[str]

    @property
    def kind(self) -> str:
        return CATEGORY_NAMES[self.category]


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    speakers: tuple[str, str]
    turns: tuple[Turn, ...]
    facts: tuple[Fact, ...]
    questions: tuple[LocomoQuestion, ...]

    def relevant_facts(self, question: LocomoQuestion) -> frozenset[int]:
        return frozenset(f.index for f in self.facts if f.evidence & question.evidence)

    def evidence_turns(self, question: LocomoQuestion) -> frozenset[str]:
        known = {t.dia_id for t in self.turns}
        return frozenset(e for e in question.evidence if e in known)


def _ids(value: object) -> frozenset[str]:
    if isinstance(value, list):
        return frozenset(i for v in value for i in _DIA_ID.findall(str(v)))
    return frozenset(_DIA_ID.findall(str(value)))


def _date(text: str) -> datetime:
    return datetime.strptime(text.strip(), _DATE_FORMAT)


def _conversation(raw: dict[str, object]) -> Conversation:
    conv = raw["conversation"]
    assert isinstance(conv, dict)
    sessions = sorted(
        int(key.removeprefix("session_"))
        for key, value in conv.items()
        if key.startswith("session_") and isinstance(value, list)
    )
    dates = {n: _date(str(conv[f"session_{n}_date_time"])) for n in sessions}
    turns = tuple(
        Turn(
            str(t["dia_id"]),
            n,
            str(t["speaker"]),
            str(t["text"]),
            dates[n],
            str(t["blip_caption"]) if t.get("blip_caption") else None,
        )
        for n in sessions
        for t in conv[f"session_{n}"]
    )
    facts: list[Fact] = []
    observation = raw["observation"]
    assert isinstance(observation, dict)
    for key in sorted(observation, key=lambda k: int(k.split("_")[1])):
        session = int(key.split("_")[1])
        for speaker, items in observation[key].items():
            for text, evidence in items:
                facts.append(
                    Fact(len(facts), session, speaker, str(text), _ids(evidence), dates[session])
                )
    qa = raw["qa"]
    assert isinstance(qa, list)
    questions = tuple(
        LocomoQuestion(str(q["question"]), int(q["category"]), _ids(q["evidence"]))
        for q in qa
        if int(q["category"]) in CATEGORY_NAMES
    )
    return Conversation(
        id=str(raw["sample_id"]),
        speakers=(str(conv["speaker_a"]), str(conv["speaker_b"])),
        turns=turns,
        facts=tuple(facts),
        questions=questions,
    )


def load_conversations(path: Path = DATA_FILE) -> list[Conversation]:
    """The conversations of the file, in order, without their adversarial questions."""
    with path.open(encoding="utf-8") as file:
        raw = json.load(file)
    return [_conversation(item) for item in raw]


def fact_scores(relevant: frozenset[int], ranked: Sequence[int], k: int = 5) -> tuple[float, float]:
    """``(any@k, R@k)`` of ranked fact indexes; ``relevant`` must not be empty."""
    found = len(relevant & set(ranked[:k]))
    return (1.0 if found else 0.0), found / len(relevant)


def turn_recall(evidence: frozenset[str], ranked: Sequence[str], k: int) -> float:
    """The share of ``evidence`` turns among the first ``k`` ranked; not empty."""
    return len(evidence & set(ranked[:k])) / len(evidence)
