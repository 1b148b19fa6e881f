"""BaseStore's documented contract, checked on LangGraph's reference store and on ours.

Each test runs on ``InMemoryStore`` (LangGraph's own, so the test is known to say what
BaseStore promises, not what headroom happens to do) and on ``HeadroomStore`` over a real
SQLite file, through the sync API and the async one. Namespaces start with the user's id,
which is ``HeadroomStore``'s default rule. A property test then runs random sequences of
operations on both and compares every result.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langgraph.store.base import BaseStore, IndexConfig, InvalidNamespaceError, Item, SearchItem
from langgraph.store.memory import InMemoryStore

from headroom.integrations.langgraph import HeadroomStore
from headroom.memory import MemoryConfig
from tests.fakes import HashingEmbedder

_WORD = re.compile(r"\w+")


def bag_of_words(texts: Sequence[str]) -> list[list[float]]:
    """The reference store's embedding: the same bag-of-words idea as HashingEmbedder."""
    out = []
    for text in texts:
        vector = [0.0] * 64
        for word in _WORD.findall(text.lower()) or [text]:
            value = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            vector[value % 64] += 1.0
        norm = sum(v * v for v in vector) ** 0.5 or 1.0
        out.append([v / norm for v in vector])
    return out


INDEX: IndexConfig = {"dims": 64, "embed": bag_of_words}


@pytest.fixture(params=["reference", "headroom"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    if request.param == "reference":
        yield InMemoryStore(index=INDEX)
        return
    opened = HeadroomStore.open(
        MemoryConfig(db_path=tmp_path / "lg.db"), embedder=HashingEmbedder()
    )
    with opened:
        yield opened


def test_put_then_get_returns_the_item(store: BaseStore) -> None:
    store.put(("alice", "prefs"), "editor", {"text": "Alice uses vim", "level": 3})
    item = store.get(("alice", "prefs"), "editor")
    assert isinstance(item, Item)
    assert item.value == {"text": "Alice uses vim", "level": 3}
    assert (item.namespace, item.key) == (("alice", "prefs"), "editor")
    assert isinstance(item.created_at, datetime) and item.created_at.tzinfo is not None
    assert item.created_at <= item.updated_at
    assert store.get(("alice", "prefs"), "missing") is None
    assert store.get(("bob", "prefs"), "editor") is None


def test_put_on_an_existing_key_replaces_the_value(store: BaseStore) -> None:
    store.put(("alice", "prefs"), "editor", {"text": "vim"})
    first = store.get(("alice", "prefs"), "editor")
    store.put(("alice", "prefs"), "editor", {"text": "emacs"})
    second = store.get(("alice", "prefs"), "editor")
    assert first is not None and second is not None
    assert second.value == {"text": "emacs"}
    assert second.updated_at >= first.updated_at  # (created_at: the reference resets it)
    assert len(store.search(("alice",))) == 1


def test_delete_removes_the_item(store: BaseStore) -> None:
    store.put(("alice", "prefs"), "editor", {"text": "vim"})
    store.delete(("alice", "prefs"), "editor")
    assert store.get(("alice", "prefs"), "editor") is None
    store.delete(("alice", "prefs"), "editor")  # deleting nothing is not an error
    assert store.search(("alice",)) == []


def _fill(store: BaseStore) -> None:
    store.put(("alice", "docs"), "a", {"text": "quarterly report", "kind": "report", "n": 1})
    store.put(("alice", "docs"), "b", {"text": "meeting notes", "kind": "notes", "n": 5})
    store.put(("alice", "docs", "old"), "c", {"text": "old report", "kind": "report", "n": 9})
    store.put(
        ("alice", "prefs"),
        "d",
        {"text": "likes tea", "kind": "pref", "n": 0, "meta": {"source": "chat"}},
    )
    store.put(("bob", "docs"), "e", {"text": "bob's report", "kind": "report", "n": 2})


def _keys(items: list[SearchItem]) -> list[str]:
    return sorted(item.key for item in items)


def test_search_sees_exactly_the_namespace_prefix(store: BaseStore) -> None:
    _fill(store)
    assert _keys(store.search(("alice",))) == ["a", "b", "c", "d"]
    assert _keys(store.search(("alice", "docs"))) == ["a", "b", "c"]
    assert _keys(store.search(("alice", "docs", "old"))) == ["c"]
    assert _keys(store.search(("bob",))) == ["e"]
    assert _keys(store.search((), limit=100)) == ["a", "b", "c", "d", "e"]
    assert store.search(("carol",)) == []
    assert all(isinstance(item, SearchItem) for item in store.search(("alice",)))


@pytest.mark.parametrize(
    ("where", "keys"),
    [
        ({"kind": "report"}, ["a", "c"]),
        ({"kind": {"$eq": "notes"}}, ["b"]),
        ({"kind": {"$ne": "report"}}, ["b", "d"]),
        ({"n": {"$gt": 1}}, ["b", "c"]),
        ({"n": {"$gte": 1, "$lt": 9}}, ["a", "b"]),
        ({"n": {"$lte": 5}, "kind": "report"}, ["a"]),
        ({"meta": {"source": "chat"}}, ["d"]),
        ({"kind": "missing"}, []),
    ],
)
def test_search_filters_on_value_fields(
    store: BaseStore, where: dict[str, Any], keys: list[str]
) -> None:
    _fill(store)
    assert _keys(store.search(("alice",), filter=where)) == keys


def test_search_pages_with_limit_and_offset(store: BaseStore) -> None:
    for number in range(7):
        store.put(("alice", "log"), f"k{number}", {"text": f"entry {number}"})
    pages = [store.search(("alice",), limit=3, offset=start) for start in (0, 3, 6)]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(k for page in pages for k in _keys(page)) == [f"k{n}" for n in range(7)]


def test_search_with_a_query_ranks_by_relevance(store: BaseStore) -> None:
    _fill(store)
    found = store.search(("alice",), query="quarterly report", limit=2)
    assert found[0].key == "a"
    assert found[0].score is not None
    assert all(item.namespace[0] == "alice" for item in found)
    filtered = store.search(("alice",), query="report", filter={"kind": "notes"})
    assert _keys(filtered) == ["b"]


def test_list_namespaces(store: BaseStore) -> None:
    for namespace in [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"),
                      ("a", "c", "f")]:  # fmt: skip
        store.put(namespace, "k", {"text": "x"})
    # The example of BaseStore.list_namespaces' docstring.
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert store.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a",), max_depth=2) == [("a", "b"), ("a", "c")]
    assert len(store.list_namespaces()) == 5
    assert store.list_namespaces(limit=2, offset=1) == sorted(store.list_namespaces())[1:3]


def test_invalid_namespaces_are_refused(store: BaseStore) -> None:
    for namespace in [(), ("alice", ""), ("alice", "a.b"), ("langgraph", "x")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(namespace, "k", {"text": "x"})


def test_batch_returns_results_in_order(store: BaseStore) -> None:
    from langgraph.store.base import GetOp, ListNamespacesOp, PutOp, SearchOp

    store.put(("alice", "n"), "k", {"text": "before"})
    results = store.batch(
        [
            GetOp(("alice", "n"), "k"),
            PutOp(("alice", "n"), "k2", {"text": "new"}),
            SearchOp(("alice",)),
            ListNamespacesOp(),
        ]
    )
    assert len(results) == 4
    first = results[0]
    assert isinstance(first, Item) and first.value == {"text": "before"}
    assert results[1] is None
    assert store.get(("alice", "n"), "k2") is not None


@pytest.mark.anyio
async def test_the_async_api(tmp_path: Path) -> None:
    stores: list[BaseStore] = [
        InMemoryStore(index=INDEX),
        await HeadroomStore.acreate(
            MemoryConfig(db_path=tmp_path / "lg.db"), embedder=HashingEmbedder()
        ),
    ]
    for store in stores:
        await store.aput(("alice", "prefs"), "tea", {"text": "Alice likes green tea"})
        await store.aput(("alice", "prefs"), "tea", {"text": "Alice likes black tea"})
        item = await store.aget(("alice", "prefs"), "tea")
        assert item is not None and item.value == {"text": "Alice likes black tea"}
        found = await store.asearch(("alice",), query="tea")
        assert [i.key for i in found] == ["tea"]
        assert await store.alist_namespaces() == [("alice", "prefs")]
        await store.adelete(("alice", "prefs"), "tea")
        assert await store.aget(("alice", "prefs"), "tea") is None
    headroom_store = stores[1]
    assert isinstance(headroom_store, HeadroomStore)
    await headroom_store.aclose()


# -- random sequences, compared with the reference store -------------------------------------------

_NAMESPACES = [("alice", "a"), ("alice", "a", "x"), ("alice", "b"), ("bob", "a")]
_op = st.one_of(
    st.tuples(
        st.just("put"),
        st.sampled_from(_NAMESPACES),
        st.sampled_from(["k1", "k2", "k3"]),
        st.fixed_dictionaries(
            {"text": st.sampled_from(["tea", "coffee", "water"]), "n": st.integers(0, 3)}
        ),
    ),
    st.tuples(st.just("delete"), st.sampled_from(_NAMESPACES), st.sampled_from(["k1", "k2"])),
    st.tuples(st.just("get"), st.sampled_from(_NAMESPACES), st.sampled_from(["k1", "k2", "k3"])),
    st.tuples(
        st.just("search"),
        st.sampled_from([(), ("alice",), ("alice", "a"), ("bob",)]),
        st.sampled_from([None, {"n": {"$gte": 2}}, {"text": "tea"}, {"n": 1}]),
    ),
    st.tuples(
        st.just("namespaces"), st.sampled_from([None, ("alice",)]), st.sampled_from([None, 1])
    ),
)


def _apply(store: BaseStore, op: tuple[Any, ...]) -> object:
    kind = op[0]
    if kind == "put":
        store.put(op[1], op[2], op[3])
        return None
    if kind == "delete":
        store.delete(op[1], op[2])
        return None
    if kind == "get":
        item = store.get(op[1], op[2])
        return None if item is None else (item.namespace, item.key, item.value)
    if kind == "search":
        found = store.search(op[1], filter=op[2], limit=100)
        return sorted((i.namespace, i.key, repr(i.value)) for i in found)
    # Only namespaces holding items: the reference also lists one where a missing key was
    # deleted (an artefact of its dict of dicts, not part of the contract).
    prefix, depth = op[1], op[2]
    held = [
        ns
        for ns in store.list_namespaces(prefix=prefix, limit=1000)
        if any(item.namespace == ns for item in store.search(ns, limit=1000))
    ]
    return held if depth is None else sorted({ns[:depth] for ns in held})


@settings(
    max_examples=40,
    derandomize=True,  # the same sequences on every run: a failure is never a matter of luck
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(_op, max_size=12))
@example(  # a key deleted from a namespace whose subtree still holds items
    ops=[
        ("put", ("alice", "a"), "k1", {"text": "tea", "n": 0}),
        ("put", ("alice", "a", "x"), "k1", {"text": "tea", "n": 0}),
        ("delete", ("alice", "a"), "k1"),
        ("namespaces", None, None),
        ("namespaces", ("alice",), 1),
    ]
)
def test_random_operations_match_the_reference(tmp_path_factory: Any, ops: list[Any]) -> None:
    reference = InMemoryStore()
    path = tmp_path_factory.mktemp("lg") / "lg.db"
    with HeadroomStore.open(MemoryConfig(db_path=path), embedder=HashingEmbedder()) as ours:
        for op in ops:
            expected = _apply(reference, op)
            assert _apply(ours, op) == expected, op
            if op[0] == "namespaces":  # ours lists exactly the namespaces holding items
                assert ours.list_namespaces(prefix=op[1], max_depth=op[2]) == expected, op
