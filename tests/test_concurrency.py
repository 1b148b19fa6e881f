"""Concurrency: hundreds of tasks on one HierarchicalMemory, and two processes on one database.

The tasks mix add, add_many, search, supersede, delete and clear. Users ``keep*`` are never
deleted or cleared, so every memory written for them must be there at the end (no lost
writes); users ``churn*`` are deleted from and cleared while others write to them. Racing
supersedes and deletes may lose the race (SupersededError, NotFoundError); nothing else may
fail. At the end, and again after a reopen: one head per chain, the vector index holds exactly
the database's keys, and every kept memory is found by its own words. These run on every
backend; the process lock of the SQLite file has its own tests at the end.
"""

from __future__ import annotations

import random
from pathlib import Path

import anyio
import pytest

from headroom.errors import NotFoundError, SupersededError
from headroom.memory import HierarchicalMemory, Memory, MemoryConfig, MemoryFilter, NewMemory
from tests.fakes import HashingEmbedder
from tests.introspect import index_and_stored_keys

pytestmark = pytest.mark.anyio

WRITER = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[1]
TASKS = 400


def _chains(rows: list[Memory]) -> list[list[Memory]]:
    by_id = {m.id: m for m in rows}
    chains = []
    for root in (m for m in rows if m.supersedes is None):
        chain = [root]
        while chain[-1].superseded_by is not None:
            chain.append(by_id[chain[-1].superseded_by])
        chains.append(chain)
    assert sum(len(c) for c in chains) == len(rows), "memories outside any chain"
    return chains


async def _check_consistent(memory: HierarchicalMemory) -> list[Memory]:
    rows = await memory.query(MemoryFilter(include_superseded=True))
    for chain in _chains(rows):
        assert [m.is_current for m in chain] == [False] * (len(chain) - 1) + [True]
    in_index, store_keys = await index_and_stored_keys(memory)  # white box: the indexes agree
    assert in_index == store_keys
    assert len(store_keys) == len(rows)
    return rows


async def test_hundreds_of_concurrent_tasks(backend_config: MemoryConfig) -> None:
    config = backend_config
    rng = random.Random(3)
    written: list[Memory] = []  # every memory a task got back for a keep user
    superseded_to: dict[str, str] = {}  # old id -> the new id that won the race
    ids: list[str] = []
    unexpected: list[BaseException] = []
    lost_races = {"superseded": 0, "not found": 0}
    counter = iter(range(10**9))

    def content() -> str:
        n = next(counter)
        return f"note{n} " + " ".join(rng.sample(["tea", "jazz", "rust", "snow", "moss"], 2))

    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        seeds = await memory.add_many(
            [NewMemory(content(), f"keep{i % 3}") for i in range(30)]
            + [NewMemory(content(), f"churn{i % 2}", session_id="s") for i in range(30)]
        )
        written.extend(m for m in seeds if m.user_id.startswith("keep"))
        ids.extend(m.id for m in seeds)

        async def task(n: int) -> None:
            kind = rng.choice(["add", "add", "many", "search", "search", "sup", "sup", "del"])
            if n % 40 == 0:
                kind = "clear"
            keep = rng.random() < 0.5
            user = f"keep{n % 3}" if keep else f"churn{n % 2}"
            try:
                if kind == "add":
                    m = await memory.add(
                        content(), user_id=user, session_id=rng.choice([None, "s"])
                    )
                    ids.append(m.id)
                    if keep:
                        written.append(m)
                elif kind == "many":
                    batch = await memory.add_many(
                        [NewMemory(content(), user) for _ in range(rng.randint(1, 20))]
                    )
                    ids.extend(m.id for m in batch)
                    if keep:
                        written.extend(batch)
                elif kind == "search":
                    hits = await memory.search("tea jazz", user_id=user, session_id="s")
                    assert all(h.memory.user_id == user for h in hits)
                elif kind == "sup":
                    old_id = rng.choice(ids)
                    new = await memory.supersede(old_id, content())
                    assert old_id not in superseded_to, "superseded twice"
                    superseded_to[old_id] = new.id
                    ids.append(new.id)
                    if new.user_id.startswith("keep"):
                        written.append(new)
                elif kind == "del":
                    victim = rng.choice(ids)
                    if (await memory.get(victim)).user_id.startswith("churn"):
                        await memory.delete(victim)
                else:
                    await memory.clear(user_id=f"churn{n % 2}", session_id="s")
            except SupersededError:
                lost_races["superseded"] += 1
            except NotFoundError:
                lost_races["not found"] += 1
            except BaseException as exc:  # anything else is a failure, reported below
                unexpected.append(exc)

        async with anyio.create_task_group() as group:
            for n in range(TASKS):
                group.start_soon(task, n)

        assert not unexpected, unexpected[:3]
        print(f"{TASKS} tasks: lost races {lost_races}, {len(written)} kept writes")
        rows = await _check_consistent(memory)
        by_id = {m.id: m for m in rows}
        for m in written:  # no lost writes
            assert m.id in by_id, f"lost write {m.content!r}"
        for old_id, new_id in superseded_to.items():
            if old_id in by_id:
                assert by_id[old_id].superseded_by == new_id
        for m in written[::7]:
            hits = await memory.search(
                m.content,
                user_id=m.user_id,
                session_id=m.session_id,
                include_superseded=True,
                top_k=5,
            )
            assert m.id in [h.id for h in hits]
        # Clearing everything the churn users have leaves nothing of theirs anywhere.
        for user in ("churn0", "churn1"):
            await memory.clear(user_id=user)
            assert (await memory.stats(user)).total == 0
            assert await memory.search("tea jazz rust", user_id=user, session_id="s") == []

    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        rows = await _check_consistent(memory)
        assert {m.id for m in written} <= {m.id for m in rows}


async def test_concurrent_supersedes_of_one_memory_leave_one_head(
    backend_config: MemoryConfig,
) -> None:
    config = backend_config
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        first = await memory.add("version 0", user_id="u")
        head = first.id
        wins = 0
        for round_ in range(5):
            results: list[object] = []

            async def attempt(
                i: int, old: str = head, r: int = round_, out: list[object] = results
            ) -> None:
                try:
                    out.append(await memory.supersede(old, f"version {r}.{i}"))
                except SupersededError as exc:
                    out.append(exc)

            async with anyio.create_task_group() as group:
                for i in range(50):
                    group.start_soon(attempt, i)
            winners = [r for r in results if isinstance(r, Memory)]
            assert len(winners) == 1 and len(results) == 50
            assert all(
                r.head_id == winners[0].id for r in results if isinstance(r, SupersededError)
            )
            head = winners[0].id
            wins += 1
        chain = await memory.get_history(first.id)
        assert len(chain) == wins + 1 and [m.is_current for m in chain].count(True) == 1
        await _check_consistent(memory)


async def test_delete_and_clear_racing_writes_leave_no_orphans(
    backend_config: MemoryConfig,
) -> None:
    config = backend_config
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:

        async def add(i: int) -> None:
            await memory.add(f"racing {i}", user_id="victim", session_id=f"s{i % 3}")

        async def clear() -> None:
            await memory.clear(user_id="victim")

        for _ in range(3):
            async with anyio.create_task_group() as group:
                for i in range(60):
                    group.start_soon(add, i)
                    if i % 15 == 0:
                        group.start_soon(clear)
            await memory.clear(user_id="victim")
            assert (await memory.stats("victim")).total == 0
            assert await memory.search("racing", user_id="victim") == []
            await _check_consistent(memory)


# -- two processes ------------------------------------------------------------------------------
