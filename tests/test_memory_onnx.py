"""The engine with its defaults: the real local ONNX model, SQLite, FTS5 and usearch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from headroom.memory import HierarchicalMemory, MemoryCategory, MemoryConfig

pytestmark = pytest.mark.anyio


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[HierarchicalMemory]:
    async with await HierarchicalMemory.create(MemoryConfig(db_path=tmp_path / "m.db")) as m:
        yield m


async def test_defaults_use_the_local_model(memory: HierarchicalMemory) -> None:
    assert memory.embedder.model_name == "all-MiniLM-L6-v2"
    assert memory.embedder.dimension == 384


async def test_semantic_search_finds_meaning_not_just_words(memory: HierarchicalMemory) -> None:
    await memory.add_many(
        [
            {"content": "User works at Google as a software engineer", "user_id": "alice"},
            {"content": "Alice's dog is called Rex", "user_id": "alice", "category": "entity"},
            {"content": "Prefers window seats on long flights", "user_id": "alice"},
            {"content": "Allergic to peanuts", "user_id": "alice"},
        ]
    )
    hits = await memory.search("what is her employer?", user_id="alice", top_k=2)
    assert hits[0].content == "User works at Google as a software engineer"
    hits = await memory.search("pet", user_id="alice", top_k=1)
    assert hits[0].content == "Alice's dog is called Rex"
    assert hits[0].similarity > 0.2


async def test_bobs_morning_preference_in_his_afternoon(memory: HierarchicalMemory) -> None:
    await memory.add(
        "Bob prefers Go for backend services",
        user_id="bob",
        session_id="morning",
        category=MemoryCategory.PREFERENCE,
    )
    # A preference is about the user, not the session: stored at user level it is seen in
    # every later session; a session-level copy is not.
    await memory.add(
        "Bob prefers Go for backend services",
        user_id="bob",
        category=MemoryCategory.PREFERENCE,
    )
    hits = await memory.search(
        "which language for the new service?", user_id="bob", session_id="afternoon"
    )
    assert [h.memory.session_id for h in hits] == [None]
    assert hits[0].content == "Bob prefers Go for backend services"


async def test_supersession_with_the_real_model(memory: HierarchicalMemory) -> None:
    m = await memory.add("User works at Google", user_id="alice", importance=0.9)
    await memory.supersede(m.id, "User now works at Anthropic")
    hits = await memory.search("where does she work", user_id="alice", top_k=5)
    assert [h.content for h in hits] == ["User now works at Anthropic"]
