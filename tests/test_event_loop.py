"""The event loop is never blocked: blocking calls are caught, and the loop's lag is measured.

``no_blocking`` activates blockbuster for calls made from headroom's own code: any blocking
call (file or socket I/O, ``time.sleep``, ...) that headroom makes on the event loop's thread
raises ``BlockingError`` and fails the test. Work that belongs in a thread (SQLite through
SQLite, usearch and ONNX through ``anyio.to_thread``) is invisible to it.

The lag test runs a large ``add_many`` and a stream of searches while a probe task sleeps 1 ms
at a time and records how late it wakes up. The numbers are printed (``pytest -s``) and
recorded as test properties; the assertion is a generous bound, not a benchmark.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import anyio
import anyio.to_thread
import numpy as np
import pytest
from blockbuster import BlockBuster, BlockingError, blockbuster_ctx

from headroom._imports import import_usearch_index
from headroom.embedders.base import Vectors
from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter, NewMemory
from headroom.storage.sqlite.connection import Database
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.anyio

_WORD = re.compile(r"\w+")


def _hash_vectors(texts: Sequence[str], dimension: int) -> Vectors:
    out = np.zeros((len(texts), dimension), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in _WORD.findall(text.lower()) or [text]:
            value = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            out[row, value % dimension] += 1.0 if (value >> 32) & 1 else -1.0
        if not out[row].any():
            out[row, 0] = 1.0
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


class ThreadedHashingEmbedder:
    """Like tests.fakes.HashingEmbedder, but computes in a worker thread as real embedders do.

    The plain fake hashes on the event loop, so the lag measured with it would be the fake's.
    """

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension

    @property
    def model_name(self) -> str:
        return "hashing-threaded"

    @property
    def dimension(self) -> int:
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await anyio.to_thread.run_sync(_hash_vectors, list(texts), self._dimension)

    async def aclose(self) -> None:
        pass


@pytest.fixture
def no_blocking() -> Iterator[BlockBuster]:
    # The lazily imported backends are imported up front: a first import reads files, once
    # per process, and is not what this fixture is for.
    import_usearch_index()
    import headroom.storage.sqlite.usearch_index  # noqa: F401

    with blockbuster_ctx("headroom") as buster:
        # The one SQLite call made on the loop, on purpose: the change probe's
        # ``PRAGMA data_version`` (a few microseconds, on its own connection, with a busy
        # timeout of 0, so it never waits) tells a search whether to read the change log.
        for call in ("sqlite3.Connection.execute", "sqlite3.Cursor.fetchone"):
            buster.functions[call].can_block_in("headroom/storage/sqlite/connection.py", "version")
        yield buster


async def test_the_fixture_catches_blocking_calls(no_blocking: BlockBuster, tmp_path: Path) -> None:
    # Opening a database blocks (file system, SQLite); called on the loop, it must be caught.
    with pytest.raises(BlockingError):
        Database._open_sync(tmp_path / "blocked" / "memory.db")


async def test_every_operation_leaves_the_loop_free(
    no_blocking: BlockBuster, tmp_path: Path
) -> None:
    # A folder that does not exist yet: creating it is file-system work too.
    config = MemoryConfig(db_path=tmp_path / "new" / "folder" / "memory.db")
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        first = await memory.add("Alice works at Google", user_id="alice", metadata={"k": 1})
        await memory.add_many(
            [NewMemory(content=f"note {i} about hiking", user_id="alice") for i in range(50)]
        )
        second = await memory.supersede(first.id, "Alice works at Anthropic")
        await memory.rollback(first.id)
        assert await memory.search("where does Alice work", user_id="alice")
        assert await memory.query(MemoryFilter(user_id="alice", include_superseded=True))
        assert (await memory.get(second.id)).content == "Alice works at Anthropic"
        assert len(await memory.get_history(first.id)) == 3
        assert (await memory.stats("alice")).total == 53
        exported = await memory.query(MemoryFilter(include_superseded=True))
        await memory.add("session note", user_id="alice", session_id="s1")
        assert await memory.clear(user_id="alice", session_id="s1") == 1
        assert await memory.reindex() == 53
        await memory.reembed(HashingEmbedder(32, model_name="smaller"))
        assert await memory.delete(first.id) == 3
    # Reopening: the index file is loaded and reconciled; then rebuilt when it is missing.
    smaller = HashingEmbedder(32, model_name="smaller")
    async with await HierarchicalMemory.create(config, embedder=smaller) as memory:
        assert (await memory.stats()).total == 50
    for index_file in config.path.parent.glob("*.usearch"):
        await anyio.Path(index_file).unlink()
    async with await HierarchicalMemory.create(config, embedder=smaller) as memory:
        assert len(await memory.search("hiking", user_id="alice", top_k=50)) == 50
    target = MemoryConfig(db_path=tmp_path / "other.db")
    async with await HierarchicalMemory.create(target, embedder=HashingEmbedder()) as memory:
        assert await memory.import_memories(exported) == 53


async def _measure_lag(stop: anyio.Event, lags: list[float], interval: float = 0.001) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(interval)
        lags.append(loop.time() - start - interval)


@pytest.mark.parametrize("count", [5_000])
async def test_loop_lag_during_a_large_add_many_and_searches(
    tmp_path: Path, count: int, record_property: Callable[[str, object], None]
) -> None:
    config = MemoryConfig(db_path=tmp_path / "memory.db")
    users = [f"user{i}" for i in range(5)]
    items = [
        NewMemory(content=f"memory number {i} about topic {i % 97}", user_id=users[i % 5])
        for i in range(count)
    ]
    lags: list[float] = []
    search_times: list[float] = []
    stop = anyio.Event()
    async with await HierarchicalMemory.create(
        config, embedder=ThreadedHashingEmbedder()
    ) as memory:
        await memory.add_many(items[:500])  # something to find from the start

        async def searches() -> None:
            n = 0
            while not stop.is_set():
                started = time.perf_counter()
                await memory.search(f"topic {n % 97}", user_id=users[n % 5], top_k=10)
                search_times.append(time.perf_counter() - started)
                n += 1

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            group.start_soon(_measure_lag, stop, lags)
            group.start_soon(searches)
            stored = await memory.add_many(items[500:])
            stop.set()
        elapsed = time.perf_counter() - started
        assert len(stored) == count - 500
        assert (await memory.stats()).total == count

    worst = max(lags)
    p99 = float(np.percentile(lags, 99))
    median = statistics.median(lags)
    report = (
        f"add_many of {count - 500} in {elapsed:.2f} s with {len(search_times)} searches "
        f"(median {statistics.median(search_times) * 1000:.1f} ms): loop lag median "
        f"{median * 1000:.2f} ms, p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms "
        f"over {len(lags)} probes"
    )
    print(report)
    record_property("loop_lag_max_ms", round(worst * 1000, 1))
    record_property("loop_lag_p99_ms", round(p99 * 1000, 1))
    assert search_times, "no search completed while add_many ran: the searches were starved"
    # Generous: a loop blocked for the whole add_many would lag by seconds.
    assert worst < 1.0, report


async def test_the_local_model_leaves_the_loop_free(
    no_blocking: BlockBuster, tmp_path: Path
) -> None:
    from headroom.embedders.onnx import OnnxEmbedder

    embedder = await OnnxEmbedder.create()  # loading the model reads and hashes files
    try:
        config = MemoryConfig(db_path=tmp_path / "memory.db")
        async with await HierarchicalMemory.create(config, embedder=embedder) as memory:
            await memory.add_many([NewMemory(f"fact number {i}", "u") for i in range(100)])
            assert await memory.search("fact", user_id="u")
    finally:
        await embedder.aclose()
