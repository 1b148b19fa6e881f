"""The latency suite: every operation of the targets table, at each corpus size and layout.

One memory per layout is filled step by step (1k, then 10k, then 100k memories) with
precomputed embeddings and, once the process is idle (the engine's background merge of the new
vectors into the graph done: searches during one are the bulk-ingest report's), measured at
each step:

* ``injection``: ``search`` (top 10) of a never-seen query: the real model embeds it, the vector
  and keyword halves run, the winners are fetched. Distinct queries, so no cache hit.
* ``injection_wrapper``: what ``with_memory`` does before a call (``MemoryCore.prepare``): the
  query built (third person; a follow-up with the turns before it), the search of the top
  10, the relevance decision, the context block. Never-seen questions after an earlier
  exchange, so follow-ups carry a window.
* ``cache_hit``: the same query again and again (the embedding comes from the LRU cache).
* ``search_vector_only`` / ``search_text_only``: the cache-hit search with one half switched
  off (``text_weight=0`` / ``vector_weight=0``), to show what each half costs.
* ``store_embedded``: ``add`` of one new text, the model included.
* ``store_lookup``: ``add`` of one new text whose vector is precomputed: SQLite, FTS5, HNSW.

Then ``reopen`` (close, ``create``, first search) and ``rss`` (a fresh process opens the
largest database with the model and searches) at the largest size, ``bulk_ingest`` (add_many
of new texts through the model) and, in a full run, ``injection_1m``.
"""

from __future__ import annotations

import gc
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.corpus import memory_text, memory_texts, query_text
from benchmarks.embedding_cache import LookupEmbedder
from benchmarks.fixtures import (
    Corpus,
    Layout,
    fill,
    open_memory,
    real_corpus,
    settle,
    synthetic_vectors,
    user_of,
)
from benchmarks.fts_probe import probe_fts
from benchmarks.progress import Progress, log
from benchmarks.stats import Summary, summarize, time_async, time_interleaved
from benchmarks.targets import Measurement
from headroom.embedders.onnx import OnnxEmbedder
from headroom.embedders.settings import DEFAULT_EMBEDDER_THREADS
from headroom.memory import HierarchicalMemory, NewMemory
from headroom.wrapper._core import MemoryCore, MemoryOptions
from headroom.wrapper.client import DEFAULT_MIN_SIMILARITY

__all__ = ["LAYOUTS", "LatencyParams", "run_latency"]

LAYOUTS = (Layout("one-user", 1), Layout("1000-users", 1000))
TOP_K = 10
REPEATED = 20
"""Distinct queries cycled through by the cache-hit measurements (one query alone would
measure that query's words: the keyword half's cost depends on how many rows they match)."""
FTS_FORMS_1M = 50
"""Queries per SQL form at 1M memories (the slow forms take ~0.3 s each there)."""


@dataclass(frozen=True, slots=True)
class LatencyParams:
    sizes: tuple[int, ...]
    search_reps: int
    store_reps: int
    warmup: int
    reopen_reps: int
    bulk_count: int
    million: int | None
    """Memories of the 1M run (None: skipped)."""
    million_reps: int = 200


class Texts:
    """Never-seen texts: queries, or memories of another seed, none repeated in a run."""

    def __init__(self, seen: set[str], *, seed: int) -> None:
        self._seen = seen
        self._seed = seed
        self._next = 0

    def take(self, count: int, *, queries: bool) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            index = self._next
            self._next += 1
            text = (
                query_text(index, seed=self._seed)
                if queries
                else f"{memory_text(index, seed=self._seed)} (note {index})"
            )
            if text not in self._seen:
                self._seen.add(text)
                out.append(text)
        return out


async def run_latency(params: LatencyParams, workdir: Path) -> list[Measurement]:
    """Every latency measurement of the suite, in order."""
    onnx = await OnnxEmbedder.create(threads=1)
    try:
        corpus = await real_corpus(max(params.sizes), onnx)
        seen = set(corpus.texts)
        queries = Texts(seen, seed=1)
        notes = Texts(seen, seed=2)
        results: list[Measurement] = []
        for layout in LAYOUTS:
            results += await _layout_suite(params, workdir, corpus, onnx, layout, queries, notes)
        results.append(await _bulk_ingest(params, workdir, onnx, notes, op="bulk_ingest_1t"))
        default = await OnnxEmbedder.create(threads=DEFAULT_EMBEDDER_THREADS)
        try:
            results.append(await _bulk_ingest(params, workdir, default, notes))
        finally:
            await default.aclose()
        if params.million:
            results += await _million(params, workdir, corpus, onnx, queries)
        return results
    finally:
        await onnx.aclose()


async def _layout_suite(
    params: LatencyParams,
    workdir: Path,
    corpus: Corpus,
    onnx: OnnxEmbedder,
    layout: Layout,
    queries: Texts,
    notes: Texts,
) -> list[Measurement]:
    path = workdir / f"{layout.name}.db"
    lookup = LookupEmbedder({}, model_name=onnx.model_name, dimension=onnx.dimension, fallback=onnx)
    results: list[Measurement] = []
    filled = 0
    memory = await open_memory(path, lookup)
    try:
        for n in params.sizes:
            seconds = await fill(
                memory,
                lookup,
                corpus.texts[filled:n],
                corpus.vectors[filled:n],
                layout,
                offset=filled,
                label=f"{layout.name}: adding memories {filled:,}..{n:,}",
            )
            results.append(
                Measurement(
                    "ingest_lookup",
                    "bulk ingest with add_many, embedding excluded",
                    "memories/s",
                    n=n,
                    layout=layout.name,
                    value=(n - filled) / seconds,
                    notes=f"batches of 2,000; memories {filled:,}..{n:,}",
                )
            )
            filled = n
            waited = await settle()
            log(f"  {layout.name} at {n:,} memories: settled in {waited:.1f} s; measuring")
            results += await _searches(params, memory, layout, n, queries)
            results += await _stores(params, memory, lookup, onnx, layout, n, notes)
            await memory.aclose()
            results += await _halves(params, path, lookup, layout, n, queries)
            memory = await open_memory(path, lookup)
        largest = params.sizes[-1]
        await memory.aclose()
        results += _fts_forms(params, path, layout, largest, queries)
        results.append(await _reopen(params, path, lookup, layout, largest, queries))
        if not layout.selective:
            results.append(_rss(path, largest, layout))
    finally:
        await memory.aclose()
    return results


def _fts_forms(
    params: LatencyParams,
    path: Path,
    layout: Layout,
    n: int,
    queries: Texts,
    *,
    reps: int | None = None,
) -> list[Measurement]:
    """The keyword half's SQL in its current and a bounded form (an experiment)."""
    texts = queries.take(reps or params.search_reps, queries=True)
    users = _users(layout, n, len(texts), seed=n + 3)
    forms = probe_fts(path, texts, users, k=TOP_K * 4)
    labels = {
        "current": "FTS5 SQL unbounded: OR of all words + join + bm25 order, 40 rows",
        "rank_first": "FTS5 SQL, bm25 ranked inside FTS5 first, then joined (experiment)",
        "recent_window": "FTS5 SQL, bm25 over the newest 2,000 matching rows only (experiment)",
        "match_only": "FTS5 MATCH alone, counting rows (the floor)",
        "all_terms": "FTS5 SQL with the words AND-ed, not OR-ed (experiment)",
        "rare_terms": "FTS5 SQL over words in <= 5% of rows only, df lookup included (experiment)",
    }
    return [
        Measurement(
            f"fts_sql_{name}",
            labels[name],
            "ms",
            n=n,
            layout=layout.name,
            summary=summary,
            notes="sqlite3 directly on the closed database; see benchmarks/fts_probe.py",
        )
        for name, summary in forms.items()
    ]


def _users(layout: Layout, n: int, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [user_of(rng.randrange(n), layout) for _ in range(count)]


async def _searches(
    params: LatencyParams, memory: HierarchicalMemory, layout: Layout, n: int, queries: Texts
) -> list[Measurement]:
    reps, warmup = params.search_reps, params.warmup
    texts = queries.take(reps + warmup, queries=True)
    users = _users(layout, n, reps + max(warmup, REPEATED), seed=n)
    gc.collect()
    asked = queries.take(reps + warmup, queries=True)
    # The engine's search and the wrapper's whole injection, round by round on the same load.
    plain, through = await time_interleaved(
        [
            lambda i: memory.search(texts[i], user_id=users[i], top_k=TOP_K),
            lambda i: _prepare(memory, users[i], asked[i], texts[i]),
        ],
        reps=reps,
        warmup=warmup,
    )
    injection, wrapped = summarize(plain), summarize(through)
    added = summarize([b - a for a, b in zip(plain, through, strict=True)])
    repeated = queries.take(REPEATED, queries=True)
    hit = await time_async(
        partial(_search_repeated, memory, repeated, users),
        reps=reps,
        warmup=max(warmup, REPEATED),
    )
    return [
        Measurement(
            "injection",
            "injection: embed query + hybrid search + fetch (top 10)",
            "ms",
            n=n,
            layout=layout.name,
            summary=injection,
            notes="distinct queries, real ONNX query embedding",
        ),
        Measurement(
            "injection_wrapper",
            "injection through with_memory: query, search, decision, context block",
            "ms",
            n=n,
            layout=layout.name,
            summary=wrapped,
            notes="MemoryCore.prepare of a never-seen question after one earlier exchange",
        ),
        Measurement(
            "injection_wrapper_added",
            "what with_memory adds to the engine's search, round by round",
            "ms",
            n=n,
            layout=layout.name,
            summary=added,
            notes="per round: the wrapper's injection minus the engine's search, each of its "
            "own never-seen question, timed back to back",
        ),
        Measurement(
            "cache_hit",
            "repeated query (embedding cache hit), whole search (top 10)",
            "ms",
            n=n,
            layout=layout.name,
            summary=hit,
        ),
    ]


async def _prepare(memory: HierarchicalMemory, user: str, question: str, before: str) -> object:
    """The wrapper's work before one call, for ``user`` (top_k 5: it searches 10)."""
    options = MemoryOptions(
        user_id=user,
        session_id=None,
        agent_id=None,
        top_k=TOP_K // 2,
        max_context_tokens=1000,
        min_similarity=DEFAULT_MIN_SIMILARITY,
        strict=True,
    )
    core = MemoryCore(options, memory=memory, config=memory.config, embedder=None)
    messages = [
        {"role": "user", "content": before},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": question},
    ]
    return await core.prepare({"model": "m", "messages": messages})


async def _halves(
    params: LatencyParams,
    path: Path,
    lookup: LookupEmbedder,
    layout: Layout,
    n: int,
    queries: Texts,
    *,
    reps: int | None = None,
) -> list[Measurement]:
    results = []
    reps = reps or params.search_reps
    repeated = queries.take(REPEATED, queries=True)
    users = _users(layout, n, reps + max(params.warmup, REPEATED), seed=n + 1)
    for op, label, weights in (
        ("search_vector_only", "cache-hit search, vector half only", (1.0, 0.0)),
        ("search_text_only", "cache-hit search, keyword (FTS5) half only", (0.0, 1.0)),
    ):
        memory = await open_memory(path, lookup, vector_weight=weights[0], text_weight=weights[1])
        try:
            summary = await time_async(
                partial(_search_repeated, memory, repeated, users),
                reps=reps,
                warmup=max(params.warmup, REPEATED),
            )
        finally:
            await memory.aclose()
        results.append(Measurement(op, label, "ms", n=n, layout=layout.name, summary=summary))
    return results


async def _search_repeated(
    memory: HierarchicalMemory, repeated: Sequence[str], users: Sequence[str], i: int
) -> object:
    """Search ``repeated[i % len]``: after one round every query is an embedding-cache hit."""
    return await memory.search(repeated[i % len(repeated)], user_id=users[i], top_k=TOP_K)


async def _stores(
    params: LatencyParams,
    memory: HierarchicalMemory,
    lookup: LookupEmbedder,
    onnx: OnnxEmbedder,
    layout: Layout,
    n: int,
    notes: Texts,
) -> list[Measurement]:
    reps, warmup = params.store_reps, params.warmup
    users = _users(layout, n, reps + warmup, seed=n + 2)
    added: list[str] = []

    async def add(text: str, user: str) -> None:
        added.append((await memory.add(text, user_id=user)).id)

    fresh = notes.take(reps + warmup, queries=False)
    embedded = await time_async(lambda i: add(fresh[i], users[i]), reps=reps, warmup=warmup)
    known = notes.take(reps + warmup, queries=False)
    lookup.update(dict(zip(known, await onnx.embed(known), strict=True)))
    excluded = await time_async(lambda i: add(known[i], users[i]), reps=reps, warmup=warmup)
    for memory_id in added:  # keep the corpus at exactly n memories
        await memory.delete(memory_id)
    return [
        Measurement(
            "store_embedded",
            "store one memory, embedding included",
            "ms",
            n=n,
            layout=layout.name,
            summary=embedded,
        ),
        Measurement(
            "store_lookup",
            "store one memory, embedding excluded (SQLite + FTS5 + HNSW)",
            "ms",
            n=n,
            layout=layout.name,
            summary=excluded,
            notes="vector precomputed (lookup embedder)",
        ),
    ]


async def _reopen(
    params: LatencyParams,
    path: Path,
    lookup: LookupEmbedder,
    layout: Layout,
    n: int,
    queries: Texts,
) -> Measurement:
    opens: list[float] = []
    firsts: list[float] = []
    texts = queries.take(params.reopen_reps, queries=True)
    for i in range(params.reopen_reps):
        started = time.perf_counter()
        memory = await open_memory(path, lookup)
        opened = time.perf_counter()
        try:
            await memory.search(texts[i], user_id=user_of(0, layout), top_k=TOP_K)
        finally:
            ready = time.perf_counter()
            await memory.aclose()
        opens.append((opened - started) * 1000)
        firsts.append((ready - started) * 1000)
    ready_summary = summarize(firsts)
    return Measurement(
        "reopen",
        "reopen the database, ready to search (create + first search)",
        "s",
        n=n,
        layout=layout.name,
        summary=ready_summary,
        value=ready_summary.p50 / 1000,
        notes="model already loaded; value = p50 of create() + first search, in seconds",
        extra={"create_only_ms": summarize(opens).as_dict()},
    )


def _rss(path: Path, n: int, layout: Layout) -> Measurement:
    """A fresh process opens the database with the bundled model and searches; its RSS."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.rss_probe", str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    probe = json.loads(done.stdout)
    log(f"  rss probe: {probe} ({time.perf_counter() - started:.1f} s)")
    return Measurement(
        "rss",
        "resident memory, database open, model loaded, after searches",
        "MB",
        n=n,
        layout=layout.name,
        value=float(probe["rss_mb"]),
        notes="fresh process: default config (ONNX embedder from the config)",
        extra=probe,
    )


async def _bulk_ingest(
    params: LatencyParams,
    workdir: Path,
    onnx: OnnxEmbedder,
    notes: Texts,
    *,
    op: str = "bulk_ingest",
) -> Measurement:
    texts = notes.take(params.bulk_count, queries=False)
    memory = await open_memory(workdir / f"{op}.db", onnx)
    batch = 500
    progress = Progress("bulk ingest through the model", len(texts))
    try:
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            chunk = texts[start : start + batch]
            await memory.add_many([NewMemory(content=t, user_id="bulk") for t in chunk])
            progress.advance(len(chunk))
        seconds = time.perf_counter() - started
    finally:
        progress.done()
        await memory.aclose()
    lanes = onnx.threads
    return Measurement(
        op,
        f"bulk ingest with add_many, embedding included ({lanes} text"
        f"{'s' if lanes > 1 else ''} at once)",
        "memories/s",
        n=len(texts),
        layout="one-user",
        value=len(texts) / seconds,
        notes=f"{len(texts):,} new synthetic memories, add_many batches of {batch}",
    )


def _million_chunks(
    corpus: Corpus, total: int, chunk: int
) -> Iterator[tuple[list[str], np.ndarray]]:
    for start in range(0, total, chunk):
        stop = min(total, start + chunk)
        texts = list(memory_texts(start, stop))
        if stop <= len(corpus):
            vectors = corpus.vectors[start:stop]
        else:
            vectors = synthetic_vectors(corpus.vectors, start, stop)
            real = max(0, len(corpus) - start)
            vectors[:real] = corpus.vectors[start : start + real]
        yield texts, vectors


async def _million(
    params: LatencyParams, workdir: Path, corpus: Corpus, onnx: OnnxEmbedder, queries: Texts
) -> list[Measurement]:
    total = params.million
    assert total is not None
    layout = LAYOUTS[0]
    lookup = LookupEmbedder({}, model_name=onnx.model_name, dimension=onnx.dimension, fallback=onnx)
    path = workdir / "million.db"
    memory = await open_memory(path, lookup)
    try:
        started = time.perf_counter()
        done = 0
        for texts, vectors in _million_chunks(corpus, total, 50_000):
            await fill(
                memory,
                lookup,
                texts,
                vectors,
                layout,
                offset=done,
                label=f"1M: adding memories {done:,}..{done + len(texts):,}",
            )
            done += len(texts)
        build = time.perf_counter() - started
        reps, warmup = params.million_reps, params.warmup
        texts = queries.take(reps + warmup, queries=True)
        injection = await time_async(
            lambda i: memory.search(texts[i], user_id=user_of(0, layout), top_k=TOP_K),
            reps=reps,
            warmup=warmup,
        )
        repeated = queries.take(REPEATED, queries=True)
        hit = await time_async(
            partial(_search_repeated, memory, repeated, [user_of(0, layout)] * (reps + REPEATED)),
            reps=reps,
            warmup=max(warmup, REPEATED),
        )
    finally:
        await memory.aclose()
    breakdown = await _halves(
        params, path, lookup, layout, total, queries, reps=params.million_reps
    )
    breakdown += _fts_forms(params, path, layout, total, queries, reps=FTS_FORMS_1M)
    synthetic = (
        f"texts are the synthetic corpus; vectors of the first {len(corpus):,} are real "
        "MiniLM embeddings, the rest real vectors plus Gaussian noise (cos ~0.9); the "
        "query is embedded by the real model"
    )
    return [
        Measurement(
            "injection_1m",
            "search at 1M memories, one user: embed + hybrid + fetch (top 10)",
            "ms",
            n=total,
            layout=layout.name,
            summary=injection,
            notes=synthetic,
            extra={"build_seconds": round(build, 1)},
        ),
        Measurement(
            "cache_hit_1m",
            "repeated query (cache hit) at 1M memories, whole search",
            "ms",
            n=total,
            layout=layout.name,
            summary=hit,
            notes=synthetic,
        ),
        Measurement(
            "ingest_lookup_1m",
            "building the 1M database, embedding excluded",
            "memories/s",
            n=total,
            layout=layout.name,
            value=total / build,
        ),
        *breakdown,
    ]


def summaries(measurements: Sequence[Measurement]) -> dict[str, Summary]:
    """``op@n/layout`` -> summary, for quick inspection in a REPL."""
    return {f"{m.op}@{m.n}/{m.layout}": m.summary for m in measurements if m.summary is not None}
