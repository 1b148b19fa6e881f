"""One suite every keyed vector index passes: ExactIndex, UsearchIndex in memory and on disk.

ExactIndex is the oracle: a filtered search must return only allowed keys, the best k of them
(exactly when the allowed set is searched exactly, with high recall through HNSW), and never
fewer than min(k, allowed keys present).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.errors import (
    ClosedError,
    DimensionMismatchError,
    InvalidEmbeddingError,
    ValidationError,
)
from headroom.storage.sqlite.usearch_index import UsearchIndex
from headroom.storage.sqlite.vector_plan import (
    Plan,
    Strategy,
    check_allowed,
    estimate_present,
    estimate_sample,
    is_member,
    plan_search,
    top_k,
    widen,
)
from tests.exact_index import ExactIndex, KeyedVectorIndex

pytestmark = pytest.mark.anyio

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
Factory = Callable[..., Awaitable[KeyedVectorIndex]]

BACKENDS = ["exact", "usearch-memory", "usearch-disk"]
# Cheap HNSW settings for big fixtures: building 20k vectors at M=16/efC=200 would dominate
# the suite's runtime, and the behaviour under test does not depend on graph quality.
CHEAP = {"m": 8, "ef_construction": 32, "ef_search": 16}


def unit(rng: np.random.Generator, n: int, d: int) -> Floats:
    rows = rng.standard_normal((n, d))
    result: Floats = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return result


def keys_of(*values: int) -> Ints:
    return np.array(values, dtype=np.int64)


@pytest.fixture(params=BACKENDS)
async def open_index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """A factory of indexes of the parametrised backend; all closed at teardown.

    Keyword arguments are UsearchIndex options (HNSW settings, exact_threshold); ExactIndex
    has none and ignores them.
    """
    opened: list[KeyedVectorIndex] = []
    counter = itertools.count()

    async def factory(dimension: int, **options: Any) -> KeyedVectorIndex:
        index: KeyedVectorIndex
        if request.param == "exact":
            index = ExactIndex(dimension)
        else:
            path = None
            if request.param == "usearch-disk":
                path = tmp_path / f"index-{next(counter)}.usearch"
            index = await UsearchIndex.open(path, dimension, **options)
        opened.append(index)
        return index

    yield factory
    for index in opened:
        await index.aclose()


def assert_valid_top_k(
    got: tuple[Ints, Floats],
    *,
    query: Floats,
    vectors: dict[int, Floats],
    allowed: Ints | None,
    k: int,
    exact: bool,
) -> None:
    """``got`` is a top-k of the allowed keys of ``vectors``; exactly the best when ``exact``."""
    keys, sims = got
    assert keys.dtype == np.int64 and sims.dtype == np.float32
    candidates = np.array(sorted(vectors), dtype=np.int64)
    if allowed is not None:
        candidates = candidates[np.isin(candidates, allowed)]
    # Never fewer than asked for while enough allowed keys exist (the lost-user bug).
    assert keys.size == min(k, candidates.size)
    assert np.unique(keys).size == keys.size
    assert np.isin(keys, candidates).all()
    true = {int(c): float(vectors[int(c)] @ query) for c in candidates}
    np.testing.assert_allclose(sims, [true[int(key)] for key in keys], atol=1e-4)
    assert (np.diff(sims) <= 1e-6).all(), "best first"
    if exact and keys.size:
        best = sorted(true.values(), reverse=True)[: keys.size]
        np.testing.assert_allclose(sims, best, atol=1e-4)


# -- basic behaviour ------------------------------------------------------------------


async def test_add_search_remove_and_re_add(open_index: Factory) -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng, 50, 16)
    keys = np.arange(100, 150, dtype=np.int64)
    index = await open_index(16)
    await index.add(keys, vectors)
    assert len(index) == 50
    assert (await index.keys()).tolist() == keys.tolist()

    found, sims = await index.search(vectors[7], 3)
    assert found[0] == 107 and sims[0] == pytest.approx(1.0, abs=1e-5)

    await index.remove(keys_of(107, 108, 999))  # 999 was never there: ignored
    assert len(index) == 48
    assert 107 not in (await index.keys()).tolist()
    found, _ = await index.search(vectors[7], 50)
    assert 107 not in found.tolist() and 108 not in found.tolist()
    assert found.size == 48

    await index.add(keys_of(107), vectors[7:8])
    assert len(index) == 49
    found, _ = await index.search(vectors[7], 1)
    assert found.tolist() == [107]


async def test_adding_a_present_key_replaces_its_vector(open_index: Factory) -> None:
    rng = np.random.default_rng(2)
    old, new, others = unit(rng, 1, 8), unit(rng, 1, 8), unit(rng, 20, 8)
    index = await open_index(8)
    await index.add(np.arange(1, 21, dtype=np.int64), others)
    await index.add(keys_of(42), old)
    await index.add(keys_of(42), new)
    assert len(index) == 21
    found, sims = await index.search(new[0], 1)
    assert found.tolist() == [42] and sims[0] == pytest.approx(1.0, abs=1e-5)
    found, sims = await index.search(old[0], 21)
    assert sims[found.tolist().index(42)] == pytest.approx(float(old[0] @ new[0]), abs=1e-4)


async def test_k_larger_than_the_index_returns_everything_best_first(
    open_index: Factory,
) -> None:
    rng = np.random.default_rng(3)
    vectors = unit(rng, 7, 8)
    index = await open_index(8)
    await index.add(np.arange(1, 8, dtype=np.int64), vectors)
    query = unit(rng, 1, 8)[0]
    got = await index.search(query, 100)
    table = {i + 1: vectors[i] for i in range(7)}
    assert_valid_top_k(got, query=query, vectors=table, allowed=None, k=100, exact=True)
    got = await index.search(query, 100, keys_of(2, 5, 77))
    assert sorted(got[0].tolist()) == [2, 5]


async def test_empty_index_and_empty_requests(open_index: Factory) -> None:
    index = await open_index(8)
    query = unit(np.random.default_rng(4), 1, 8)[0]
    for allowed in (None, keys_of(), keys_of(1, 2)):
        keys, sims = await index.search(query, 5, allowed)
        assert keys.dtype == np.int64 and sims.dtype == np.float32
        assert keys.size == sims.size == 0
    assert (await index.keys()).dtype == np.int64
    assert (await index.keys()).size == 0
    await index.remove(keys_of(1, 2))
    await index.add(keys_of(), np.empty((0, 8), dtype=np.float32))
    assert len(index) == 0

    await index.add(keys_of(1), unit(np.random.default_rng(5), 1, 8))
    assert (await index.search(query, 0))[0].size == 0
    assert (await index.search(query, 3, keys_of()))[0].size == 0
    assert (await index.search(query, 3, keys_of(2, 3)))[0].size == 0


async def test_unsorted_or_duplicated_allowed_keys_still_filter(open_index: Factory) -> None:
    rng = np.random.default_rng(6)
    vectors = unit(rng, 30, 8)
    index = await open_index(8)
    await index.add(np.arange(1, 31, dtype=np.int64), vectors)
    keys, _ = await index.search(vectors[0], 10, keys_of(20, 3, 20, 11, 3))
    assert sorted(keys.tolist()) == [3, 11, 20]


# -- filtered search against the oracle -----------------------------------------------


Case = tuple[int, int, float, float | None, int]


@st.composite
def cases(draw: st.DrawFn, max_size: int, max_k: int) -> Case:
    """(seed, size, fraction removed, fraction allowed or None, k); numpy draws the data."""
    return (
        draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(0, max_size)),
        draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 0.9])),
        draw(st.sampled_from([None, 0.0, 0.05, 0.3, 0.8, 1.0])),
        draw(st.integers(1, max_k)),
    )


async def run_case(index: KeyedVectorIndex, case: Case, *, exact: bool) -> None:
    seed, size, removed_fraction, allowed_fraction, k = case
    rng = np.random.default_rng(seed)
    keys = np.sort(rng.choice(10 * size + 10, size, replace=False)).astype(np.int64)
    vectors = unit(rng, size, 8)
    removed = rng.choice(keys, int(size * removed_fraction), replace=False)
    allowed = None
    if allowed_fraction is not None:
        chosen = rng.choice(keys, int(size * allowed_fraction), replace=False)
        absent = rng.integers(0, 10 * size + 10, 3)  # keys that may not be in the index
        allowed = np.unique(np.concatenate((chosen, absent))).astype(np.int64)
    await index.add(keys, vectors)
    await index.remove(removed)
    gone = set(removed.tolist())
    table = {int(key): vectors[i] for i, key in enumerate(keys) if int(key) not in gone}
    assert (await index.keys()).tolist() == sorted(table)
    for query in unit(rng, 3, 8):
        got = await index.search(query, k, allowed)
        assert_valid_top_k(got, query=query, vectors=table, allowed=allowed, k=k, exact=exact)


SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(case=cases(max_size=60, max_k=12))
async def test_exact_paths_equal_brute_force(open_index: Factory, case: Case) -> None:
    # Every allowed set here (<= 63 keys) is under the default threshold: searched exactly.
    index = await open_index(8)
    await run_case(index, case, exact=case[3] is not None or isinstance(index, ExactIndex))
    await index.aclose()


@SETTINGS
@given(case=cases(max_size=300, max_k=4))
async def test_hnsw_paths_never_return_too_few_or_disallowed_keys(
    open_index: Factory, case: Case
) -> None:
    # Threshold 0, a poor graph (M=4, ef=2) and dense allowed sets: the HNSW path runs,
    # often misses and must widen, then gather; it may be approximate, never short.
    index = await open_index(8, exact_threshold=0, m=4, ef_construction=8, ef_search=2)
    await run_case(index, case, exact=isinstance(index, ExactIndex))
    await index.aclose()


async def test_hnsw_filtered_recall_is_high(open_index: Factory) -> None:
    rng = np.random.default_rng(7)
    n, d, k = 2000, 16, 10
    vectors = unit(rng, n, d)
    keys = np.arange(1, n + 1, dtype=np.int64)
    oracle = ExactIndex(d)
    index = await open_index(d, exact_threshold=0)
    await oracle.add(keys, vectors)
    await index.add(keys, vectors)
    hits = total = 0
    for fraction in (1.0, 0.7, 0.5):
        allowed = np.sort(rng.choice(keys, int(n * fraction), replace=False))
        plan = plan_search(size=n, allowed=allowed.size, k=k, exact_threshold=0, ef_search=50)
        assert plan.strategy is Strategy.HNSW  # the approximate path is what is measured
        for query in unit(rng, 20, d):
            got, _ = await index.search(query, k, allowed)
            want, _ = await oracle.search(query, k, allowed)
            assert np.isin(got, allowed).all() and got.size == k
            hits += len(set(got.tolist()) & set(want.tolist()))
            total += k
    await oracle.aclose()
    assert hits / total >= 0.95


async def test_one_allowed_key_among_twenty_thousand_is_found(open_index: Factory) -> None:
    # The bug this design exists to prevent: post-filtering 10 x k global neighbours left a
    # user with one memory among many other users' with no results.
    rng = np.random.default_rng(8)
    n, d = 20_000, 16
    vectors = unit(rng, n, d)
    keys = np.arange(1, n + 1, dtype=np.int64)
    query = vectors[0]
    order = np.argsort(vectors @ query)  # least similar first
    mine = int(order[0]) + 1
    index = await open_index(d, exact_threshold=0, **CHEAP)
    await index.add(keys, vectors)

    found, sims = await index.search(query, 5, keys_of(mine))
    assert found.tolist() == [mine]
    assert sims[0] == pytest.approx(float(vectors[mine - 1] @ query), abs=1e-4)

    # 2,000 allowed keys, all far from the query: big enough for the HNSW plan, but the
    # nearest candidates hold none of them, so the search widens, then gathers: exact.
    far = np.sort(order[:2000] + 1).astype(np.int64)
    plan = plan_search(size=n, allowed=far.size, k=5, exact_threshold=0, ef_search=16)
    assert plan.strategy is Strategy.HNSW
    found, _ = await index.search(query, 5, far)
    assert found.tolist() == (order[:2000][::-1][:5] + 1).tolist()

    # 5,000 keys ranked 300th to 5,300th by similarity: the first 128 candidates hold none,
    # the widened search (512 candidates) does.
    middle = np.sort(order[::-1][300:5300] + 1).astype(np.int64)
    found, sims = await index.search(query, 5, middle)
    assert found.size == 5 and np.isin(found, middle).all()
    assert sims[0] <= float(vectors[order[::-1][300]] @ query) + 1e-4


async def test_allowed_keys_missing_from_the_index_are_ignored(open_index: Factory) -> None:
    # Allowed sets may name keys not indexed (yet): a rebuild in progress, a racing delete.
    rng = np.random.default_rng(12)
    n, d = 3000, 16
    vectors = unit(rng, n, d)
    keys = np.arange(1, n + 1, dtype=np.int64)
    table = {int(key): vectors[i] for i, key in enumerate(keys)}
    index = await open_index(d, exact_threshold=0, **CHEAP)
    await index.add(keys, vectors)
    absent = np.arange(10_001, 15_001, dtype=np.int64)
    query = unit(rng, 1, d)[0]
    for present in (rng.choice(keys, 5, replace=False), rng.choice(keys, 1500, replace=False)):
        allowed = np.sort(np.concatenate((present, absent)))
        got = await index.search(query, 10, allowed)
        assert_valid_top_k(got, query=query, vectors=table, allowed=allowed, k=10, exact=False)
    assert (await index.search(query, 10, absent))[0].size == 0


async def test_exact_as_the_index_grows_past_its_threshold_and_shrinks_back(
    open_index: Factory,
) -> None:
    # A small UsearchIndex answers from a copy of its vectors, renewed by every change; past
    # the threshold it searches the graph, and back under it makes the copy from the graph.
    rng = np.random.default_rng(13)
    d = 8
    vectors = unit(rng, 60, d)
    keys = np.arange(1, 61, dtype=np.int64)
    index = await open_index(d, exact_threshold=32)
    table: dict[int, Floats] = {}

    async def add(chosen: slice, rows: Floats) -> None:
        await index.add(keys[chosen], rows)
        table.update(zip(keys[chosen].tolist(), rows, strict=True))

    async def remove(chosen: slice) -> None:
        await index.remove(keys[chosen])
        for key in keys[chosen].tolist():
            table.pop(key, None)

    async def check(*, exact: bool) -> None:
        assert (await index.keys()).tolist() == sorted(table)
        for query in unit(rng, 4, d):
            for allowed in (None, np.arange(1, 61, 3, dtype=np.int64)):
                got = await index.search(query, 7, allowed)
                assert_valid_top_k(
                    got, query=query, vectors=table, allowed=allowed, k=7, exact=exact
                )

    await add(slice(0, 30), vectors[:30])
    await check(exact=True)
    await add(slice(4, 6), vectors[50:52])  # replaced vectors
    await check(exact=True)
    await add(slice(30, 60), vectors[30:])  # 60 vectors: past the threshold
    await check(exact=False)
    await remove(slice(0, 40))  # 20 left
    await check(exact=True)
    await add(slice(0, 3), vectors[:3])
    await remove(slice(40, 45))
    await check(exact=True)


# -- bad input ------------------------------------------------------------------------


async def test_bad_input_raises_our_errors_and_stores_nothing(open_index: Factory) -> None:
    index = await open_index(8)
    good = unit(np.random.default_rng(9), 2, 8)
    await index.add(keys_of(1, 2), good)

    nan = good.copy()
    nan[1, 3] = np.nan
    not_unit = good * 3
    bad_adds: list[tuple[object, object, type[Exception]]] = [
        (keys_of(3, 4), unit(np.random.default_rng(0), 2, 9), DimensionMismatchError),
        (keys_of(3, 4), nan, InvalidEmbeddingError),
        (keys_of(3, 4), np.full((2, 8), np.inf, dtype=np.float32), InvalidEmbeddingError),
        (keys_of(3, 4), not_unit, InvalidEmbeddingError),
        (keys_of(3, 4), np.zeros((2, 8), dtype=np.float32), InvalidEmbeddingError),
        (keys_of(3, 4, 5), good, ValidationError),
        (keys_of(3), good, ValidationError),
        (keys_of(3, 3), good, ValidationError),
        (keys_of(-1, 4), good, ValidationError),
        (np.array([3.0, 4.0]), good, ValidationError),
        (np.array([[3, 4]]), good, ValidationError),
        (keys_of(3, 4), good[0], InvalidEmbeddingError),
        (keys_of(3, 4), good.astype(np.int64), InvalidEmbeddingError),
        (keys_of(3, 4), [["a"] * 8] * 2, InvalidEmbeddingError),
    ]
    for keys, vectors, error in bad_adds:
        with pytest.raises(error):
            await index.add(keys, vectors)  # type: ignore[arg-type]
    assert len(index) == 2
    assert (await index.keys()).tolist() == [1, 2]

    query = good[0]
    with pytest.raises(DimensionMismatchError):
        await index.search(unit(np.random.default_rng(0), 1, 9)[0], 3)
    with pytest.raises(InvalidEmbeddingError):
        await index.search(np.full(8, np.nan, dtype=np.float32), 3)
    with pytest.raises(InvalidEmbeddingError):
        await index.search(good, 3)  # two queries
    with pytest.raises(ValidationError):
        await index.search(query, -1)
    with pytest.raises(ValidationError):
        await index.search(query, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await index.search(query, 3, np.array([[1, 2]]))
    with pytest.raises(ValidationError):
        await index.search(query, 3, np.array([1.0, 2.0]))
    with pytest.raises(ValidationError):
        await index.remove(keys_of(-5))
    # A (1, d) query and float64 input are accepted as the same vector.
    found, _ = await index.search(good[:1].astype(np.float64), 1)
    assert found.tolist() == [1]


async def test_use_after_aclose_raises_closed_error(open_index: Factory) -> None:
    index = await open_index(8)
    vectors = unit(np.random.default_rng(10), 1, 8)
    await index.add(keys_of(1), vectors)
    async with anyio.create_task_group() as group:  # concurrent closes are fine too
        group.start_soon(index.aclose)
        group.start_soon(index.aclose)
    await index.aclose()  # idempotent
    with pytest.raises(ClosedError):
        await index.add(keys_of(2), vectors)
    with pytest.raises(ClosedError):
        await index.search(vectors[0], 1)
    with pytest.raises(ClosedError):
        await index.remove(keys_of(1))
    with pytest.raises(ClosedError):
        await index.keys()
    with pytest.raises(ClosedError):
        await index.save()
    with pytest.raises(ClosedError):
        len(index)


# -- concurrency ----------------------------------------------------------------------


async def test_concurrent_search_add_and_remove(open_index: Factory) -> None:
    rng = np.random.default_rng(11)
    d = 16
    base = unit(rng, 500, d)
    extra = unit(rng, 300, d)
    queries = unit(rng, 40, d)
    index = await open_index(d, exact_threshold=64, **CHEAP)
    await index.add(np.arange(1, 501, dtype=np.int64), base)
    extra_keys = np.arange(1001, 1301, dtype=np.int64)

    async def adder() -> None:
        for start in range(0, 300, 10):
            await index.add(extra_keys[start : start + 10], extra[start : start + 10])

    async def remover() -> None:
        for key in range(1, 101):
            await index.remove(keys_of(key))

    async def searcher(allowed: Ints | None) -> None:
        for query in queries:
            keys, _ = await index.search(query, 10, allowed)
            assert keys.size <= 10
            if allowed is not None:
                assert np.isin(keys, allowed).all()

    async with anyio.create_task_group() as group:
        group.start_soon(adder)
        group.start_soon(remover)
        group.start_soon(searcher, None)
        group.start_soon(searcher, np.arange(50, 150, dtype=np.int64))
        group.start_soon(searcher, np.arange(1, 1301, 2, dtype=np.int64))
        group.start_soon(index.save)

    expected = list(range(101, 501)) + extra_keys.tolist()
    assert (await index.keys()).tolist() == expected
    assert len(index) == len(expected)


async def test_index_satisfies_the_protocol() -> None:
    # mypy checks the assignments; at run time, the surface the facade relies on.
    exact: KeyedVectorIndex = ExactIndex(4)
    hnsw: KeyedVectorIndex = await UsearchIndex.open(None, 4)
    for index in (exact, hnsw):
        assert index.dimension == 4
        await index.save()  # in memory: a no-op
        await index.aclose()


# -- the pure strategy rules ----------------------------------------------------------


def test_plan_gathers_small_or_rare_sets_and_oversamples_the_rest() -> None:
    def plan(allowed: int, threshold: int = 2048, k: int = 10) -> Plan:
        return plan_search(
            size=100_000, allowed=allowed, k=k, exact_threshold=threshold, ef_search=50
        )

    assert plan(2048).strategy is Strategy.GATHER
    assert plan(50_000) == Plan(Strategy.HNSW, 200)  # 2 x ef_search x N / |allowed|
    assert plan(10_000) == Plan(Strategy.HNSW, 1000)
    assert plan(7000) == Plan(Strategy.HNSW, 1429)
    # 1,667 candidates would cost more than gathering 6,000 vectors.
    assert plan(6000).strategy is Strategy.GATHER
    assert plan(100, threshold=0).strategy is Strategy.GATHER
    assert plan(10_000, k=100) == Plan(Strategy.HNSW, 2000)  # k > ef_search
    assert plan(8000, k=100).strategy is Strategy.GATHER
    assert widen(Plan(Strategy.HNSW, 200), size=100_000, allowed=50_000) == Plan(Strategy.HNSW, 800)
    assert widen(Plan(Strategy.HNSW, 1000), size=100_000, allowed=10_000).strategy is (
        Strategy.GATHER
    )
    assert widen(Plan(Strategy.HNSW, 10), size=10, allowed=10).strategy is Strategy.GATHER


def test_presence_is_estimated_from_an_even_sample() -> None:
    small = np.arange(100, dtype=np.int64)
    assert estimate_sample(small) is small
    large = np.arange(100_000, dtype=np.int64)
    sample = estimate_sample(large)
    assert sample.size == 1024 and sample[0] == 0 and sample[-1] > 99_800
    assert estimate_present(100, 100, 37) == 37
    assert estimate_present(100_000, 1024, 512) == 50_000


def test_membership_and_top_k_helpers() -> None:
    allowed = check_allowed(np.array([9, -3, 4, 4, 1], dtype=np.int64))
    assert allowed.tolist() == [1, 4, 9]
    assert is_member(allowed, keys_of(0, 1, 5, 9, 10)).tolist() == [False, True, False, True, False]
    assert is_member(keys_of(), keys_of(1, 2)).tolist() == [False, False]
    keys, sims = top_k(keys_of(5, 3, 8, 1), np.array([0.1, 0.9, 0.9, 0.5], dtype=np.float32), 3)
    assert keys.tolist() == [3, 8, 1]  # tie at 0.9 broken by the smaller key
    assert sims.dtype == np.float32
