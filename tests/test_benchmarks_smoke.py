"""The benchmark harness, run tiny (N = 200), so it cannot rot. No timing is asserted.

The latency suite runs for real (bundled ONNX model, real databases, the RSS probe process);
the LongMemEval code runs on a small made-up data set with the hashing embedder.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.embedding_cache import DiskCachedEmbedder, EmbeddingStore, LookupEmbedder
from benchmarks.latency import LatencyParams, run_latency
from benchmarks.lme_data import load_questions, score, session_order
from benchmarks.lme_experiments import neighbour_context, run_experiments
from benchmarks.lme_run import quality_verdicts, summarize_modes
from benchmarks.machine import describe
from benchmarks.quality import MODES, evaluate_questions
from benchmarks.report import render_markdown, write_report
from benchmarks.targets import TARGETS, evaluate
from headroom.memory import MemoryConfig
from headroom.storage.sqlite.vector_plan import DEFAULT_EXACT_THRESHOLD
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.anyio

TINY = LatencyParams(
    sizes=(100, 200),
    search_reps=3,
    store_reps=2,
    warmup=1,
    reopen_reps=1,
    bulk_count=20,
    million=300,
    million_reps=3,
)


def _session(topic: str, evidence: bool) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"I have a question about {topic} and my plans."},
        {
            "role": "assistant",
            "content": f"Happy to help with {topic}.",
            **({"has_answer": True} if evidence else {}),
        },
        {"role": "user", "content": f"Thanks, {topic} matters to me a lot."},
    ]


def _write_dataset(path: Path) -> None:
    topics = ["gardening", "the marathon", "my dog Rex", "tax returns", "a trip to Kyoto"]
    items = []
    for q, (question, answer) in enumerate(
        [("What is my dog called?", 2), ("Where is my trip going?", 4), ("Anything?", 0)]
    ):
        items.append(
            {
                "question_id": f"q{q}" + ("_abs" if q == 2 else ""),
                "question_type": ["single-session-user", "multi-session", "temporal-reasoning"][q],
                "question": question,
                "answer": "x",
                "question_date": "2023/05/30 (Tue) 10:00",
                "haystack_session_ids": [f"s{q}-{i}" for i in range(len(topics))],
                "haystack_dates": [f"2023/05/{20 + i} (Sat) 10:00" for i in range(len(topics))],
                "haystack_sessions": [_session(t, i == answer) for i, t in enumerate(topics)],
                "answer_session_ids": [f"s{q}-{answer}"],
            }
        )
    with gzip.open(path, "wt", encoding="utf-8") as file:
        json.dump(items, file)


async def test_latency_suite_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_BENCH_CACHE", str(tmp_path / "cache"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    measurements = await run_latency(TINY, workdir)
    ops = {m.op for m in measurements}
    assert {
        "injection",
        "injection_wrapper",
        "cache_hit",
        "store_embedded",
        "store_lookup",
        "search_vector_only",
        "search_text_only",
        "reopen",
        "rss",
        "bulk_ingest",
        "injection_1m",
    } <= ops
    assert all(m.summary is not None or m.value is not None for m in measurements)
    verdicts = evaluate(TARGETS, measurements)
    assert len(verdicts) == len(TARGETS)
    assert all(v.measured is not None for v in verdicts)
    report = {
        "command": "smoke",
        "mode": "smoke",
        "duration_s": 1.0,
        "machine": describe(),
        "parameters": {},
        "latency": [m.as_dict() for m in measurements],
        "targets": [v.as_dict() for v in verdicts],
    }
    path = write_report(report, tmp_path / "results", "smoke")
    text = path.read_text()
    assert "## Targets\n" in text
    assert json.loads(path.with_suffix(".json").read_text())["mode"] == "smoke"


async def test_longmemeval_code_paths(tmp_path: Path) -> None:
    data = tmp_path / "lme.json.gz"
    _write_dataset(data)
    questions = load_questions(data)
    assert [q.id for q in questions] == ["q0", "q1"]  # the abstention question is skipped
    assert load_questions(data, limit=1)[0].id == "q0"
    store = EmbeddingStore(tmp_path / "vectors.sqlite", 64)
    embedder = DiskCachedEmbedder(HashingEmbedder(64, model_name="hashing"), store)
    results = await evaluate_questions(questions, embedder)
    assert set(results[0].scores) == {m.name for m in MODES}
    modes = summarize_modes(results)
    assert modes["text-only"]["by_type"]["overall"]["questions"] == 2
    experiments = await run_experiments(questions, results, embedder)
    assert experiments[0]["note"].endswith("matches the engine on 2/2 questions")
    assert embedder.hits > 0
    quality = {
        "questions": 2,
        "turns": 30,
        "seconds": 1.0,
        "hybrid_settings": {},
        "modes": modes,
        "experiments": experiments,
    }
    report = {
        "command": "smoke",
        "mode": "smoke",
        "duration_s": 1.0,
        "machine": describe(),
        "parameters": {},
        "latency": [],
        "targets": [],
        "quality": quality,
    }
    report["targets"] = quality_verdicts(quality)
    text = render_markdown(report)
    assert "### Alternatives measured" in text
    assert "turn-level recall_any@5" in text
    await embedder.aclose()


def test_metrics_follow_the_readme(tmp_path: Path) -> None:
    data = tmp_path / "lme.json.gz"
    _write_dataset(data)
    question = load_questions(data)[0]
    evidence = [t for t in question.turns if t.has_answer]
    others = [t for t in question.turns if not t.has_answer]
    ranked = others[:6] + evidence
    scores = score(question, ranked)
    assert scores.turn_any_at_5 == 0.0
    assert scores.turn_any_at_10 == 1.0
    assert session_order(ranked)[:2] == [others[0].session_id, others[3].session_id]
    assert scores.session_any_at_5 == 1.0  # the evidence session is the 3rd distinct one
    assert scores.session_all_at_5 == 1.0
    assert neighbour_context(question)[question.turns[1].content].count("\n") == 2


def test_config_exact_threshold_is_the_index_default() -> None:
    # The benchmarks chose it (docs/performance.md); the two constants must not drift apart.
    assert MemoryConfig().exact_search_threshold == DEFAULT_EXACT_THRESHOLD


async def test_lookup_embedder_refuses_unknown_text() -> None:
    lookup = LookupEmbedder({}, model_name="m", dimension=4)
    with pytest.raises(KeyError):
        await lookup.embed(["unknown"])


def test_follow_cost_runs_and_renders() -> None:
    from benchmarks.follow_cost import render, run_follow_cost

    results = run_follow_cost(base=300, quiet_reps=20, rounds=1)
    assert results["quiet_check_ms"]["count"] == 20
    assert results["catch_up_1000_ms"]["count"] == 1
    assert any("catch up after 1,000" in line for line in render(results))


def test_bulk_ingest_runs_and_renders() -> None:
    from benchmarks.bulk_ingest import render, run_bulk_ingest

    results = run_bulk_ingest(4_500)  # the harness, not the timings
    one = results["one_call"]
    assert one["memories"] == 2_500 and one["progress_reports"] == 5  # steps of 512
    assert one["search_ms"]["count"] >= 1 and one["loop_lag_ms"]["count"] >= 1
    assert any("one add_many of all of them" in line for line in render(results))


async def test_loop_stall_runs_every_case_small() -> None:
    from benchmarks.loop_stall import run_loop_stall

    rows = await run_loop_stall(0.001)  # the cases, not the timings
    assert [row["case"].split()[0] for row in rows] == [
        "add_many",
        "add_many",
        "add_many",
        "50",
        "import_memories",
    ]


def test_instruction_filter_benchmark_reads_its_case_sets() -> None:
    from benchmarks.instruction_filter import case_set

    assert len(case_set("ordinary_memories.txt")) >= 300
    assert len(case_set("instruction_memories.txt")) >= 60


async def test_backends_side_by_side_run_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks.backends import BACKEND_TARGETS, BACKENDS, BackendParams, run_backends

    monkeypatch.setenv("HEADROOM_BENCH_CACHE", str(tmp_path / "cache"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    tiny = BackendParams(sizes=(100, 200), search_reps=3, store_reps=2, warmup=1)
    measurements = await run_backends(tiny, workdir)
    seen = {(m.op, m.layout, m.n) for m in measurements}
    for layout in ("one-user", "1000-users"):
        for backend in BACKENDS:
            for n in tiny.sizes:
                for op in ("backend_ingest", "backend_injection", "backend_store_embedded"):
                    assert (op, f"{layout}/{backend}", n) in seen
    assert all(m.summary is not None or m.value is not None for m in measurements)
    verdicts = evaluate(BACKEND_TARGETS, measurements)
    assert all(v.measured is not None for v in verdicts)
    report = {
        "command": "smoke",
        "mode": "smoke",
        "duration_s": 1.0,
        "machine": describe(),
        "parameters": {},
        "latency": [m.as_dict() for m in measurements],
        "targets": [v.as_dict() for v in verdicts],
    }
    text = write_report(report, tmp_path / "results", "smoke").read_text()
    assert "postgres" in text and "sqlite" in text
