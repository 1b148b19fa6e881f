"""The retrieval harnesses (injection case set, LoCoMo), run small so they cannot rot.

The hashing embedder stands in for the model: no number is asserted, only that every part
runs, that the replayed defaults are the wrapper's own decisions, and that the report renders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.duplicates import run_duplicates
from benchmarks.injection import run_injection, variants
from benchmarks.injection_cases import PERSONAS, cases
from benchmarks.locomo import mmr, run_locomo
from benchmarks.locomo_data import fact_scores, load_conversations, turn_recall
from benchmarks.machine import describe
from benchmarks.report import render_markdown
from benchmarks.retrieval import retrieval_verdicts
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.anyio


def _turn(dia: str, speaker: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"dia_id": dia, "speaker": speaker, "text": text, **extra}


def _write_locomo(path: Path) -> None:
    conversation = {
        "speaker_a": "Ann",
        "speaker_b": "Bo",
        "session_1": [
            _turn("D1:1", "Ann", "I adopted a cat named Miso"),
            _turn("D1:2", "Bo", "Lovely! Here is my garden", blip_caption="a photo of roses"),
        ],
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_2": [
            _turn("D2:1", "Bo", "I started a pottery class"),
            _turn("D2:2", "Ann", "Miso broke my favourite vase"),
        ],
        "session_2_date_time": "10:00 am on 20 May, 2023",
    }
    observation = {
        "session_1_observation": {
            "Ann": [["Ann adopted a cat named Miso.", "D1:1"]],
            "Bo": [["Bo grows roses in a garden.", ["D1:2"]]],
        },
        "session_2_observation": {
            "Bo": [["Bo takes a pottery class.", "D2:1"]],
            "Ann": [["Ann's cat broke a vase.", "D2:2; D1:1"]],
        },
    }
    qa = [
        {
            "question": "What is Ann's cat called?",
            "answer": "Miso",
            "evidence": ["D1:1"],
            "category": 4,
        },
        {
            "question": "When did Bo start pottery?",
            "answer": "May",
            "evidence": ["D2:1"],
            "category": 2,
        },
        {"question": "What broke?", "answer": "vase", "evidence": ["D2:2", "D1:1"], "category": 1},
        {"question": "Trick?", "answer": "-", "evidence": ["D1:1"], "category": 5},
    ]
    item = {
        "sample_id": "conv-x",
        "conversation": conversation,
        "observation": observation,
        "qa": qa,
    }
    path.write_text(json.dumps([item]), encoding="utf-8")


def test_locomo_loading_and_metrics(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    _write_locomo(path)
    (conversation,) = load_conversations(path)
    assert len(conversation.turns) == 4 and len(conversation.facts) == 4
    assert len(conversation.questions) == 3  # the adversarial question is skipped
    assert conversation.turns[1].caption == "a photo of roses"
    assert conversation.facts[3].evidence == {"D2:2", "D1:1"}
    broke = conversation.questions[2]
    assert conversation.relevant_facts(broke) == {0, 3}
    assert fact_scores(frozenset({0, 3}), [3, 1, 2]) == (1.0, 0.5)
    assert turn_recall(frozenset({"D2:2", "D1:1"}), ["D1:1", "D1:2"], 1) == 0.5


async def test_the_harnesses_run_and_render(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    _write_locomo(path)
    embedder = HashingEmbedder(64, model_name="hashing")
    injection = await run_injection(embedder, PERSONAS[:1])
    assert injection["cases"] == len(cases(PERSONAS[:1]))
    assert injection["defaults_match_the_wrapper"] == f"{injection['cases']}/{injection['cases']}"
    assert [v["name"] for v in injection["variants"]] == [v.name for v in variants()]
    locomo = await run_locomo(embedder, path)
    assert locomo["facts"][0]["by_category"]["overall"]["questions"] == 3
    restated = await run_duplicates(embedder)
    assert restated["rules"][0]["name"] == "wrapper defaults"
    retrieval = {"injection": injection, "locomo": locomo, "duplicates": restated}
    verdicts = retrieval_verdicts(retrieval)
    assert len(verdicts) == 4
    report = {
        "command": "smoke",
        "mode": "smoke",
        "duration_s": 1.0,
        "machine": describe(),
        "parameters": {},
        "latency": [],
        "targets": verdicts,
        "retrieval": retrieval,
    }
    text = render_markdown(report)
    assert "## Injection decision (case set)" in text and "**turns** (R@5 / R@10)" in text
    assert "## Restated memories (pairs)" in text


def test_mmr_prefers_a_different_second_item() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert mmr([3.0, 2.9, 2.0], vectors, 2, weight=0.0) == [0, 1]
    assert mmr([3.0, 2.9, 2.0], vectors, 2, weight=0.5) == [0, 2]


def test_the_case_set_is_as_described() -> None:
    every = cases()
    assert len(every) >= 200
    kinds = {c.kind for c in every}
    assert kinds == {"direct", "paraphrase", "follow-up", "unrelated"}
    categories = {c.category for c in every if c.category}
    assert categories == {"preference", "fact", "context", "entity", "decision", "insight"}
    for persona in PERSONAS:
        contents = [m.content for m in persona.memories]
        assert len(contents) == len(set(contents))
        assert {f.expected for f in persona.follow_ups} <= set(contents)
