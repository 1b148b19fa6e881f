"""Several processes on one PostgreSQL memory, and the server going away mid-operation.

Four worker processes (tests/postgres_worker.py) write, search and race to supersede one
shared fact, round after round; between rounds each searches for what the others wrote.
Nothing may be lost, every chain keeps one head, each race has one winner and the losers
are told who won, and every process sees every committed write at its next search.

Then the server is stopped (as a crash would stop it) while an operation waits inside it:
the operation fails with DatabaseUnavailableError, so does everything while the server is
down, and once it is back the same engine works again with every acknowledged write kept.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import asyncpg
import pytest

from headroom.errors import DatabaseUnavailableError
from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter
from headroom.storage.postgres.operations import USER_LOCK
from tests.fakes import HashingEmbedder
from tests.opening_together import open_together
from tests.postgres_server import PostgresServer
from tests.postgres_worker import PER_ROUND

WORKER = Path(__file__).with_name("postgres_worker.py")
PROCESSES = 4
ROUNDS = 4


class Worker:
    def __init__(self, url: str, index: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), url, str(index)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert json.loads(self.receive()) == {"ready": True}

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def receive(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"worker exited with {self.process.wait()}"
        return line

    def ask(self, command: dict[str, Any]) -> Any:
        self.send(command)
        return json.loads(self.receive())

    def close(self) -> None:
        if self.process.poll() is None:
            self.send({"op": "close"})
        code = self.process.wait(timeout=60)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        assert code == 0


def test_four_processes_share_one_memory(postgres_config: MemoryConfig) -> None:
    config = postgres_config

    async def seed() -> str:
        async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as m:
            return (await m.add("the shared fact", user_id="shared")).id

    head = asyncio.run(seed())
    first = head
    workers = [Worker(str(config.db_url), i) for i in range(PROCESSES)]
    written: list[list[str]] = []
    try:
        for r in range(ROUNDS):
            for w in workers:  # every worker at once: writes, searches and the race
                w.send({"op": "write", "round": r, "target": head})
            replies = [json.loads(w.receive()) for w in workers]
            winners = [reply["superseded"] for reply in replies if reply["superseded"]]
            assert len(winners) == 1, replies
            assert all(reply["lost_to"] == winners[0] for reply in replies if reply["lost_to"])
            head = winners[0]
            for i, w in enumerate(workers):  # each sees what the others committed
                others = [
                    item for j, reply in enumerate(replies) if j != i for item in reply["added"]
                ]
                assert w.ask({"op": "find", "items": others}) == {"missing": []}
            written += [item for reply in replies for item in reply["added"]]
    finally:
        for w in workers:
            w.close()

    async def check() -> None:
        async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as m:
            rows = await m.query(MemoryFilter(include_superseded=True))
            assert len(rows) == 1 + ROUNDS + PROCESSES * ROUNDS * PER_ROUND
            assert {item[2] for item in written} <= {row.id for row in rows}
            chain = await m.get_history(first)
            assert [v.is_current for v in chain] == [False] * ROUNDS + [True]
            assert chain[-1].id == head
            assert sum(row.is_current for row in rows) == 1 + PROCESSES * ROUNDS * PER_ROUND

    asyncio.run(check())


def test_processes_starting_together_set_up_a_new_database(
    postgres_server: PostgresServer,
) -> None:
    # Databases with nothing in them yet (no pgvector, no tables), each opened by four
    # processes at once: one creates the extension and the schema, the others wait for it
    # and find them.
    names = [f"empty_{n}_{id(postgres_server)}" for n in range(6)]
    for name in names:
        postgres_server.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        answers = open_together([{"db_url": postgres_server.url(name)} for name in names])
    finally:
        for name in names:
            postgres_server.drop_database(name)
    assert answers == ["opened"] * (4 * len(names))


@pytest.mark.anyio
async def test_the_server_stopped_mid_operation_and_restarted(
    postgres_server: PostgresServer, postgres_config: MemoryConfig
) -> None:
    memory = await HierarchicalMemory.create(postgres_config, embedder=HashingEmbedder())
    try:
        kept = [await memory.add(f"acknowledged fact {i}", user_id="u") for i in range(5)]
        # Another session holds the user's chain lock, so a supersede waits inside the server.
        holder = await asyncpg.connect(str(postgres_config.db_url))
        await holder.execute("SELECT pg_advisory_lock($1, hashtext('u'))", USER_LOCK)
        outcome: list[BaseException] = []
        failed = anyio.Event()

        async def supersede() -> None:
            try:
                await memory.supersede(kept[0].id, "never acknowledged")
            except Exception as exc:
                outcome.append(exc)
            finally:
                failed.set()

        async with anyio.create_task_group() as group:
            group.start_soon(supersede)
            with anyio.fail_after(30):
                # Only the server knows when the supersede waits on the lock: poll it.
                while not await holder.fetchval(  # noqa: ASYNC110
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
                ):
                    await anyio.sleep(0.01)
            try:
                await anyio.to_thread.run_sync(postgres_server.stop)
                # The waiting operation, and anything while the server is down, fail clearly.
                with anyio.fail_after(30):
                    await failed.wait()
                assert isinstance(outcome[0], DatabaseUnavailableError), outcome
                with pytest.raises(DatabaseUnavailableError):
                    await memory.search("acknowledged", user_id="u")
                with pytest.raises(DatabaseUnavailableError):
                    await memory.add("written while the server is down", user_id="u")
            finally:
                await anyio.to_thread.run_sync(postgres_server.start)
        holder.terminate()
        # The same engine works again; nothing acknowledged is lost, nothing else was stored.
        later = await memory.add("written after the restart", user_id="u")
        hits = await memory.search("acknowledged fact", user_id="u", top_k=10)
        assert {m.id for m in kept} <= {h.id for h in hits}
        assert (await memory.get(kept[0].id)).is_current
        contents = {m.content for m in await memory.query(MemoryFilter(include_superseded=True))}
        assert contents == {m.content for m in kept} | {"written after the restart"}
        assert (await memory.get(later.id)).content == "written after the restart"
        assert (await memory.stats("u")).total == 6
    finally:
        await memory.aclose()
