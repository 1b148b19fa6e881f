"""The memory API, through the public facade, on every storage backend (``backend_config``).

Uses the deterministic hashing embedder for speed; tests/test_memory_onnx.py runs the same
engine with the real local model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from headroom.errors import (
    ClosedError,
    DimensionMismatchError,
    NotFoundError,
    SupersededError,
    ValidationError,
)
from headroom.memory import (
    HierarchicalMemory,
    Memory,
    MemoryCategory,
    MemoryConfig,
    MemoryFilter,
    NewMemory,
    ScopeLevel,
)
from tests.backends import NewConfig
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(backend_config: MemoryConfig) -> MemoryConfig:
    return backend_config


@pytest.fixture
async def memory(config: MemoryConfig) -> AsyncIterator[HierarchicalMemory]:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as m:
        yield m


async def test_seed_example(memory: HierarchicalMemory) -> None:
    m = await memory.add(
        "User works at Google",
        user_id="alice",
        category=MemoryCategory.FACT,
        importance=0.9,
        session_id=None,
        agent_id=None,
        turn_id=None,
        metadata={},
    )
    assert isinstance(m, Memory)
    assert m.scope is ScopeLevel.USER and m.is_current and m.valid_to is None
    assert m.created_at.tzinfo is not None and m.created_at.utcoffset() == timezone.utc.utcoffset(
        None
    )

    ms = await memory.add_many(
        [
            NewMemory(content="Alice likes hiking", user_id="alice", category="preference"),
            {"content": "Alice has a dog named Rex", "user_id": "alice", "category": "entity"},
        ]
    )
    assert [x.category for x in ms] == [MemoryCategory.PREFERENCE, MemoryCategory.ENTITY]

    new = await memory.supersede(old_memory_id=m.id, new_content="User now works at Anthropic")
    assert new.supersedes == m.id and new.is_current

    current = await memory.query(MemoryFilter(user_id="alice", include_superseded=False))
    assert {x.content for x in current} == {
        "User now works at Anthropic",
        "Alice likes hiking",
        "Alice has a dog named Rex",
    }

    chain = await memory.get_history(new.id)
    assert [x.content for x in chain] == ["User works at Google", "User now works at Anthropic"]
    assert [x.is_current for x in chain] == [False, True]
    assert chain[0].superseded_by == new.id and chain[0].valid_to == new.valid_from
    assert await memory.get_history(m.id) == chain

    hits = await memory.search("where does she work", user_id="alice", top_k=5)
    assert hits and hits[0].content == "User now works at Anthropic"
    assert all(h.memory.is_current for h in hits)
    assert hits[0].score >= hits[-1].score
    old = await memory.search("works Google", user_id="alice", include_superseded=True)
    assert "User works at Google" in [h.content for h in old]


async def test_returned_memories_are_immutable_copies(memory: HierarchicalMemory) -> None:
    m = await memory.add("Likes tea", user_id="u", metadata={"tags": ["drinks"]})
    with pytest.raises(AttributeError):
        m.content = "Likes coffee"  # type: ignore[misc]
    m.metadata["tags"].append("changed")
    again = await memory.get(m.id)
    assert again.metadata == {"tags": ["drinks"]}
    again.metadata.clear()
    assert (await memory.get(m.id)).metadata == {"tags": ["drinks"]}


async def test_scopes_in_search(memory: HierarchicalMemory) -> None:
    await memory.add("Bob prefers Go for backend services", user_id="bob", category="preference")
    await memory.add("Bob is debugging the billing service", user_id="bob", session_id="morning")
    await memory.add("Planner agent uses Go templates", user_id="bob", agent_id="planner")
    await memory.add("Alice prefers Go too", user_id="alice")
    afternoon = await memory.search("Go", user_id="bob", session_id="afternoon", top_k=10)
    assert [h.content for h in afternoon] == ["Bob prefers Go for backend services"]
    planner = await memory.search("Go", user_id="bob", agent_id="planner", top_k=10)
    assert {h.content for h in planner} == {
        "Bob prefers Go for backend services",
        "Planner agent uses Go templates",
    }
    morning = await memory.search("billing", user_id="bob", session_id="morning")
    assert morning[0].content == "Bob is debugging the billing service"
    assert await memory.search("billing", user_id="carol") == []


async def test_query_filters(memory: HierarchicalMemory) -> None:
    a = await memory.add("fact one", user_id="u", importance=0.2)
    await memory.add("session fact", user_id="u", session_id="s1", category="context")
    await memory.add("other user", user_id="v")
    everything = await memory.query(MemoryFilter(user_id="u"))
    assert len(everything) == 2  # across sessions: ids left None match anything
    levels = await memory.query(MemoryFilter(user_id="u", scope_levels={ScopeLevel.SESSION}))
    assert [m.content for m in levels] == ["session fact"]
    cats = await memory.query(MemoryFilter(categories={MemoryCategory.CONTEXT}))
    assert [m.content for m in cats] == ["session fact"]
    important = await memory.query(MemoryFilter(user_id="u", min_importance=0.4))
    assert [m.content for m in important] == ["session fact"]
    paged = await memory.query(MemoryFilter(limit=1, offset=1))
    assert len(paged) == 1
    after = await memory.query(MemoryFilter(created_after=a.created_at))
    assert a.id not in [m.id for m in after]


async def test_as_of_query(memory: HierarchicalMemory) -> None:
    m = await memory.add("Works at Google", user_id="u")
    await asyncio.sleep(0.002)
    between = datetime.now(timezone.utc)
    await asyncio.sleep(0.002)
    new = await memory.supersede(m.id, "Works at Anthropic")
    then = await memory.query(MemoryFilter(user_id="u", valid_at=between))
    assert [x.content for x in then] == ["Works at Google"]
    now = await memory.query(MemoryFilter(user_id="u", valid_at=datetime.now(timezone.utc)))
    assert [x.id for x in now] == [new.id]
    before = await memory.query(MemoryFilter(user_id="u", valid_at=m.created_at.replace(year=2000)))
    assert before == []


async def test_supersede_only_the_head(memory: HierarchicalMemory) -> None:
    m = await memory.add("v1", user_id="u")
    v2 = await memory.supersede(m.id, "v2")
    with pytest.raises(SupersededError) as info:
        await memory.supersede(m.id, "v3")
    assert info.value.head_id == v2.id and v2.id in str(info.value)
    v3 = await memory.supersede(v2.id, "v3")
    with pytest.raises(SupersededError) as info:
        await memory.supersede(m.id, "v4")
    assert info.value.head_id == v3.id
    with pytest.raises(NotFoundError):
        await memory.supersede("00000000-0000-4000-8000-000000000000", "x")


async def test_concurrent_supersedes_leave_one_head(memory: HierarchicalMemory) -> None:
    m = await memory.add("v1", user_id="u")
    results = await asyncio.gather(
        *(memory.supersede(m.id, f"v{i}") for i in range(2, 10)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, Memory)]
    assert len(winners) == 1
    assert all(isinstance(r, SupersededError) for r in results if not isinstance(r, Memory))
    chain = await memory.get_history(m.id)
    assert len(chain) == 2 and sum(x.is_current for x in chain) == 1


async def test_rollback(memory: HierarchicalMemory) -> None:
    m = await memory.add("Works at Google", user_id="u")
    new = await memory.supersede(m.id, "Works at Anthropic")
    back = await memory.rollback(m.id)
    assert back.content == "Works at Google" and back.supersedes == new.id
    chain = await memory.get_history(m.id)
    assert [x.content for x in chain] == [
        "Works at Google",
        "Works at Anthropic",
        "Works at Google",
    ]
    with pytest.raises(ValidationError):
        await memory.rollback(back.id)


async def test_delete_removes_every_version_from_every_index(memory: HierarchicalMemory) -> None:
    m = await memory.add("Secret project codename Bluebird", user_id="u")
    new = await memory.supersede(m.id, "Secret project codename Redwing")
    keep = await memory.add("Unrelated note", user_id="u")
    assert await memory.delete(new.id) == 2
    for mid in (m.id, new.id):
        with pytest.raises(NotFoundError):
            await memory.get(mid)
    hits = await memory.search("Secret project codename", user_id="u", include_superseded=True)
    assert [h.id for h in hits] == [keep.id]
    with pytest.raises(NotFoundError):
        await memory.delete(m.id)


async def test_clear_touches_only_its_scope(memory: HierarchicalMemory) -> None:
    await memory.add("bob global", user_id="bob")
    await memory.add("bob s1", user_id="bob", session_id="s1")
    await memory.add("alice s1", user_id="alice", session_id="s1")
    assert await memory.clear(user_id="bob", session_id="s1") == 1
    assert [m.content for m in await memory.query(MemoryFilter(user_id="bob"))] == ["bob global"]
    assert await memory.clear(user_id="bob") == 1
    assert [m.content for m in await memory.query()] == ["alice s1"]
    with pytest.raises(ValidationError):
        await memory.clear(user_id=None)  # type: ignore[arg-type]


async def test_stats(memory: HierarchicalMemory) -> None:
    m = await memory.add("a", user_id="u", category="preference")
    await memory.supersede(m.id, "b")
    await memory.add("c", user_id="u", session_id="s")
    await memory.add("d", user_id="v")
    stats = await memory.stats(user_id="u")
    assert (stats.total, stats.current, stats.superseded) == (3, 2, 1)
    assert stats.categories["preference"] == 1 and stats.categories["fact"] == 1
    assert stats.scopes == {"user": 1, "session": 1, "agent": 0, "turn": 0}
    assert (await memory.stats()).total == 4


async def test_stats_read_by_key_as_well(memory: HierarchicalMemory) -> None:
    await memory.add("a", user_id="u", category="preference")
    stats = await memory.stats()
    assert stats["total"] == stats.total == 1
    assert stats["categories"]["preference"] == 1
    assert dict(stats) == {
        "total": 1,
        "current": 1,
        "superseded": 0,
        "categories": stats.categories,
        "scopes": stats.scopes,
    }
    with pytest.raises(KeyError):
        stats["missing"]


async def test_bad_input_stores_nothing(memory: HierarchicalMemory) -> None:
    bad_calls: list[dict[str, object]] = [
        dict(content="", user_id="u"),
        dict(content="   ", user_id="u"),
        dict(content=42, user_id="u"),
        dict(content="x" * 20_001, user_id="u"),
        dict(content="nul\x00byte", user_id="u"),
        dict(content="lone \ud800 surrogate", user_id="u"),
        dict(content="ok", user_id="u", category="gossip"),
        dict(content="ok", user_id="u", importance=1.5),
        dict(content="ok", user_id="u", importance=float("nan")),
        dict(content="ok", user_id=""),
        dict(content="ok", user_id=None),
        dict(content="ok", user_id="u", metadata={"when": datetime.now()}),
        dict(content="ok", user_id="u", metadata={1: "x"}),
        dict(content="ok", user_id="u", metadata="not a dict"),
    ]
    for kwargs in bad_calls:
        content = kwargs.pop("content")
        with pytest.raises(ValidationError):
            await memory.add(content, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await memory.add_many(
            [{"content": "fine", "user_id": "u"}, {"content": "", "user_id": "u"}]
        )
    assert (await memory.stats()).total == 0
    for bad_id in ("not-a-uuid", 12, ""):
        with pytest.raises(ValidationError):
            await memory.get(bad_id)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        await memory.get("00000000-0000-4000-8000-000000000000")


async def test_restart_persistence(config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        m = await memory.add("Persisted across restarts", user_id="u")
        await memory.supersede(m.id, "Persisted across restarts, version two")
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        hits = await memory.search("persisted restarts", user_id="u")
        assert [h.content for h in hits] == ["Persisted across restarts, version two"]
        assert len(await memory.get_history(m.id)) == 2


async def test_missing_index_is_rebuilt_from_sqlite(tmp_path: Path) -> None:
    config = MemoryConfig(db_path=tmp_path / "memory.db")
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        await memory.add_many([{"content": f"note number {i}", "user_id": "u"} for i in range(50)])
    for index_file in config.path.parent.glob("*.usearch"):
        index_file.unlink()
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        hits = await memory.search("note number 7", user_id="u", top_k=50)
        assert len(hits) == 50


async def test_reopening_with_another_embedder_is_refused(config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder(64)) as memory:
        await memory.add("x", user_id="u")
    with pytest.raises(DimensionMismatchError) as info:
        await HierarchicalMemory.create(config, embedder=HashingEmbedder(32))
    assert "hashing-test" in str(info.value) and "64" in str(info.value) and "32" in str(info.value)
    with pytest.raises(DimensionMismatchError):
        await HierarchicalMemory.create(config, embedder=HashingEmbedder(64, model_name="other"))
    # The refusal released the database: it opens again with the right embedder.
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder(64)) as memory:
        assert (await memory.stats()).total == 1


async def test_reembed_switches_atomically(config: MemoryConfig) -> None:
    seen: list[tuple[int, int]] = []
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder(64)) as memory:
        await memory.add_many([{"content": f"fact {i}", "user_id": "u"} for i in range(300)])
        await memory.reembed(
            HashingEmbedder(32, model_name="smaller"),
            progress=lambda p: seen.append((p.done, p.total)),
        )
        assert memory.embedder.dimension == 32
        assert (await memory.search("fact 12", user_id="u"))[0].content == "fact 12"
    assert seen[-1] == (300, 300)
    with pytest.raises(DimensionMismatchError):
        await HierarchicalMemory.create(config, embedder=HashingEmbedder(64))
    async with await HierarchicalMemory.create(
        config, embedder=HashingEmbedder(32, model_name="smaller")
    ) as memory:
        assert (await memory.search("fact 299", user_id="u"))[0].content == "fact 299"


async def test_use_after_close(config: MemoryConfig) -> None:
    memory = await HierarchicalMemory.create(config, embedder=HashingEmbedder())
    await memory.aclose()
    await memory.aclose()  # idempotent
    with pytest.raises(ClosedError):
        await memory.add("x", user_id="u")
    with pytest.raises(ClosedError):
        await memory.search("x", user_id="u")


async def test_hostile_search_queries(memory: HierarchicalMemory) -> None:
    await memory.add("C++ templates are hard", user_id="u")
    limit = memory.config.max_query_chars
    for query in ['C++ AND "unbalanced', "NEAR(", "", "   ", "!!!", "🙂", "x" * limit, "a\x00b"]:
        hits = await memory.search(query, user_id="u")
        assert isinstance(hits, list)
    with pytest.raises(ValidationError, match=r"4001 characters; the limit is 4000 \(MemoryConfig"):
        await memory.search("x" * (limit + 1), user_id="u")
    with pytest.raises(ValidationError):
        await memory.search(None, user_id="u")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await memory.search("x", user_id="u", top_k=0)


async def test_selective_user_among_many(config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        await memory.add_many(
            [{"content": f"shared topic note {i}", "user_id": f"user{i % 50}"} for i in range(3000)]
        )
        needle = await memory.add("shared topic note from the lonely user", user_id="lonely")
        hits = await memory.search("shared topic note", user_id="lonely")
        assert [h.id for h in hits] == [needle.id]


async def test_export_import_round_trip_keeps_ids_chains_and_times(new_config: NewConfig) -> None:
    source = new_config()
    async with await HierarchicalMemory.create(source, embedder=HashingEmbedder()) as memory:
        m = await memory.add("Works at Google", user_id="u", metadata={"k": [1, 2]})
        await memory.supersede(m.id, "Works at Anthropic")
        await memory.add("Session note", user_id="u", session_id="s")
        exported = await memory.query(MemoryFilter(include_superseded=True))
    target = new_config()
    async with await HierarchicalMemory.create(target, embedder=HashingEmbedder()) as memory:
        assert await memory.import_memories(exported) == 3
        assert await memory.query(MemoryFilter(include_superseded=True)) == exported
        assert [x.content for x in await memory.get_history(m.id)] == [
            "Works at Google",
            "Works at Anthropic",
        ]
        assert (await memory.search("works", user_id="u"))[0].content == "Works at Anthropic"
        with pytest.raises(ValidationError):
            await memory.import_memories(exported)
        assert await memory.import_memories(exported, skip_existing=True) == 0


async def test_reindex_rebuilds_from_sqlite(memory: HierarchicalMemory) -> None:
    await memory.add_many([{"content": f"item {i}", "user_id": "u"} for i in range(20)])
    assert await memory.reindex() == 20
    assert (await memory.search("item 3", user_id="u"))[0].content == "item 3"


async def test_search_by_category(memory: HierarchicalMemory) -> None:
    await memory.add("Likes green tea", user_id="u", category="preference")
    await memory.add("Drinks tea at work", user_id="u", category="fact")
    for categories in ("preference", MemoryCategory.PREFERENCE, ["preference"]):
        hits = await memory.search("tea", user_id="u", categories=categories)
        assert [h.content for h in hits] == ["Likes green tea"]
    with pytest.raises(ValidationError, match="gossip"):
        await memory.search("tea", user_id="u", categories="gossip")


async def test_keyword_search_bounds_common_words_but_finds_rare_ones(
    new_config: NewConfig,
) -> None:
    from headroom.storage.keywords import RANK_BUDGET

    text_only = new_config(vector_weight=0.0)
    async with await HierarchicalMemory.create(text_only, embedder=HashingEmbedder()) as memory:
        # More rows share the common words than the ranking budget allows.
        await memory.add_many(
            [
                {"content": f"weekly work meeting {i}", "user_id": "u"}
                for i in range(RANK_BUDGET + 500)
            ]
        )
        rare = await memory.add("the work meeting moved to Zanzibar", user_id="u")
        hits = await memory.search("work meeting in Zanzibar", user_id="u", top_k=3)
        assert hits[0].id == rare.id
        # Only common words: the newest matches are ranked, and found.
        common = await memory.search("weekly work meeting", user_id="u", top_k=3)
        assert len(common) == 3
        assert all(h.content.startswith("weekly work meeting") for h in common)


async def test_errors_name_the_item_only_among_many(memory: HierarchicalMemory) -> None:
    with pytest.raises(ValidationError) as single:
        await memory.add("   ", user_id="u")
    assert str(single.value) == "content must not be empty or only whitespace"
    with pytest.raises(ValidationError, match=r"^item 1: content must not be empty"):
        await memory.add_many(
            [{"content": "fine", "user_id": "u"}, {"content": "", "user_id": "u"}]
        )
    assert await memory.query(MemoryFilter(user_id="u")) == []  # all or nothing


async def test_query_by_metadata_values(memory: HierarchicalMemory) -> None:
    tagged: dict[str, dict[str, Any]] = {
        "a": {"source": "chat", "turn": 3, "pinned": True, "note": None, 'odd "key".x': "y"},
        "b": {"source": "chat", "turn": 4.0, "pinned": False},
        "c": {"source": "import", "nested": {"source": "chat"}},
    }
    ids = {
        name: (await memory.add(f"memory {name}", user_id="u", metadata=meta)).id
        for name, meta in tagged.items()
    }

    async def names(**match: Any) -> set[str]:
        found = await memory.query(MemoryFilter(user_id="u", metadata=match))
        return {name for name, memory_id in ids.items() if memory_id in {m.id for m in found}}

    assert await names(source="chat") == {"a", "b"}
    assert await names(source="chat", pinned=True) == {"a"}
    assert await names(pinned=False) == {"b"}
    assert await names(turn=4) == {"b"}  # numbers compare as numbers
    assert await names(turn=3.0) == {"a"}
    assert await names(note=None) == {"a"}  # present and null, not merely absent
    assert await names(**{'odd "key".x': "y"}) == {"a"}
    assert await names(source="nowhere") == set()
    assert await names(nested="chat") == set()  # top-level keys only
    assert await names(turn="3") == set()  # a string is not a number
    assert (await memory.stats(user_id="u")).total == 3
    for bad in ({"k": [1]}, {"k": {"a": 1}}, {"": 1}, {"k": float("nan")}, {1: "x"}):
        with pytest.raises(ValidationError):
            MemoryFilter(metadata=bad)  # type: ignore[arg-type]
