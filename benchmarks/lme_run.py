"""The LongMemEval part of the report: the three modes, their aggregates and timings."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from benchmarks.embedding_cache import DiskCachedEmbedder, EmbeddingStore
from benchmarks.lme_data import Question
from benchmarks.quality import MODES, QuestionResult, aggregate, evaluate_questions
from benchmarks.stats import summarize
from headroom.embedders.onnx import OnnxEmbedder
from headroom.memory import MemoryConfig

__all__ = ["cached_embedder", "quality_verdicts", "run_quality", "summarize_modes"]

QUALITY_TARGETS = (
    ("turn_any_at_5", "LongMemEval hybrid: turn-level recall_any@5", 0.95),
    ("session_all_at_5", "LongMemEval hybrid: session-level recall_all@5", 0.95),
)


def quality_verdicts(quality: dict[str, Any]) -> list[dict[str, Any]]:
    """The LongMemEval retrieval targets, in the shape of the latency verdicts."""
    overall = quality["modes"]["hybrid"]["by_type"]["overall"]
    out = []
    for metric, description, bound in QUALITY_TARGETS:
        value = overall[metric]
        out.append(
            {
                "operation": description,
                "op": f"longmemeval_{metric}",
                "target": f">= {bound:g}",
                "target_n": None,
                "layout": None,
                "measured": value,
                "measured_at_n": None,
                "unit": "",
                "met": None if value is None else bool(value >= bound),
                "note": f"{quality['questions']} questions; {value:.3f} exactly"
                if value is not None
                else "",
            }
        )
    return out


async def cached_embedder() -> tuple[DiskCachedEmbedder, OnnxEmbedder]:
    """The bundled model behind the on-disk cache of LongMemEval embeddings."""
    onnx = await OnnxEmbedder.create(threads=1)
    store = EmbeddingStore.for_model(onnx.model_name, onnx.dimension)
    return DiskCachedEmbedder(onnx, store), onnx


def summarize_modes(results: Sequence[QuestionResult]) -> dict[str, Any]:
    modes: dict[str, Any] = {}
    for mode in MODES:
        searches = [r.search_ms[mode.name] for r in results]
        modes[mode.name] = {
            "settings": mode.settings,
            "by_type": aggregate(results, mode.name),
            "search_ms_p50": round(summarize(searches).p50, 3),
            "ingest_s_mean": round(sum(r.ingest_seconds for r in results) / len(results), 3),
        }
    return modes


async def run_quality(questions: Sequence[Question], *, experiments: bool) -> dict[str, Any]:
    """Every mode on every question; with ``experiments``, the alternatives too."""
    started = time.perf_counter()
    embedder, onnx = await cached_embedder()
    try:
        results = await evaluate_questions(questions, embedder)
        defaults = MemoryConfig()
        report: dict[str, Any] = {
            "questions": len(questions),
            "turns": sum(len(q.turns) for q in questions),
            "hybrid_settings": {
                "vector_weight": defaults.vector_weight,
                "text_weight": defaults.text_weight,
            },
            "modes": summarize_modes(results),
            "embeddings": {"cache_hits": embedder.hits, "embedded_now": embedder.misses},
        }
        if experiments:
            from benchmarks.lme_experiments import run_experiments

            report["experiments"] = await run_experiments(questions, results, embedder)
    finally:
        await embedder.aclose()
        await onnx.aclose()
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
