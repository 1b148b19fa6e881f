"""Hostile and bad input: a specific error and nothing stored, or (for searches) results or [].

"Nothing stored" is checked in every store: the rows (stats), the vector index's keys and the
FTS index's rows. Embedders that misbehave (NaN, infinities, the wrong dimension, the wrong
count, zero or misshapen vectors) are fakes injected at the embedder port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.embedders.base import Vectors
from headroom.errors import (
    DimensionMismatchError,
    EmbedderError,
    InvalidEmbeddingError,
    NotFoundError,
    ValidationError,
)
from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter, NewMemory
from tests.backends import NewConfig
from tests.fakes import HashingEmbedder
from tests.introspect import footprint

pytestmark = pytest.mark.anyio

LIMIT = 200  # MemoryConfig.max_content_chars in these tests
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def config(new_config: NewConfig) -> MemoryConfig:
    # Queries up to 100,000 characters, so the hostile ones below reach both indexes.
    return new_config(max_content_chars=LIMIT, max_query_chars=100_000)


@pytest.fixture
async def memory(config: MemoryConfig) -> AsyncIterator[HierarchicalMemory]:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as m:
        yield m


def _deep(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


def _circular() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


BAD_CONTENT: list[object] = [
    "",
    " ",
    "\t\n \r",
    "\u3000\u2003",  # ideographic and em spaces
    "x" * (LIMIT + 1),
    "🙂" * (LIMIT + 1),
    42,
    None,
    b"bytes",
    ["a list"],
    {"a": "dict"},
    "nul \x00 byte",
    "\x00",
    "lone \ud800 surrogate",
    "lone \udfff low surrogate",
    "half an emoji \ud83d",
]

BAD_ADD_ARGUMENTS: list[dict[str, Any]] = [
    {"category": "gossip"},
    {"category": ""},
    {"category": 3},
    {"category": None},
    {"importance": -0.01},
    {"importance": 1.01},
    {"importance": float("nan")},
    {"importance": float("inf")},
    {"importance": float("-inf")},
    {"importance": "0.5"},
    {"importance": None},
    {"importance": True},
    {"user_id": ""},
    {"user_id": "   "},
    {"user_id": None},
    {"user_id": 5},
    {"user_id": "a\x00b"},
    {"user_id": "u\ud800"},
    {"session_id": ""},
    {"session_id": 7},
    {"session_id": "s\udfff"},
    {"agent_id": ["x"]},
    {"agent_id": "a\ud800"},
    {"turn_id": "t\x00"},
    {"turn_id": "t\ud800"},
    {"metadata": "not a dict"},
    {"metadata": ["list"]},
    {"metadata": {1: "int key"}},
    {"metadata": {"when": datetime(2024, 1, 1)}},
    {"metadata": {"s": {1, 2}}},
    {"metadata": {"b": b"bytes"}},
    {"metadata": {"f": float("nan")}},
    {"metadata": {"f": float("inf")}},
    {"metadata": {"x": "\ud800"}},
    {"metadata": {"\ud800": "key"}},
    {"metadata": {"big": 10**5000}},
    {"metadata": _circular()},
    {"metadata": _deep(100_000)},
]


@pytest.mark.parametrize("content", BAD_CONTENT, ids=repr)
async def test_bad_content_is_refused(memory: HierarchicalMemory, content: object) -> None:
    before = await footprint(memory)
    with pytest.raises(ValidationError):
        await memory.add(content, user_id="u")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await memory.add_many([NewMemory("fine", "u"), NewMemory(content, "u")])  # type: ignore[arg-type]
    assert await footprint(memory) == before


async def test_content_at_the_limit_is_accepted(memory: HierarchicalMemory) -> None:
    stored = await memory.add("y" * LIMIT, user_id="u")
    assert (await memory.get(stored.id)).content == "y" * LIMIT


@pytest.mark.parametrize(
    "arguments",
    BAD_ADD_ARGUMENTS,
    ids=[f"{i}-{next(iter(a))}" for i, a in enumerate(BAD_ADD_ARGUMENTS)],
)
async def test_bad_arguments_are_refused(
    memory: HierarchicalMemory, arguments: dict[str, Any]
) -> None:
    before = await footprint(memory)
    kwargs: dict[str, Any] = {"user_id": "u", **arguments}
    with pytest.raises(ValidationError):
        await memory.add("valid content", **kwargs)
    with pytest.raises(ValidationError):
        await memory.add_many([{"content": "fine", "user_id": "u"}, {"content": "ok", **kwargs}])
    assert await footprint(memory) == before


@pytest.mark.parametrize(
    "items",
    [None, 42, "a string", b"bytes", {"content": "x", "user_id": "u"}, [42], [None], ["text"]],
    ids=repr,
)
async def test_add_many_refuses_what_is_not_a_list_of_memories(
    memory: HierarchicalMemory, items: object
) -> None:
    with pytest.raises(ValidationError):
        await memory.add_many(items)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await memory.add_many([{"content": "x", "user_id": "u", "colour": "red"}])
    assert (await memory.stats()).total == 0


BAD_IDS: list[object] = ["not-a-uuid", "", " ", 12, None, "\ud800", "x" * 10_000, b"bytes"]


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=lambda v: repr(v)[:20])
async def test_malformed_ids_are_refused(memory: HierarchicalMemory, bad_id: object) -> None:
    kept = await memory.add("kept", user_id="u")
    before = await footprint(memory)
    calls: list[Callable[[], Any]] = [
        lambda: memory.get(bad_id),  # type: ignore[arg-type]
        lambda: memory.delete(bad_id),  # type: ignore[arg-type]
        lambda: memory.get_history(bad_id),  # type: ignore[arg-type]
        lambda: memory.rollback(bad_id),  # type: ignore[arg-type]
        lambda: memory.supersede(bad_id, "new"),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(ValidationError):
            await call()
    assert await footprint(memory) == before
    assert (await memory.get(kept.id)).is_current


async def test_unknown_ids_are_not_found(memory: HierarchicalMemory) -> None:
    await memory.add("kept", user_id="u")
    before = await footprint(memory)
    for call in (memory.get, memory.delete, memory.get_history, memory.rollback):
        with pytest.raises(NotFoundError):
            await call(UNKNOWN_ID)
    with pytest.raises(NotFoundError):
        await memory.supersede(UNKNOWN_ID, "new")
    assert await footprint(memory) == before


@pytest.mark.parametrize("content", BAD_CONTENT[:8] + BAD_CONTENT[11:], ids=repr)
async def test_bad_supersede_changes_nothing(memory: HierarchicalMemory, content: object) -> None:
    old = await memory.add("Works at Google", user_id="u")
    before = await footprint(memory)
    with pytest.raises(ValidationError):
        await memory.supersede(old.id, content)  # type: ignore[arg-type]
    for arguments in (
        {"category": "gossip"},
        {"importance": 2},
        {"metadata": {"d": datetime.now()}},
    ):
        with pytest.raises(ValidationError):
            await memory.supersede(old.id, "Works at Anthropic", **arguments)
    assert await footprint(memory) == before
    assert (await memory.get(old.id)).is_current


@pytest.mark.parametrize(
    "arguments",
    [
        {"user_id": None},
        {"user_id": ""},
        {"user_id": 3},
        {"user_id": "u\ud800"},
        {"user_id": "u", "session_id": ""},
        {"user_id": "u", "agent_id": 1},
        {"user_id": "u", "turn_id": "t\ud800"},
    ],
    ids=repr,
)
async def test_bad_clear_and_stats_are_refused(
    memory: HierarchicalMemory, arguments: dict[str, Any]
) -> None:
    await memory.add("kept", user_id="u")
    with pytest.raises(ValidationError):
        await memory.clear(**arguments)
    if arguments["user_id"] is not None:
        with pytest.raises(ValidationError):
            await memory.stats(**arguments)
    assert (await memory.stats()).total == 1


@pytest.mark.parametrize(
    "make_filter",
    [
        lambda: MemoryFilter(user_id=""),
        lambda: MemoryFilter(user_id="u\ud800"),
        lambda: MemoryFilter(session_id=5),  # type: ignore[arg-type]
        lambda: MemoryFilter(categories={"gossip"}),  # type: ignore[arg-type]
        lambda: MemoryFilter(scope_levels={"planet"}),  # type: ignore[arg-type]
        lambda: MemoryFilter(valid_at=datetime(2024, 1, 1)),  # naive
        lambda: MemoryFilter(created_after="yesterday"),  # type: ignore[arg-type]
        lambda: MemoryFilter(min_importance=1.5),
        lambda: MemoryFilter(limit=-1),
        lambda: MemoryFilter(limit=2**63),
        lambda: MemoryFilter(offset=-1),
        lambda: MemoryFilter(offset=2**63),
        lambda: MemoryFilter(limit=True),
    ],
)
async def test_bad_filters_are_refused(
    memory: HierarchicalMemory, make_filter: Callable[[], MemoryFilter]
) -> None:
    with pytest.raises(ValidationError):
        await memory.query(make_filter())
    with pytest.raises(ValidationError):
        await memory.query("user_id = 'u'")  # type: ignore[arg-type]


async def test_extreme_but_valid_filters_work(memory: HierarchicalMemory) -> None:
    await memory.add("one", user_id="u")
    assert len(await memory.query(MemoryFilter(limit=2**63 - 1))) == 1
    assert await memory.query(MemoryFilter(offset=2**63 - 1)) == []


# -- searches -------------------------------------------------------------------------------

HOSTILE_QUERIES = [
    "",
    " ",
    '"',
    '""',
    "'",
    'C++ AND "unbalanced',
    "NEAR(a b)",
    "NEAR(",
    "a NOT b",
    "a OR",
    "AND",
    "OR OR OR",
    "*",
    "a*",
    "^start",
    "content:secret",
    "owner:u123 OR content:x",
    "memories_fts",
    "{a b}:x",
    "(((",
    ")))",
    "a - b",
    "\\",
    "--",
    "'; DROP TABLE memories; --",
    "x" * 10_000,
    " ".join(f"word{i}" for i in range(3000)),
    "!!!???...",
    "🙂🔥🚀",
    "🙂 likes 🍕",
    "مرحبا بالعالم",
    "\u200b\u200d\ufeff",
    "a\x00b",
    "\x00",
    "lone \ud800",
    "\udfff",
    "e\u0301\u0301\u0301",
    "%_%",
    "?1 ?2 :name @p $v",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=lambda q: repr(q)[:30])
async def test_hostile_queries_return_results_or_nothing(
    memory: HierarchicalMemory, query: str
) -> None:
    await memory.add("C++ templates are hard", user_id="u")
    await memory.add("🙂 likes 🍕 and content:secret", user_id="u", session_id="s")
    for kwargs in ({}, {"session_id": "s"}, {"include_superseded": True, "categories": ["fact"]}):
        hits = await memory.search(query, user_id="u", top_k=5, **kwargs)
        assert isinstance(hits, list)
        assert all(hit.memory.user_id == "u" for hit in hits)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(query=st.text(max_size=300))
async def test_any_text_is_a_safe_query(memory: HierarchicalMemory, query: str) -> None:
    if not await memory.query(MemoryFilter(limit=1)):
        await memory.add("a memory about cats and dogs", user_id="u")
    hits = await memory.search(query, user_id="u")
    assert isinstance(hits, list)


@pytest.mark.parametrize(
    "arguments",
    [
        {"query": None},
        {"query": 42},
        {"query": b"bytes"},
        {"user_id": None},
        {"user_id": "u\ud800"},
        {"session_id": 3},
        {"top_k": 0},
        {"top_k": -1},
        {"top_k": 1.5},
        {"top_k": True},
        {"categories": ["gossip"]},
        {"min_similarity": "high"},
        {"min_similarity": float("nan")},
    ],
    ids=repr,
)
async def test_bad_search_arguments_are_refused(
    memory: HierarchicalMemory, arguments: dict[str, Any]
) -> None:
    await memory.add("something to find", user_id="u")
    kwargs: dict[str, Any] = {"query": "something", "user_id": "u", **arguments}
    query = kwargs.pop("query")
    with pytest.raises(ValidationError):
        await memory.search(query, **kwargs)


# -- embedders that misbehave ---------------------------------------------------------------


class FaultyEmbedder(HashingEmbedder):
    """A hashing embedder whose answers can be spoiled in one of several ways."""

    def __init__(self) -> None:
        super().__init__()
        self.fault: str | None = None

    async def embed(self, texts: Sequence[str]) -> Vectors:
        good = await super().embed(texts)
        spoil: dict[str | None, Callable[[Vectors], object]] = {
            None: lambda v: v,
            "nan": lambda v: np.where(np.arange(v.size).reshape(v.shape) == 0, np.nan, v),
            "inf": lambda v: np.full_like(v, np.inf),
            "zero": lambda v: np.zeros_like(v),
            "too wide": lambda v: np.hstack([v, v]),
            "too narrow": lambda v: v[:, :-1],
            "too few": lambda v: v[:-1],
            "too many": lambda v: np.vstack([v, v]),
            "flat": lambda v: v.ravel(),
            "3-d": lambda v: v[None, :, :],
            "strings": lambda v: [["a"] * v.shape[1]] * v.shape[0],
            "none": lambda v: None,
        }
        return spoil[self.fault](good)  # type: ignore[return-value]


FAULTS = {
    "nan": InvalidEmbeddingError,
    "inf": InvalidEmbeddingError,
    "zero": InvalidEmbeddingError,
    "too wide": DimensionMismatchError,
    "too narrow": DimensionMismatchError,
    "too few": InvalidEmbeddingError,
    "too many": InvalidEmbeddingError,
    "flat": InvalidEmbeddingError,
    "3-d": InvalidEmbeddingError,
    "strings": InvalidEmbeddingError,
    "none": InvalidEmbeddingError,
}


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_misbehaving_embedder_raises_a_specific_error(
    tmp_path: Path, fault: str, cache: bool
) -> None:
    embedder = FaultyEmbedder()
    config = MemoryConfig(db_path=tmp_path / "memory.db", cache_enabled=cache)
    async with await HierarchicalMemory.create(config, embedder=embedder) as memory:
        old = await memory.add("Works at Google", user_id="u")
        before = await footprint(memory)
        embedder.fault = fault
        expected = FAULTS[fault]
        with pytest.raises(expected):
            await memory.add(f"new fact ({fault})", user_id="u")
        with pytest.raises(expected):
            await memory.add_many(
                [NewMemory(f"first {fault}", "u"), NewMemory(f"2nd {fault}", "u")]
            )
        with pytest.raises(expected):
            await memory.supersede(old.id, f"Works at Anthropic ({fault})")
        with pytest.raises(expected):  # the error itself, not wrapped in an exception group
            await memory.search(f"where does she work ({fault})", user_id="u")
        assert await footprint(memory) == before
        assert (await memory.get(old.id)).is_current
        embedder.fault = None  # a fault is not remembered: the same texts now work
        await memory.add(f"new fact ({fault})", user_id="u")
        assert len(await memory.search(f"where does she work ({fault})", user_id="u")) == 2
    assert issubclass(expected, EmbedderError)
