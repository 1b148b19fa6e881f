"""Measure UsearchIndex's costs, to choose the filtered-search thresholds. Not a test.

    .venv/bin/python benchmarks/vector_index_probe.py [--sizes 10000 100000] [--queries 50]
        [--data clustered|random] [--cache DIR] [--with-model] [--metrics]

384-dimensional unit vectors, keys 1..N. ``clustered`` data (the default: 1,000 centres, each
vector at cosine ~0.7 from its centre) behaves like sentence embeddings; ``random`` (uniform
on the sphere) is HNSW's worst case for recall and shows the timings are not data-dependent.
Prints a markdown table (median / p95 in milliseconds) that docs/storage-vector-index.md
quotes. ``--cache`` keeps the built indexes between runs (building 100k vectors single-threaded
takes minutes); ``--with-model`` loads the bundled ONNX model first, so the RSS rows are those
of a real process.

The probe reaches into the index (its config, its usearch object, the planner) to time each
strategy on its own; the library itself never does.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import anyio.to_thread
import numpy as np
import numpy.typing as npt

# Run as a script from the repository root: make `headroom` importable without installing.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from headroom.storage.sqlite import usearch_index
from headroom.storage.sqlite import vector_plan as _filtering
from headroom.storage.sqlite.usearch_index import UsearchIndex

DIM = 384
K = 10
CHUNK = 5000
CENTRES = 1000
Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
Search = Callable[[int], Awaitable[object]]


@dataclasses.dataclass(frozen=True)
class Data:
    kind: str

    def rows(self, start: int, stop: int, seed: int = 0) -> Iterator[tuple[int, Floats]]:
        """Rows ``[start, stop)`` of a reproducible unit matrix, in chunks of CHUNK rows.

        Generated per chunk so the probe never holds a second full copy (it would skew RSS).
        """
        for first in range(start - start % CHUNK, stop, CHUNK):
            rng = np.random.default_rng([seed, first])
            noise = rng.standard_normal((CHUNK, DIM)) / np.sqrt(DIM)
            if self.kind == "clustered":
                noise += self.centres()[rng.integers(0, CENTRES, CHUNK)]
            lo, hi = max(start, first), min(stop, first + CHUNK)
            yield lo, unit(noise[lo - first : hi - first])

    @functools.cache  # noqa: B019 - one Data per run
    def centres(self) -> npt.NDArray[np.float64]:
        centres = np.random.default_rng(99).standard_normal((CENTRES, DIM))
        result: npt.NDArray[np.float64] = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        return result

    def queries(self, count: int) -> Floats:
        """Fresh vectors from the same distribution (not in the index)."""
        return next(self.rows(0, count, seed=12345))[1]


def unit(rows: npt.NDArray[np.float64]) -> Floats:
    result: Floats = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return result


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"{statistics.median(ms):.2f} / {p95:.2f}"


@dataclasses.dataclass
class Timings:
    """Wall-clock and process CPU time per call.

    On a loaded machine wall time includes waiting for a core; CPU time (all threads of this
    process) is what the call costs on an idle one, as every step here is single-threaded.
    """

    wall: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)

    @contextmanager
    def measure(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)

    def __str__(self) -> str:
        return f"{summary(self.wall)} (cpu {statistics.median(self.cpu) * 1000:.2f})"


async def timed(func: Search, repeats: int) -> Timings:
    timings = Timings()
    for i in range(repeats):
        with timings.measure():
            await func(i)
    return timings


def similarities_to(data: Data, n: int, query: Floats) -> Floats:
    """Every vector's similarity to ``query`` (index = key - 1), streamed."""
    return np.concatenate([rows @ query for _, rows in data.rows(0, n)])


def best(sims: Floats, allowed: Ints) -> set[int]:
    """The true top-K keys among ``allowed``."""
    top = allowed[np.argsort(-sims[allowed - 1])[:K]]
    return set(top.tolist())


@contextmanager
def forced_hnsw() -> Iterator[None]:
    """Plan HNSW whenever the threshold allows, however rare the set (cost ratio 0)."""
    namespace = vars(usearch_index)
    plan, widen = namespace["plan_search"], namespace["widen"]
    namespace["plan_search"] = functools.partial(plan, cost_ratio=0.0)
    namespace["widen"] = functools.partial(widen, cost_ratio=0.0)
    try:
        yield
    finally:
        namespace["plan_search"], namespace["widen"] = plan, widen


def with_threshold(index: UsearchIndex, threshold: int) -> None:
    index._config = dataclasses.replace(index._config, exact_threshold=threshold)


async def build(
    data: Data, n: int, cache: Path | None
) -> tuple[UsearchIndex, list[float], float | None]:
    """The index of ``n`` vectors: batch-add times while building, or the load time."""
    path = None if cache is None else cache / f"probe-{data.kind}-{n}.usearch"
    start = time.perf_counter()
    index = await UsearchIndex.open(path, DIM)
    load = time.perf_counter() - start
    if len(index) == n:
        return index, [], load
    batches = []
    for lo, rows in data.rows(0, n):
        for at in range(0, len(rows), 1000):
            batch = rows[at : at + 1000]
            keys = np.arange(lo + at + 1, lo + at + 1 + len(batch))
            start = time.perf_counter()
            await index.add(keys, batch)
            batches.append(time.perf_counter() - start)
    await index.save()
    return index, batches, None


class Probe:
    def __init__(self, data: Data, n: int, index: UsearchIndex, queries: int) -> None:
        self.data, self.n, self.index = data, n, index
        self.qs = data.queries(queries)
        self.sims = [similarities_to(data, n, q) for q in self.qs]
        self.rng = np.random.default_rng(7)
        self.keys = np.arange(1, n + 1, dtype=np.int64)

    def row(self, what: str, value: str) -> None:
        print(f"| {self.n:,} | {what} | {value} |", flush=True)

    def sample(self, size: int) -> Ints:
        return np.sort(self.rng.choice(self.keys, size, replace=False))

    async def search(self, allowed: Ints | None, per_query: list[Ints] | None = None) -> str:
        """Time a search per query; with its recall@K when the truth is cheap to know."""
        hits = possible = 0
        times = Timings()
        for i, query in enumerate(self.qs):
            subset = per_query[i] if per_query is not None else allowed
            with times.measure():
                found, _ = await self.index.search(query, K, subset)
            truth = best(self.sims[i], self.keys if subset is None else subset)
            hits += len(truth & set(found.tolist()))
            possible += len(truth)
        return f"{times}; recall {hits / possible:.2f}"

    def raw(self, count: int, exact: bool = False) -> Search:
        raw = self.index._index
        qs = self.qs
        return lambda i: anyio.to_thread.run_sync(
            lambda: raw.search(qs[i], count, threads=1, exact=exact)
        )

    async def run(self) -> None:
        n, index = self.n, self.index
        with_threshold(index, 10**12)  # gather, whatever the size
        for size in (100, 1000, 2048, 5000, 10_000, 100_000):
            if size <= n:
                self.row(f"exact (gather), allowed {size:,}", await self.search(self.sample(size)))
        self.row("usearch brute force over all N (ms)", str(await timed(self.raw(n, True), 5)))
        for count in (10, 100, 1000, 5000, n // 4):
            times = await timed(self.raw(count), len(self.qs))
            self.row(f"HNSW alone, {count:,} candidates", str(times))

        with_threshold(index, 0)
        with forced_hnsw():
            for fraction in (1.0, 0.5, 0.1, 0.01):
                allowed = self.sample(int(n * fraction))
                self.row(f"HNSW filtered, allowed {fraction:.0%}", await self.search(allowed))
        self.row("HNSW unfiltered", await self.search(None))

        with_threshold(index, _filtering.DEFAULT_EXACT_THRESHOLD)
        for size in sorted({1, 100, 1000, 2048, 2500, 3000, 5000, 10_000, n}):
            if size <= n:
                self.row(f"shipped plan, allowed {size:,}", await self.search(self.sample(size)))
        # The worst case: allowed keys all far from the query, so HNSW finds none of them,
        # widens, then gathers.
        far = [np.sort(np.argsort(s)[:5000] + 1).astype(np.int64) for s in self.sims]
        self.row("shipped plan, 5,000 least similar allowed", await self.search(None, far))

    async def mutations(self) -> None:
        n, index = self.n, self.index
        new = next(self.data.rows(n, n + 1000, seed=1))[1]
        ones = await timed(lambda i: index.add(np.array([n + 1 + i]), new[i : i + 1]), 200)
        self.row("add one", str(ones))
        await index.remove(np.arange(n + 1, n + 201))
        fresh = [np.arange(n + 1 + 1000 * j, n + 1001 + 1000 * j) for j in range(1, 4)]
        batch = await timed(lambda i: index.add(fresh[i], new), len(fresh))
        self.row("add batch of 1,000 at full size", str(batch))
        await index.remove(np.concatenate(fresh))

    async def persistence(self) -> None:
        index = self.index
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "copy.usearch"
            index._path = copy
            saves = []
            for _ in range(3):
                index._dirty = True
                start = time.perf_counter()
                await index.save()
                saves.append(time.perf_counter() - start)
            self.row("save (atomic, fsync)", summary(saves))
            self.row("file size (MB)", f"{copy.stat().st_size / 2**20:.0f}")
            loads = []
            for _ in range(3):
                start = time.perf_counter()
                loaded = await UsearchIndex.open(copy, DIM)
                loads.append(time.perf_counter() - start)
                await loaded.aclose()
            self.row("open (load)", summary(loads))


def compare_metrics(data: Data, n: int = 5000, queries: int = 200) -> None:
    """usearch's "ip" vs "cos" on the same unit vectors (identical rankings; cost differs)."""
    from headroom._imports import import_usearch_index

    usearch = import_usearch_index()
    rows = np.concatenate([r for _, r in data.rows(0, n)])
    qs = data.queries(queries)
    for metric in ("ip", "cos"):
        index = usearch.Index(
            ndim=DIM, metric=metric, dtype="f32", connectivity=16, expansion_add=200
        )
        start = time.perf_counter()
        index.add(np.arange(n, dtype=np.uint64), rows, threads=1)
        add = (time.perf_counter() - start) / n
        times = Timings()
        for q in qs:
            with times.measure():
                index.search(q, K, threads=1)
        print(f"| {n:,} | metric {metric}: add one (amortised) | {add * 1000:.3f} |")
        print(f"| {n:,} | metric {metric}: search | {times} |")
        index.reset()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--data", choices=["clustered", "random"], default="clustered")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--with-model", action="store_true")
    parser.add_argument("--metrics", action="store_true", help='compare "ip" with "cos" first')
    args = parser.parse_args()
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
    data = Data(args.data)
    loadavg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"cores: {os.cpu_count()}, load average: {loadavg}, data: {data.kind}, dim: {DIM}, k: {K}"
    )
    print(f"RSS at start: {rss_mb():.0f} MB")
    embedder = None
    if args.with_model:
        from headroom.embedders.onnx import OnnxEmbedder

        embedder = await OnnxEmbedder.create()
        await embedder.embed(["warm the model up"])
        print(f"RSS with the model loaded: {rss_mb():.0f} MB")
    print("\n| N | measure | ms: wall median / p95 (cpu median) |\n|---|---|---|")
    if args.metrics:
        compare_metrics(data)
    for n in args.sizes:
        gc.collect()
        before = rss_mb()
        index, batches, load = await build(data, n, args.cache)
        gc.collect()
        probe = Probe(data, n, index, args.queries)
        probe.row("RSS of the process (MB)", f"{rss_mb():.0f}")
        probe.row("RSS added by the index (MB)", f"{rss_mb() - before:.0f}")
        probe.row("usearch memory_usage (MB)", f"{index._index.memory_usage / 2**20:.0f}")
        if batches:  # the second half: the index near full size
            probe.row("add batch of 1,000 while building", summary(batches[len(batches) // 2 :]))
        if load is not None:
            probe.row("open (load), cold", f"{load * 1000:.0f}")
        await probe.run()
        await probe.mutations()
        await probe.persistence()
        await index.aclose()
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if embedder is not None:
        await embedder.aclose()


if __name__ == "__main__":
    anyio.run(main)
