"""How long the event loop stalls while headroom works through something large.

A probe task sleeps 1 ms at a time and records how late it wakes (the loop's lag) while,
beside it, the engine:

* validates a 1M-item ``add_many`` whose last item is bad (all checked, nothing stored);
* stores ``add_many`` batches of 10,000 and 100,000 memories (embedding in a worker thread,
  as real embedders do, with a deterministic hashing embedder);
* imports 100,000 memories (validation, the chain check, chunked commits);
* refuses metadata of 50 MB and a search query of 10 MB.

Reports the worst lag and the p99 for each, on this machine, with its load average.

    python -m benchmarks.loop_stall            # about two minutes on 2 cores
    python -m benchmarks.loop_stall --quick    # 1/10 of the sizes
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import numpy as np

from benchmarks.machine import describe, load_average
from headroom.errors import ValidationError
from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter, NewMemory

__all__ = ["run_loop_stall"]

_WORD = re.compile(r"\w+")


class _ThreadedHashingEmbedder:
    """Bag-of-words vectors computed in a worker thread, like a real embedder's."""

    dimension = 384
    model_name = "hashing-threaded"

    async def embed(self, texts: Sequence[str]) -> Any:
        return await anyio.to_thread.run_sync(_vectors, list(texts))

    async def aclose(self) -> None:
        pass


def _vectors(texts: list[str]) -> Any:
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in _WORD.findall(text.lower()) or [text]:
            value = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            out[row, value % 384] += 1.0 if (value >> 32) & 1 else -1.0
        if not out[row].any():
            out[row, 0] = 1.0
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


async def _lag_during(work: Callable[[], Awaitable[object]]) -> tuple[float, float, float]:
    """(seconds the work took, worst lag, p99 lag) while ``work`` runs."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            start = loop.time()
            await asyncio.sleep(0.001)
            lags.append(loop.time() - start - 0.001)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    try:
        await work()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await task
    return elapsed, max(lags), float(np.percentile(lags, 99))


def _items(count: int, start: int = 0) -> list[NewMemory]:
    return [
        NewMemory(f"memory number {i} about topic {i % 97}", f"user{i % 50}")
        for i in range(start, start + count)
    ]


async def run_loop_stall(scale: float = 1.0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def note(name: str, result: tuple[float, float, float]) -> None:
        elapsed, worst, p99 = result
        rows.append(
            {"case": name, "seconds": elapsed, "worst_lag_ms": worst * 1e3, "p99_lag_ms": p99 * 1e3}
        )
        print(f"{name:58} {elapsed:8.2f} s   worst {worst * 1e3:7.1f} ms   p99 {p99 * 1e3:6.1f} ms")

    with tempfile.TemporaryDirectory() as folder:
        config = MemoryConfig(db_path=Path(folder) / "memory.db")
        embedder = _ThreadedHashingEmbedder()
        async with await HierarchicalMemory.create(config, embedder=embedder) as memory:
            huge = int(1_000_000 * scale)
            # Built before the probe starts: making the items is the caller's work.
            bad = [*_items(huge), NewMemory("", "u")]

            async def validate(bad: list[NewMemory] = bad) -> None:
                try:
                    await memory.add_many(bad)
                except ValidationError:
                    return
                raise AssertionError("the bad item was accepted")

            note(f"add_many of {huge:,} refused by its last item", await _lag_during(validate))
            del bad
            offset = 0
            for size in (int(10_000 * scale), int(100_000 * scale)):
                batch = _items(size, offset)
                offset += size

                async def add(batch: list[NewMemory] = batch) -> None:
                    await memory.add_many(batch)

                note(f"add_many of {size:,}", await _lag_during(add))
            exported = await memory.query(MemoryFilter(include_superseded=True))
            metadata = {"blob": "x" * 50_000_000}
            query = "lorem ipsum " * 900_000

            async def oversized() -> None:
                for call in (
                    memory.add("x", user_id="u", metadata=metadata),
                    memory.search(query, user_id="u"),
                ):
                    try:
                        await call
                    except ValidationError:
                        continue
                    raise AssertionError("an oversized value was accepted")

            note("50 MB of metadata and a 10 MB query, refused", await _lag_during(oversized))
        target = MemoryConfig(db_path=Path(folder) / "imported.db")
        async with await HierarchicalMemory.create(target, embedder=embedder) as memory:

            async def restore() -> None:
                await memory.import_memories(exported)

            note(f"import_memories of {len(exported):,}", await _lag_during(restore))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loop_stall", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    args = parser.parse_args()
    machine = describe()
    print(f"{machine['cpu_model']}, {machine['cores']} cores, load {load_average()}")
    rows = asyncio.run(run_loop_stall(0.1 if args.quick else 1.0))
    worst = max(row["worst_lag_ms"] for row in rows)
    print(
        f"worst lag over every case: {worst:.1f} ms (median of p99s "
        f"{statistics.median(row['p99_lag_ms'] for row in rows):.1f} ms)"
    )


if __name__ == "__main__":
    main()
