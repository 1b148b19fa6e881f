"""One engine through the peer workload; prints one JSON object. Runs in the peers' venv.

    python -m benchmarks.peers.worker ENGINE [--adds 1000] [--queries 200] [--questions 12]

Workload (identical for every engine, one local embedder for all):

* ``add``: ``--adds`` synthetic memories stored one at a time for one user (embedding included);
* ``add_batch``: as many more in batches of 250 (mem0 has no batch call: one at a time);
* ``search``: ``--queries`` distinct questions, top 10 (embedding included);
* recall: a stratified slice of the LongMemEval development set, one fresh store per question,
  turns added in batches, the question searched for the top 10 and top 50 (turn embeddings from
  the benchmarks' on-disk cache, as in the main report).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.corpus import memory_texts, query_texts
from benchmarks.embedding_cache import DiskCachedEmbedder, EmbeddingStore
from benchmarks.lme_data import Question, Scores, Turn, load_questions, score
from benchmarks.peers.engines import Engine, Portal, open_engine
from benchmarks.stats import summarize
from headroom.embedders.base import Embedder
from headroom.embedders.onnx import OnnxEmbedder

__all__ = ["main"]

USER = "peer-user"


def _timed(call: Any, *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def _workload(engine: Engine, adds: int, queries: int) -> dict[str, Any]:
    texts = list(memory_texts(0, 2 * adds, seed=5))
    single = [_timed(engine.add, t, USER, {"i": i}) for i, t in enumerate(texts[:adds])]
    started = time.perf_counter()
    rest = texts[adds:]
    for start in range(0, len(rest), 250):
        chunk = rest[start : start + 250]
        engine.add_batch(chunk, USER, [{"i": adds + start + j} for j in range(len(chunk))])
    batch_rate = len(rest) / (time.perf_counter() - started)
    asked = query_texts(queries + 5, seed=6)
    for q in asked[:5]:  # warm-up
        engine.search(q, USER, 10)
    searches = [_timed(engine.search, q, USER, 10) for q in asked[5:]]
    return {
        "add_ms": summarize(single).as_dict(),
        "add_batch_per_s": round(batch_rate, 1),
        "search_ms": summarize(searches).as_dict(),
        "memories": 2 * adds,
    }


def _turns(question: Question, found: Sequence[dict[str, Any]]) -> list[Turn]:
    by_key = {(t.session_id, t.index): t for t in question.turns}
    return [by_key[(str(m["session_id"]), int(m["turn"]))] for m in found]


def _recall(
    name: str, embedder: Embedder, portal: Portal, questions: Sequence[Question]
) -> dict[str, Any]:
    totals: dict[str, list[float]] = {}
    started = time.perf_counter()
    for question in questions:
        folder = Path(tempfile.mkdtemp(prefix=f"peer-{name}-lme-"))
        engine = open_engine(name, embedder, portal, folder)
        try:
            turns = list(question.turns)
            for start in range(0, len(turns), 500):
                chunk = turns[start : start + 500]
                engine.add_batch(
                    [t.content for t in chunk],
                    USER,
                    [{"session_id": t.session_id, "turn": t.index} for t in chunk],
                )
            top = score(question, _turns(question, engine.search(question.question, USER, 10)))
            deep = score(question, _turns(question, engine.search(question.question, USER, 50)))
        finally:
            engine.close()
            shutil.rmtree(folder, ignore_errors=True)
        scores = Scores(
            top.turn_any_at_5, top.turn_any_at_10, deep.session_any_at_5, deep.session_all_at_5
        )
        for metric in Scores.__dataclass_fields__:
            value = getattr(scores, metric)
            if value is not None:
                totals.setdefault(metric, []).append(value)
    out: dict[str, Any] = {k: round(sum(v) / len(v), 4) for k, v in totals.items()}
    out["questions"] = len(questions)
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def run(name: str, adds: int, queries: int, questions: int) -> dict[str, Any]:
    portal = Portal()
    try:
        onnx: OnnxEmbedder = portal.call(OnnxEmbedder.create)
        store = EmbeddingStore.for_model(onnx.model_name, onnx.dimension)
        cached = DiskCachedEmbedder(onnx, store)
        engine = open_engine(name, onnx, portal)
        try:
            result = {"engine": name, **_workload(engine, adds, queries)}
        finally:
            engine.close()
        if questions:
            result["recall"] = _recall(name, cached, portal, load_questions(limit=questions))
        portal.call(onnx.aclose)
        store.close()
        return result
    finally:
        portal.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.worker")
    parser.add_argument("engine")
    parser.add_argument("--adds", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--questions", type=int, default=12)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.engine, args.adds, args.queries, args.questions)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
