"""HeadroomStore beyond BaseStore's contract: history, the namespace rule, the engine under it,
the event loops it runs on, and LangMem's memory tools on top of it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # trustcall, a dependency of langmem, imports a name LangGraph 1.x deprecated.
    warnings.simplefilter("ignore", DeprecationWarning)
    from langmem import create_manage_memory_tool, create_search_memory_tool

from headroom.errors import ValidationError
from headroom.integrations.langgraph import HeadroomStore, NamespaceError
from headroom.memory import HierarchicalMemory, MemoryConfig
from tests.fakes import HashingEmbedder


@pytest.fixture
def config(tmp_path: Path) -> MemoryConfig:
    return MemoryConfig(db_path=tmp_path / "lg.db")


@pytest.fixture
def store(config: MemoryConfig) -> Iterator[HeadroomStore]:
    with HeadroomStore.open(config, embedder=HashingEmbedder()) as opened:
        yield opened


def test_every_put_is_kept_in_the_history(store: HeadroomStore) -> None:
    for editor in ("vim", "emacs", "helix"):
        store.put(("alice", "prefs"), "editor", {"text": f"Alice edits with {editor}"})
    versions = store.history(("alice", "prefs"), "editor")
    assert [v.value["text"] for v in versions] == [
        "Alice edits with vim",
        "Alice edits with emacs",
        "Alice edits with helix",
    ]
    assert len({v.created_at for v in versions}) == 1  # one item, created once
    assert [v.updated_at for v in versions] == sorted(v.updated_at for v in versions)
    item = store.get(("alice", "prefs"), "editor")
    assert item is not None and item.created_at == versions[0].created_at
    assert store.history(("alice", "prefs"), "nothing") == []
    store.delete(("alice", "prefs"), "editor")
    assert store.history(("alice", "prefs"), "editor") == []


@pytest.mark.anyio
async def test_items_are_user_level_memories_of_the_user_their_namespace_names(
    config: MemoryConfig,
) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        store = HeadroomStore(memory)
        await store.aput(("alice", "facts"), "k", {"text": "Alice lives in Lisbon", "year": 2020})
        await store.aput(("bob", "facts"), "k", {"text": "Bob lives in Oslo"})
        # The wrapper, the MCP server and the CLI see it as Alice's memory, read as its text.
        hits = await memory.search("where does she live", user_id="alice", session_id="any")
        assert [h.content for h in hits] == ["Alice lives in Lisbon"]
        assert hits[0].memory.scope.value == "user"
        # A search with a query never leaves the user the prefix names.
        found = await store.asearch(("bob",), query="Alice Lisbon")
        assert [i.value["text"] for i in found] == ["Bob lives in Oslo"]
        with pytest.raises(ValidationError, match="names the user"):
            await store.asearch((), query="lives")


@pytest.mark.anyio
async def test_the_user_label_is_configurable(config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        store = HeadroomStore(memory, user_label=1)
        await store.aput(("memories", "alice"), "k", {"content": "Alice is vegetarian"})
        assert [m.user_id for m in await memory.query()] == ["alice"]
        with pytest.raises(NamespaceError, match="has no label 1"):
            await store.aput(("memories",), "k", {"content": "whose?"})
        with pytest.raises(ValueError):  # NamespaceError is LangGraph's InvalidNamespaceError too
            await store.aget(("memories",), "k")


@pytest.mark.anyio
async def test_index_fields_choose_what_a_query_ranks_by(config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        store = HeadroomStore(memory, index_fields=["title"])
        await store.aput(("alice", "docs"), "a", {"title": "tax return", "body": "holiday"})
        await store.aput(("alice", "docs"), "b", {"title": "holiday plans", "body": "tax"})
        await store.aput(("alice", "docs"), "c", {"title": "holiday"}, index=False)
        found = await store.asearch(("alice",), query="holiday")
        assert [i.key for i in found] == ["b", "a"]  # a's title lacks the word; c is not indexed
        assert {i.key for i in await store.asearch(("alice",), filter={"title": "holiday"})} == {
            "c"
        }
        assert sorted(m.content for m in await memory.query()) == [
            "holiday",
            "holiday plans",
            "tax return",
        ]


@pytest.mark.anyio
async def test_a_query_search_fills_its_page_past_other_namespaces(config: MemoryConfig) -> None:
    # 60 tea notes in another namespace outrank the one tea preference; the page still fills.
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        store = HeadroomStore(memory)
        for number in range(60):
            await store.aput(("alice", "notes"), f"n{number}", {"text": f"tea note {number} tea"})
        await store.aput(("alice", "prefs"), "p", {"text": "prefers tea"})
        found = await store.asearch(("alice", "prefs"), query="tea tea note", limit=5)
        assert [i.key for i in found] == ["p"]


@pytest.mark.anyio
async def test_changes_made_through_other_tools_are_seen(config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        store = HeadroomStore(memory)
        await store.aput(("alice", "p"), "k", {"text": "v1"})
        (held,) = await memory.query()
        await memory.supersede(held.id, "v2 from the CLI")  # metadata is inherited
        await store.aput(("alice", "p"), "k", {"text": "v3"})
        versions = await store.ahistory(("alice", "p"), "k")
        assert [m.content for m in await memory.get_history(held.id)] == [
            "v1",
            "v2 from the CLI",
            "v3",
        ]
        assert versions[-1].value == {"text": "v3"}
        (head,) = await memory.query()
        await memory.delete(head.id)  # forgotten through headroom mcp, say
        assert await store.aget(("alice", "p"), "k") is None
        await store.aput(("alice", "p"), "k", {"text": "again"})
        assert len(await memory.query()) == 1


@pytest.mark.anyio
async def test_two_stores_on_one_memory_agree(config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        first, second = HeadroomStore(memory), HeadroomStore(memory)
        await first.aput(("alice", "p"), "k", {"text": "one"})
        await second.aput(("alice", "p"), "k", {"text": "two"})
        await asyncio.gather(
            *(first.aput(("alice", "p"), "k", {"text": f"n{i}"}) for i in range(5)),
        )
        assert len(await memory.query()) == 1
        assert len(await second.ahistory(("alice", "p"), "k")) == 7


@pytest.mark.anyio
async def test_stores_on_two_engines_see_each_others_items(config: MemoryConfig) -> None:
    # Two engines over one database, as two worker processes would have.
    async with (
        await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as one,
        await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as two,
    ):
        first, second = HeadroomStore(one), HeadroomStore(two)
        assert await second.aget(("alice", "p"), "k") is None  # looked, before it existed
        await first.aput(("alice", "p"), "k", {"text": "from the first"})
        found = await second.aget(("alice", "p"), "k")
        assert found is not None and found.value == {"text": "from the first"}
        await second.aput(("alice", "p"), "k", {"text": "from the second"})  # supersedes it
        again = await first.aget(("alice", "p"), "k")
        assert again is not None and again.value == {"text": "from the second"}
        assert len(await one.query()) == 1
        await first.adelete(("alice", "p"), "k")
        assert await second.aget(("alice", "p"), "k") is None


@pytest.mark.anyio
async def test_sync_calls_run_on_the_memorys_loop_from_other_threads(config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        store = HeadroomStore(memory)
        with pytest.raises(RuntimeError, match="use the async methods"):
            store.put(("alice", "p"), "k", {"text": "x"})  # would deadlock this loop
        # A sync LangGraph node runs in a worker thread: there the sync API works.
        await asyncio.to_thread(store.put, ("alice", "p"), "k", {"text": "from a thread"})
        item = await store.aget(("alice", "p"), "k")
        assert item is not None and item.value == {"text": "from a thread"}


def test_the_async_api_works_from_another_loop_too(store: HeadroomStore) -> None:
    # The memory runs on headroom's background loop; asyncio.run gives another one.
    async def use() -> list[str]:
        await store.aput(("alice", "p"), "k", {"text": "hello"})
        return [i.key for i in await store.asearch(("alice",), query="hello")]

    assert asyncio.run(use()) == ["k"]
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(store.get(("alice", "p"), "k")))
    thread.start()
    thread.join()
    assert results and results[0] is not None


def test_bad_values_and_filters_say_what_is_wrong(store: HeadroomStore) -> None:
    from langgraph.store.base import PutOp

    with pytest.raises(ValidationError, match="a value must be a dict"):
        store.batch([PutOp(("alice", "p"), "k", ["not", "a", "dict"])])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown filter operator '\\$near'"):
        store.put(("alice", "p"), "k", {"n": 1})
        store.search(("alice",), filter={"n": {"$near": 2}})
    with pytest.raises(NotImplementedError, match="TTL"):
        store.put(("alice", "p"), "k", {"n": 1}, ttl=5)


def test_a_memory_is_needed() -> None:
    from headroom.errors import ConfigError

    with pytest.raises(ConfigError, match="must be a HierarchicalMemory"):
        HeadroomStore("memory.db")  # type: ignore[arg-type]


# -- LangMem -------------------------------------------------------------------------------------


def test_langmem_tools_manage_and_search_memories(config: MemoryConfig) -> None:
    namespace = ("memories", "{langgraph_user_id}")
    with HeadroomStore.open(config, embedder=HashingEmbedder(), user_label=1) as lg_store:
        _manage_and_search(lg_store, namespace)


def _manage_and_search(lg_store: HeadroomStore, namespace: tuple[str, ...]) -> None:
    manage = create_manage_memory_tool(namespace=namespace, store=lg_store)
    search = create_search_memory_tool(namespace=namespace, store=lg_store)
    alice = {"configurable": {"langgraph_user_id": "alice"}}
    bob = {"configurable": {"langgraph_user_id": "bob"}}

    created = manage.invoke({"content": "Alice prefers dark mode"}, config=alice)
    memory_id = created.rsplit(" ", 1)[1]
    manage.invoke({"content": "Bob prefers light mode"}, config=bob)
    updated = manage.invoke(
        {"content": "Alice prefers dark mode, high contrast", "action": "update", "id": memory_id},
        config=alice,
    )
    assert updated == f"updated memory {memory_id}"

    found = json.loads(search.invoke({"query": "dark mode"}, config=alice))
    assert [m["value"]["content"] for m in found] == ["Alice prefers dark mode, high contrast"]
    assert [m["namespace"] for m in found] == [["memories", "alice"]]
    assert json.loads(search.invoke({"query": "dark mode"}, config=bob))[0]["value"] == {
        "content": "Bob prefers light mode"
    }
    history = lg_store.history(("memories", "alice"), memory_id)
    assert [v.value["content"] for v in history] == [
        "Alice prefers dark mode",
        "Alice prefers dark mode, high contrast",
    ]

    manage.invoke({"action": "delete", "id": memory_id}, config=alice)
    assert json.loads(search.invoke({"query": "dark mode"}, config=alice)) == []


@pytest.mark.anyio
async def test_langmem_tools_async(config: MemoryConfig) -> None:
    store = await HeadroomStore.acreate(config, embedder=HashingEmbedder(), user_label=1)
    async with store:
        namespace = ("memories", "{langgraph_user_id}")
        manage = create_manage_memory_tool(namespace=namespace, store=store)
        search = create_search_memory_tool(namespace=namespace, store=store)
        alice = {"configurable": {"langgraph_user_id": "alice"}}
        await manage.ainvoke({"content": "Alice flies on Fridays"}, config=alice)
        found = json.loads(await search.ainvoke({"query": "flights Friday"}, config=alice))
        assert [m["value"]["content"] for m in found] == ["Alice flies on Fridays"]


def test_without_the_langgraph_extra_the_import_says_what_to_install() -> None:
    import subprocess
    import sys

    code = (
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'langgraph':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from headroom.errors import DependencyError\n"
        "try:\n"
        "    import headroom.integrations.langgraph\n"
        "except DependencyError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install 'headroom[langgraph]'" in result.stdout, result.stderr
