"""Bulk ingest: does one ``add_many`` of any size cost per memory what batches of 2,000 cost?

``python -m benchmarks.bulk_ingest [--count N]``. Two fresh SQLite databases are filled
with the same ``count`` memories (200,000 by default; 50 users), embedding excluded (the
vectors come from a table lookup, microseconds a batch): one by ``add_many`` calls of
2,000, the other by a single ``add_many`` of all of them. Beside the single call, on the
same event loop:

* a probe sleeps 1 ms at a time and records how late it wakes (the loop's lag);
* a searcher asks one user's memories a question every 20 ms, and records each search's
  latency (embedding included; the engine's query cache is off, so every search embeds).

Reported: memories per second both ways and their ratio, the worst and p99 loop lag, the
searches' p50 / p99 / max, with the load average.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from benchmarks.machine import describe, load_average
from benchmarks.stats import summarize
from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory

__all__ = ["render", "run_bulk_ingest"]

DIMENSION = 384
BATCH = 2_000
USERS = 50
_POOL = 4_096


class _PoolEmbedder:
    """Distinct unit vectors at the cost of a lookup: each text mixes two of a fixed pool of
    random vectors, chosen by two checksums of the text."""

    dimension = DIMENSION
    model_name = "bulk-ingest-synthetic"

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        pool = rng.standard_normal((_POOL, DIMENSION)).astype(np.float32)
        self._pool = pool / np.linalg.norm(pool, axis=1, keepdims=True)

    async def embed(self, texts: Sequence[str]) -> Any:
        first = np.fromiter((zlib.crc32(t.encode()) % _POOL for t in texts), np.int64, len(texts))
        second = np.fromiter(
            (zlib.adler32(t.encode()) % _POOL for t in texts), np.int64, len(texts)
        )
        vectors = self._pool[first] + 0.5 * self._pool[second]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    async def aclose(self) -> None:
        pass


def _items(count: int) -> list[NewMemory]:
    return [
        NewMemory(f"memory {i} about topic {i % 97} and detail {i % 1009}", f"user{i % USERS}")
        for i in range(count)
    ]


def _config(folder: Path, name: str) -> MemoryConfig:
    return MemoryConfig(db_path=folder / f"{name}.db", cache_enabled=False)


async def _in_batches(folder: Path, items: list[NewMemory]) -> float:
    """Seconds to store ``items`` by add_many calls of :data:`BATCH`."""
    async with await HierarchicalMemory.create(
        _config(folder, "batches"), embedder=_PoolEmbedder()
    ) as memory:
        started = time.perf_counter()
        for at in range(0, len(items), BATCH):
            await memory.add_many(items[at : at + BATCH])
        return time.perf_counter() - started


async def _beside(
    work: Callable[[], Awaitable[object]], search: Callable[[], Awaitable[object]]
) -> dict[str, Any]:
    """Run ``work`` with the lag probe and the searcher beside it."""
    lags: list[float] = []
    searches: list[float] = []
    finished = anyio.Event()

    async def probe() -> None:
        while not finished.is_set():
            started = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append((time.perf_counter() - started - 0.001) * 1000)

    async def searcher() -> None:
        while not finished.is_set():
            started = time.perf_counter()
            await search()
            searches.append((time.perf_counter() - started) * 1000)
            await anyio.sleep(0.02)

    async with anyio.create_task_group() as group:
        group.start_soon(probe)
        group.start_soon(searcher)
        started = time.perf_counter()
        try:
            await work()
        finally:
            seconds = time.perf_counter() - started
            finished.set()
    return {
        "seconds": seconds,
        "loop_lag_ms": summarize(lags).as_dict(),
        "search_ms": summarize(searches).as_dict(),
    }


async def _in_one_call(folder: Path, items: list[NewMemory]) -> dict[str, Any]:
    async with await HierarchicalMemory.create(
        _config(folder, "one-call"), embedder=_PoolEmbedder()
    ) as memory:
        # The searched user holds a few memories before the ingest starts.
        await memory.add_many(items[:BATCH])
        rest = items[BATCH:]
        done: list[int] = []

        async def ingest() -> None:
            await memory.add_many(rest, progress=lambda p: done.append(p.done))

        async def search() -> None:
            await memory.search("what about topic 42 and detail 7", user_id="user7", top_k=5)

        result = await _beside(ingest, search)
        result["progress_reports"] = len(done)
        result["memories"] = len(rest)
        return result


async def _measure(count: int) -> dict[str, Any]:
    items = _items(count)
    with tempfile.TemporaryDirectory(prefix="bulk-") as tmp:
        folder = Path(tmp)
        batches = await _in_batches(folder, items)
        one = await _in_one_call(folder, items)
    return {
        "memories": count,
        "batches_per_s": count / batches,
        "one_call_per_s": one["memories"] / one["seconds"],
        "one_call": one,
    }


def run_bulk_ingest(count: int = 200_000) -> dict[str, Any]:
    """Both fills, with the machine and the load average before and after."""
    before = load_average()
    results = anyio.run(_measure, count)
    results["load_average"] = {"before": before, "after": load_average()}
    return results


def render(results: dict[str, Any]) -> list[str]:
    one = results["one_call"]
    lag, search = one["loop_lag_ms"], one["search_ms"]
    ratio = results["batches_per_s"] / results["one_call_per_s"]
    return [
        f"{results['memories']:,} memories of {USERS} users, embedding excluded, into a fresh "
        "SQLite database each way.",
        "",
        "| measure | value | target |",
        "|---|---:|---|",
        f"| add_many calls of {BATCH:,} | {results['batches_per_s']:,.0f} memories/s | |",
        f"| one add_many of all of them | {results['one_call_per_s']:,.0f} memories/s "
        f"| cost per memory within 1.3x: {ratio:.2f}x |",
        f"| event loop lag during the one call, worst / p99 | {lag['max']:.1f} / "
        f"{lag['p99']:.1f} ms | worst <= 50 ms |",
        f"| a search during it, p50 / p99 / max ({search['count']} searches) "
        f"| {search['p50']:.1f} / {search['p99']:.1f} / {search['max']:.1f} ms | p99 <= 20 ms |",
        f"| progress reports of the one call | {one['progress_reports']:,} | |",
        "",
        f"Load average before / after: {results['load_average']['before']} / "
        f"{results['load_average']['after']}.",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk_ingest", description=__doc__)
    parser.add_argument("--count", type=int, default=200_000, help="memories (default 200,000)")
    args = parser.parse_args()
    machine = describe()
    print(f"{machine['cpu_model']}, {machine['cores']} cores")
    for line in render(run_bulk_ingest(args.count)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
