"""One engine through the peer workload; prints one JSON object. Runs in the peers' venv.

    python -m benchmarks.peers.worker ENGINE [--sizes 1000 10000 100000] [--adds 100]
        [--queries 200] [--questions 12]

Workload (identical for every engine, one local embedder for all), at each size in turn:

* fill: the store grows to the size with the benchmarks' synthetic corpus, in batches of
  1,000, its vectors precomputed (the on-disk cache of the main report), so filling measures
  the store, not the model; then the process waits until it is idle (an engine's background
  indexing of the batch done), so what follows is timed on a settled store. mem0 has no
  batch call, and one ``add`` saves its whole FAISS index and document store to disk (a 100k
  fill would take days): it is filled through its own vector store's batch ``insert``, with
  the payloads its ``add`` writes;
* ``add``: ``--adds`` new memories stored one at a time through the public API (the real model
  embeds each);
* ``search``: ``--queries`` never-seen questions, top 10 (the real model embeds each).

Then recall: a stratified slice of the LongMemEval development set, one fresh store per
question, turns added in batches, the question searched for the top 10 and top 50 (turn
embeddings from the benchmarks' on-disk cache, as in the main report).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.corpus import memory_texts, query_texts
from benchmarks.embedding_cache import DiskCachedEmbedder, EmbeddingStore, LookupEmbedder
from benchmarks.fixtures import Corpus, real_corpus, settle
from benchmarks.lme_data import Question, Scores, Turn, load_questions, score
from benchmarks.peers.engines import Engine, Portal, open_engine
from benchmarks.stats import summarize
from headroom.embedders.base import Embedder
from headroom.embedders.onnx import OnnxEmbedder

__all__ = ["main"]

USER = "peer-user"
_FILL_BATCH = 1000


def _timed(call: Any, *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def _at_size(
    engine: Engine,
    portal: Portal,
    lookup: LookupEmbedder,
    corpus: Corpus,
    start: int,
    size: int,
    adds: int,
    queries: int,
) -> dict[str, Any]:
    """Fill the store from ``start`` to ``size`` corpus memories, then time adds and searches."""
    started = time.perf_counter()
    for first in range(start, size, _FILL_BATCH):
        texts = corpus.texts[first : min(size, first + _FILL_BATCH)]
        lookup.replace(dict(zip(texts, corpus.vectors[first : first + len(texts)], strict=True)))
        engine.fill(texts, USER, [{"i": first + j} for j in range(len(texts))])
    fill_s = time.perf_counter() - started
    lookup.replace({})  # from here on every text goes through the real model
    settled_s: float = portal.call(settle)
    known = set(corpus.texts)
    fresh = [t for t in memory_texts(0, 2 * adds, seed=5 + size) if t not in known][:adds]
    single = [_timed(engine.add, t, USER, {"i": -1 - i}) for i, t in enumerate(fresh)]
    asked = query_texts(queries + 5, seed=6 + size)
    for q in asked[:5]:  # warm-up
        engine.search(q, USER, 10)
    searches = [_timed(engine.search, q, USER, 10) for q in asked[5:]]
    return {
        "memories": size,
        "fill_s": round(fill_s, 1),
        "fill_per_s": round((size - start) / fill_s, 1) if size > start else None,
        "settled_s": round(settled_s, 1),
        "add_ms": summarize(single).as_dict(),
        "search_ms": summarize(searches).as_dict(),
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


def run(name: str, sizes: Sequence[int], adds: int, queries: int, questions: int) -> dict[str, Any]:
    portal = Portal()
    try:
        onnx: OnnxEmbedder = portal.call(partial(OnnxEmbedder.create, threads=1))
        corpus: Corpus = portal.call(real_corpus, max(sizes), onnx)
        lookup = LookupEmbedder(
            {}, model_name=onnx.model_name, dimension=onnx.dimension, fallback=onnx
        )
        engine = open_engine(name, lookup, portal)
        result: dict[str, Any] = {"engine": name, "sizes": []}
        try:
            filled = 0
            for size in sorted(sizes):
                step = _at_size(engine, portal, lookup, corpus, filled, size, adds, queries)
                result["sizes"].append(step)
                filled = size
        finally:
            engine.close()
        if questions:
            store = EmbeddingStore.for_model(onnx.model_name, onnx.dimension)
            cached = DiskCachedEmbedder(onnx, store)
            result["recall"] = _recall(name, cached, portal, load_questions(limit=questions))
            store.close()
        portal.call(onnx.aclose)
        return result
    finally:
        portal.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.worker")
    parser.add_argument("engine")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--adds", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--questions", type=int, default=12)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.engine, args.sizes, args.adds, args.queries, args.questions)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
