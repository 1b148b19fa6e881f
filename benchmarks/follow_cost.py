"""What following other processes costs: the check before a search, and catching up.

``python -m benchmarks.follow_cost``. A database of 10,000 memories (synthetic unit vectors:
the model is not what is measured); one engine reads, and a second *process* writes:

- **quiet check**: the engine's catch-up before a search when nothing was committed since its
  last look (the change probe: ``PRAGMA data_version`` on the loop, no thread hop);
- **catch up 1,000**: the same call right after the other process added 1,000 memories
  (read the change log and the new rows, apply them to the catalog and the fresh-vector
  buffer), repeated over several rounds.

Both call the SQLite vector index's ``follow()``, which every vector search runs first.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from benchmarks.embedding_cache import LookupEmbedder
from benchmarks.machine import load_average
from benchmarks.stats import summarize
from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory
from headroom.storage.sqlite.vectors import SQLiteVectorIndex

__all__ = ["render", "run_follow_cost"]

DIMENSION = 384
_MODEL = "follow-cost-synthetic"

_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    import numpy as np
    from benchmarks.embedding_cache import LookupEmbedder
    from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory

    async def main():
        start, count = int(sys.argv[1]), int(sys.argv[2])
        texts = [f"written elsewhere {{i}}" for i in range(start, start + count)]
        rng = np.random.default_rng(start)
        vectors = rng.standard_normal((count, {dimension})).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        embedder = LookupEmbedder(dict(zip(texts, vectors)), model_name={model!r},
                                  dimension={dimension})
        config = MemoryConfig(db_path={db!r}, cache_enabled=False)
        async with await HierarchicalMemory.create(config, embedder=embedder) as memory:
            # Batches below the direct-to-graph size, as many small writes would arrive.
            for at in range(0, count, 100):
                await memory.add_many([NewMemory(t, "u") for t in texts[at:at + 100]])

    asyncio.run(main())
    """
)


def _embedder(texts: list[str], seed: int) -> LookupEmbedder:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(texts), DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return LookupEmbedder(
        dict(zip(texts, vectors, strict=True)), model_name=_MODEL, dimension=DIMENSION
    )


def _write_elsewhere(db: Path, start: int, count: int) -> None:
    root = str(Path(__file__).resolve().parent.parent)
    script = _WRITER.format(root=root, dimension=DIMENSION, model=_MODEL, db=str(db))
    subprocess.run([sys.executable, "-c", script, str(start), str(count)], check=True)


async def _measure(db: Path, *, base: int, quiet_reps: int, rounds: int) -> dict[str, Any]:
    texts = [f"base memory {i}" for i in range(base)]
    config = MemoryConfig(db_path=db, cache_enabled=False)
    async with await HierarchicalMemory.create(config, embedder=_embedder(texts, 0)) as memory:
        for at in range(0, base, 2000):
            await memory.add_many([NewMemory(t, "u") for t in texts[at : at + 2000]])
        vectors = memory._storage.vectors  # the SQLite backend's index: what is measured
        assert isinstance(vectors, SQLiteVectorIndex)
        await vectors.follow()
        quiet: list[float] = []
        for _ in range(quiet_reps):
            started = time.perf_counter()
            await vectors.follow()
            quiet.append((time.perf_counter() - started) * 1000)
        catch_up: list[float] = []
        for n in range(rounds):
            await anyio.to_thread.run_sync(_write_elsewhere, db, 1_000_000 + n * 1000, 1000)
            started = time.perf_counter()
            await vectors.follow()
            catch_up.append((time.perf_counter() - started) * 1000)
    return {
        "memories": base,
        "quiet_check_ms": summarize(quiet).as_dict(),
        "catch_up_1000_ms": summarize(catch_up).as_dict(),
    }


def run_follow_cost(
    *, base: int = 10_000, quiet_reps: int = 5000, rounds: int = 7
) -> dict[str, Any]:
    """Both measurements, with the load average before and after."""
    with tempfile.TemporaryDirectory(prefix="follow-") as tmp:
        before = load_average()
        results = anyio.run(
            lambda: _measure(
                Path(tmp) / "memory.db", base=base, quiet_reps=quiet_reps, rounds=rounds
            )
        )
    results["load_average"] = {"before": before, "after": load_average()}
    return results


def render(results: dict[str, Any]) -> list[str]:
    quiet, catch_up = results["quiet_check_ms"], results["catch_up_1000_ms"]
    return [
        f"One engine over {results['memories']:,} memories; another process writes.",
        "",
        "| operation | p50 | p95 | max | runs | target |",
        "|---|---:|---:|---:|---:|---|",
        f"| check before a search, nothing committed | {quiet['p50'] * 1000:.1f} µs "
        f"| {quiet['p95'] * 1000:.1f} µs | {quiet['max'] * 1000:.1f} µs | {quiet['count']:,} "
        "| <= 50 µs |",
        f"| catch up after 1,000 memories added elsewhere | {catch_up['p50']:.1f} ms "
        f"| {catch_up['p95']:.1f} ms | {catch_up['max']:.1f} ms | {catch_up['count']} "
        "| <= 50 ms |",
        "",
        f"Load average before / after: {results['load_average']['before']} / "
        f"{results['load_average']['after']}.",
    ]


def main() -> int:
    for line in render(run_follow_cost()):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
