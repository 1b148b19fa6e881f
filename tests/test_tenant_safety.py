"""Tenant safety of the engine, on every storage backend: no id, import or link crosses users.

Each attack here worked against the engine before it was bounded: a crafted import that
linked to another user's memory (whose delete then took that memory with it), by-id calls
that acted on any user's memory, unbounded metadata. The tests go through the public API,
except one that writes crafted links through the storage port itself, below the importer,
to show that the backend's own chain walk never leaves a user either.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from headroom.embedders.base import Vectors
from headroom.errors import EmbedderUnavailableError, NotFoundError, ValidationError
from headroom.memory import (
    HierarchicalMemory,
    Memory,
    MemoryConfig,
    MemoryFilter,
    NewMemory,
    Progress,
    ScopeLevel,
)
from headroom.memory.chunks import WRITE_CHUNK
from headroom.memory.opening import open_storage
from headroom.storage.base import StoredMemory
from tests.fakes import HashingEmbedder
from tests.records import chain_of, record

pytestmark = pytest.mark.anyio


@pytest.fixture
async def memory(backend_config: MemoryConfig) -> AsyncIterator[HierarchicalMemory]:
    async with await HierarchicalMemory.create(backend_config, embedder=HashingEmbedder()) as m:
        yield m


async def everything(memory: HierarchicalMemory) -> dict[str, Memory]:
    return {m.id: m for m in await memory.query(MemoryFilter(include_superseded=True))}


# -- the crafted import ------------------------------------------------------------------------


async def test_an_import_linking_to_another_users_memory_is_refused_whole(
    memory: HierarchicalMemory,
) -> None:
    secret = await memory.add("Alice PIN 4321", user_id="alice")
    note = await memory.add("bob note", user_id="bob")
    exported = await memory.query(MemoryFilter(user_id="bob"))
    crafted = [replace(m, id=str(uuid.uuid4()), supersedes=secret.id) for m in exported]
    before = await everything(memory)
    with pytest.raises(ValidationError, match=r"record 0 .* a memory of another user"):
        await memory.import_memories(crafted)
    assert await everything(memory) == before
    # What the attack then did: delete the imported id, taking Alice's memory with it.
    assert await memory.delete(note.id, user_id="bob") == 1
    assert (await memory.get(secret.id)).content == "Alice PIN 4321"


def _hostile_chains(alice: Memory) -> dict[str, tuple[list[Memory], str]]:
    """Imports that must be refused, each with the message naming its first bad record."""
    a, b = chain_of("bob", "v1", "v2")
    other = record("carol", "carol's")
    loop_x, loop_y = str(uuid.uuid4()), str(uuid.uuid4())
    fork = chain_of("bob", "root", "left")
    right = record("bob", "right", supersedes=fork[0].id, age=3)
    return {
        "link to another user's stored memory": (
            [record("bob", "x", superseded_by=alice.id)],
            "record 0 .* is superseded by .* a memory of another user",
        ),
        "link between two users in the import": (
            [replace(a, user_id="bob"), replace(b, user_id="carol")],
            "record 0 .* a memory of another user",
        ),
        "cycle": (
            [
                record("bob", "x", id=loop_x, supersedes=loop_y, superseded_by=loop_y),
                record("bob", "y", id=loop_y, supersedes=loop_x, superseded_by=loop_x),
            ],
            "record 0 .* on a cycle",
        ),
        "two heads": ([*fork, right], "record 2 .* two versions claim to replace it"),
        "dangling link": (
            [other, record("bob", "x", supersedes=str(uuid.uuid4()))],
            "record 1 .* neither among the memories imported nor stored",
        ),
        "self link": ([record("bob", "x", id=loop_x, supersedes=loop_x)], "record 0 .* itself"),
        "one-sided link": (
            [replace(a, superseded_by=None), b],
            "record 1 .* which is the current version",
        ),
        "another session": (
            [a, replace(b, session_id="s1")],
            "record 0 .* another session, agent or turn",
        ),
        "a current stored memory": (
            [record("alice", "newer", supersedes=alice.id)],
            "record 0 .* which is the current version",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "link to another user's stored memory",
        "link between two users in the import",
        "cycle",
        "two heads",
        "dangling link",
        "self link",
        "one-sided link",
        "another session",
        "a current stored memory",
    ],
)
async def test_hostile_chains_are_refused_before_anything_is_written(
    memory: HierarchicalMemory, case: str
) -> None:
    alice = await memory.add("Alice PIN 4321", user_id="alice")
    await memory.add("bob note", user_id="bob")
    records, message = _hostile_chains(alice)[case]
    before = await everything(memory)
    with pytest.raises(ValidationError, match=message):
        await memory.import_memories(records)
    assert await everything(memory) == before


async def test_well_formed_chains_import_whole(memory: HierarchicalMemory) -> None:
    first = chain_of("bob", "v1", "v2", "v3")
    assert await memory.import_memories(first) == 3
    history = await memory.get_history(first[0].id, user_id="bob")
    assert [m.content for m in history] == ["v1", "v2", "v3"]
    cut = chain_of("carol", "c1", "c2", "c3")
    with pytest.raises(ValidationError, match="neither among the memories imported nor stored"):
        await memory.import_memories(cut[:1])  # c1 names c2 as its successor: not there
    assert await memory.import_memories(list(reversed(cut))) == 3  # any order
    assert [m.content for m in await memory.get_history(cut[2].id)] == ["c1", "c2", "c3"]
    assert await memory.import_memories([*first, *cut], skip_existing=True) == 0


async def test_an_import_completes_a_chain_cut_by_an_earlier_one(
    backend_config: MemoryConfig,
) -> None:
    # An import by an older version could stop between two versions of a chain: the stored
    # one names its successor, which the file still holds. Importing the file again with
    # skip_existing joins them.
    chain = chain_of("bob", "v1", "v2", "v3")
    embedder = HashingEmbedder()
    await _store_raw(backend_config, embedder, chain[:1])
    async with await HierarchicalMemory.create(backend_config, embedder=embedder) as memory:
        assert await memory.import_memories(chain, skip_existing=True) == 2
        history = await memory.get_history(chain[0].id, user_id="bob")
        assert [m.id for m in history] == [m.id for m in chain]


async def _store_raw(config: MemoryConfig, embedder: HashingEmbedder, rows: list[Memory]) -> None:
    """Write rows as given through the storage port, below every check of the engine."""
    storage = await open_storage(config, embedder)
    try:
        vectors = await embedder.embed([m.content for m in rows])
        await storage.store.insert(
            [StoredMemory(0, m, v) for m, v in zip(rows, vectors, strict=True)]
        )
    finally:
        await storage.store.aclose()


# -- below the importer: links written straight through the storage port ---------------------


async def test_links_that_cross_users_are_never_followed(backend_config: MemoryConfig) -> None:
    alice = record("alice", "Alice PIN 4321")
    # Bob's memory claims to supersede Alice's, and a second one to be superseded by it.
    bob = record("bob", "bob's", supersedes=alice.id)
    bob_older = record("bob", "bob's older", superseded_by=alice.id)
    embedder = HashingEmbedder()
    await _store_raw(backend_config, embedder, [alice, bob, bob_older])
    async with await HierarchicalMemory.create(backend_config, embedder=embedder) as memory:
        assert [m.id for m in await memory.get_history(bob.id)] == [bob.id]
        assert [m.id for m in await memory.get_history(alice.id)] == [alice.id]
        assert await memory.delete(bob.id) == 1
        assert await memory.clear(user_id="bob") == 1
        assert (await memory.get(alice.id)).content == "Alice PIN 4321"
        assert await memory.delete(alice.id) == 1


# -- by id, with the owner ---------------------------------------------------------------------


async def test_by_id_calls_with_a_user_cannot_reach_another_users_memory(
    memory: HierarchicalMemory,
) -> None:
    secret = await memory.add("Alice PIN 4321", user_id="alice")
    newer = await memory.supersede(secret.id, "Alice PIN 9999", user_id="alice")
    unknown = str(uuid.uuid4())
    calls: list[tuple[str, Any]] = [
        ("get", lambda i: memory.get(i, user_id="bob")),
        ("get_history", lambda i: memory.get_history(i, user_id="bob")),
        ("supersede", lambda i: memory.supersede(i, "owned", user_id="bob")),
        ("rollback", lambda i: memory.rollback(i, user_id="bob")),
        ("delete", lambda i: memory.delete(i, user_id="bob")),
    ]
    for name, call in calls:
        for target in (secret.id, newer.id):
            with pytest.raises(NotFoundError) as theirs:
                await call(target)
            with pytest.raises(NotFoundError) as missing:
                await call(unknown)
            # Indistinguishable from an unknown id but for the id itself.
            assert str(theirs.value).replace(target, "ID") == str(missing.value).replace(
                unknown, "ID"
            ), name
    history = await memory.get_history(secret.id, user_id="alice")
    assert [m.content for m in history] == ["Alice PIN 4321", "Alice PIN 9999"]
    # Without a user: the administrative calls, as before.
    assert (await memory.get(newer.id)).user_id == "alice"
    assert (await memory.rollback(secret.id)).content == "Alice PIN 4321"
    assert await memory.delete(secret.id, user_id="alice") == 3


async def test_a_blank_user_id_is_refused_not_read_as_any_user(memory: HierarchicalMemory) -> None:
    m = await memory.add("x", user_id="alice")
    for blank in ("", "  "):
        with pytest.raises(ValidationError, match="user_id"):
            await memory.get(m.id, user_id=blank)
        with pytest.raises(ValidationError, match="user_id"):
            await memory.delete(m.id, user_id=blank)
    assert (await memory.get(m.id)).content == "x"


# -- the scoped view ---------------------------------------------------------------------------


async def test_a_users_view_reaches_all_of_that_user_and_nothing_else(
    memory: HierarchicalMemory,
) -> None:
    theirs = await memory.add("Alice PIN 4321", user_id="alice")
    bob = memory.scoped(user_id="bob")
    mine = await bob.add("Bob likes tea")
    deep = await memory.add("Bob's planner note", user_id="bob", session_id="s1", agent_id="a1")
    for call in (
        bob.get(theirs.id),
        bob.get_history(theirs.id),
        bob.supersede(theirs.id, "owned"),
        bob.rollback(theirs.id),
        bob.delete(theirs.id),
    ):
        with pytest.raises(NotFoundError):
            await call
    assert (await bob.get(deep.id)).content == "Bob's planner note"  # held by his context
    assert {m.id for m in await bob.query()} == {mine.id, deep.id}
    assert (await bob.stats()).total == 2
    assert [h.id for h in await bob.search("Alice PIN 4321", top_k=10)] == [mine.id]
    assert await bob.clear() == 2
    assert (await memory.get(theirs.id)).content == "Alice PIN 4321"


async def test_a_session_view_is_bounded_to_what_it_sees_and_holds(
    memory: HierarchicalMemory,
) -> None:
    profile = await memory.add("Bob is vegetarian", user_id="bob")
    other_session = await memory.add("Bob in s2", user_id="bob", session_id="s2")
    agent_elsewhere = await memory.add("a2's note", user_id="bob", agent_id="a2")
    view = memory.scoped(user_id="bob", session_id="s1")
    here = await view.add("Bob is planning a trip")
    by_agent = await memory.add("planner in s1", user_id="bob", session_id="s1", agent_id="a1")
    assert (here.session_id, here.scope) == ("s1", ScopeLevel.SESSION)
    assert (await view.add("Bob likes trains", scope="user")).scope is ScopeLevel.USER
    # Reaches what it sees (the profile) and what it holds (the agent's note in s1).
    assert (await view.get(profile.id)).id == profile.id
    assert (await view.get(by_agent.id)).id == by_agent.id
    for outside in (other_session, agent_elsewhere):
        with pytest.raises(NotFoundError):
            await view.get(outside.id)
        with pytest.raises(NotFoundError):
            await view.delete(outside.id)
    listed = {m.content for m in await view.query()}
    assert listed == {
        "Bob is vegetarian",
        "Bob is planning a trip",
        "planner in s1",
        "Bob likes trains",
    }
    # Writes only what it sees.
    with pytest.raises(ValidationError, match="item 0: session_id 's2' is outside this view"):
        await view.add_many([{"content": "x", "session_id": "s2"}])
    with pytest.raises(ValidationError, match="another user"):
        await view.add_many([NewMemory("x", "alice")])
    with pytest.raises(ValidationError, match="needs a agent_id"):
        await view.add("x", scope="agent")
    # clear: what the session holds; the user's profile it only sees stays.
    assert await view.clear() == 2
    assert {m.content for m in await view.query()} == {"Bob is vegetarian", "Bob likes trains"}
    # A view narrows, never widens or moves.
    assert view.narrowed(agent_id="a1").scope.agent_id == "a1"
    with pytest.raises(ValidationError, match="cannot become"):
        view.narrowed(session_id="s2")
    new = await view.supersede(profile.id, "Bob is vegan")
    assert (await view.get_history(new.id))[0].id == profile.id


async def test_a_scoped_view_validates_its_ids(memory: HierarchicalMemory) -> None:
    for bad in ({"user_id": ""}, {"user_id": "  "}, {"user_id": "u", "session_id": ""}):
        with pytest.raises(ValidationError):
            memory.scoped(**bad)


# -- limits ------------------------------------------------------------------------------------


async def test_metadata_over_the_limit_is_refused(backend_config: MemoryConfig) -> None:
    config = backend_config.with_changes(max_metadata_bytes=1_000)
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        await memory.add("fits", user_id="u", metadata={"k": "v" * 900})
        for metadata in (
            {"k": "v" * 1_001},
            {"k": list(range(2_000))},
            {str(i): i for i in range(400)},
            {"deep": [[["x" * 300]] * 4]},
            {"k": "v" * 50_000_000},  # refused without being serialised first
        ):
            with pytest.raises(ValidationError, match=r"limit is 1000 .*max_metadata_bytes"):
                await memory.add("too much", user_id="u", metadata=metadata)
        m = await memory.add("x", user_id="u")
        with pytest.raises(ValidationError, match="max_metadata_bytes"):
            await memory.supersede(m.id, "y", metadata={"k": "v" * 2_000})
        big = replace(record("u", "imported"), metadata={"k": "v" * 2_000})
        with pytest.raises(ValidationError, match=r"record 0: .*max_metadata_bytes"):
            await memory.import_memories([big])
        assert (await memory.stats()).total == 2


class FailingAfter(HashingEmbedder):
    """Fails its ``calls``-th embedding call and every one after (the server went down)."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.remaining = calls

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.remaining -= 1
        if self.remaining < 0:
            raise EmbedderUnavailableError("the embedding server went away (scripted)")
        return await super().embed(texts)


async def test_a_large_add_many_is_all_or_nothing(backend_config: MemoryConfig) -> None:
    count = WRITE_CHUNK * 2 + 10
    items = [NewMemory(f"note {i}", f"user{i % 3}") for i in range(count)]
    async with await HierarchicalMemory.create(backend_config, embedder=FailingAfter(2)) as memory:
        with pytest.raises(ValidationError, match=f"item {count}: "):
            await memory.add_many([*items, NewMemory("", "u")])
        with pytest.raises(EmbedderUnavailableError):
            await memory.add_many(items)  # two steps committed, the third fails
        assert (await memory.stats()).total == 0
    async with await HierarchicalMemory.create(
        backend_config, embedder=HashingEmbedder()
    ) as memory:
        assert len(await memory.add_many(items)) == count
        assert (await memory.stats()).total == count


async def test_a_large_import_reports_progress_and_resumes(backend_config: MemoryConfig) -> None:
    chains = [chain_of(f"user{i % 4}", *(f"fact {i} v{j}" for j in range(3))) for i in range(400)]
    flat = [m for chain in chains for m in chain]
    seen: list[Progress] = []
    async with await HierarchicalMemory.create(backend_config, embedder=FailingAfter(1)) as memory:
        with pytest.raises(EmbedderUnavailableError):
            await memory.import_memories(flat)
        stored = await everything(memory)
        assert 0 < len(stored) < len(flat) and len(stored) % 3 == 0  # whole chains only
        for memory_id in stored:
            assert len(await memory.get_history(memory_id)) == 3
    async with await HierarchicalMemory.create(
        backend_config, embedder=HashingEmbedder()
    ) as memory:
        done = await memory.import_memories(flat, skip_existing=True, progress=seen.append)
        assert done == len(flat) - len(stored)
        assert seen[-1] == Progress(done, done) and len(seen) >= 2
        assert len(await everything(memory)) == len(flat)
