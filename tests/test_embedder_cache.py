"""CachedEmbedder: only misses reach the inner embedder, LRU order, private copies, speed."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pytest

from headroom.embedders import CachedEmbedder
from headroom.embedders.base import Vectors
from headroom.errors import ClosedError, ConfigError, InvalidEmbeddingError
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.anyio


async def test_only_distinct_misses_reach_the_inner_embedder_in_one_batch() -> None:
    inner = HashingEmbedder()
    cached = CachedEmbedder(inner, max_size=10)
    first = await cached.embed(["a", "b", "a", "c"])
    assert inner.calls == [["a", "b", "c"]]
    assert (cached.hits, cached.misses) == (1, 3)  # the second "a" came from the first
    second = await cached.embed(["c", "d", "a"])
    assert inner.calls[-1] == ["d"]
    assert (cached.hits, cached.misses) == (3, 4)
    np.testing.assert_array_equal(second[0], first[3])
    np.testing.assert_array_equal(second[2], first[0])
    np.testing.assert_array_equal(first[0], first[2])
    assert len(cached) == 4


async def test_least_recently_used_is_evicted() -> None:
    inner = HashingEmbedder()
    cached = CachedEmbedder(inner, max_size=2)
    await cached.embed(["a", "b"])
    await cached.embed(["a"])  # a is now the most recent
    await cached.embed(["c"])  # evicts b
    assert len(cached) == 2
    await cached.embed(["a", "b"])
    assert inner.calls[-1] == ["b"]


async def test_callers_cannot_corrupt_the_cache() -> None:
    cached = CachedEmbedder(HashingEmbedder(), max_size=10)
    vectors = await cached.embed(["a", "b"])
    expected = vectors.copy()
    vectors *= 0
    np.testing.assert_array_equal(await cached.embed(["a", "b"]), expected)


async def test_a_cached_lookup_is_well_under_50_microseconds() -> None:
    cached = CachedEmbedder(HashingEmbedder(dimension=384), max_size=2000)
    texts = [f"memory {i}" for i in range(1000)]
    await cached.embed(texts)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        await cached.embed(texts)
        best = min(best, (time.perf_counter() - started) / len(texts))
    assert best < 50e-6


class _Broken:
    """An embedder answering NaN: the cache must not keep what it cannot validate."""

    model_name = "broken"
    dimension = 4

    def __init__(self) -> None:
        self.calls = 0

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        return np.full((len(texts), 4), np.nan, dtype=np.float32)

    async def aclose(self) -> None:
        pass


async def test_invalid_vectors_are_rejected_and_not_cached() -> None:
    inner = _Broken()
    cached = CachedEmbedder(inner, max_size=10)
    for _ in range(2):
        with pytest.raises(InvalidEmbeddingError):
            await cached.embed(["a"])
    assert inner.calls == 2 and len(cached) == 0


async def test_aclose_closes_the_inner_embedder() -> None:
    inner = HashingEmbedder()
    cached = CachedEmbedder(inner)
    assert (cached.model_name, cached.dimension) == (inner.model_name, inner.dimension)
    await cached.aclose()
    await cached.aclose()
    assert inner.closed
    with pytest.raises(ClosedError):
        await cached.embed(["a"])


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_max_size_must_be_a_positive_int(size: object) -> None:
    with pytest.raises(ConfigError):
        CachedEmbedder(HashingEmbedder(), max_size=size)  # type: ignore[arg-type]
