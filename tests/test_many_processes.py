"""Many processes on one SQLite file: server workers, the CLI, a killed writer.

Every worker is a real process (tests/process_worker.py) with its own engines; the test
drives them over pipes, round by round, and after each round every worker's vector-only and
keyword-only searches must agree with what the database holds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter
from tests.chat_server import ChatServer
from tests.fakes import HashingEmbedder, distinct_texts
from tests.introspect import index_keys, stored_keys
from tests.opening_together import open_together

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "process_worker.py"
DIMENSION = 64


class Worker:
    """One worker process, answering one JSON line per command."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.acks: list[str] = []
        assert self._line() == "READY", self._stderr()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        while True:
            line = self._line()
            assert line, f"the worker died: {self._stderr()}"
            if line.startswith("ACK "):
                self.acks.append(line[4:])
                continue
            answer: dict[str, Any] = json.loads(line)
            return answer

    def ask(self, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.receive()

    def quit(self) -> None:
        if self.proc.poll() is None:
            self.send(op="quit")
        self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, self.proc.returncode


def _config(db: Path, **changes: Any) -> MemoryConfig:
    return MemoryConfig(db_path=db, cache_enabled=False, **changes)


def test_four_processes_write_and_search_one_file(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    workers = [Worker(db) for _ in range(4)]
    live: dict[str, tuple[str, str]] = {}  # id -> (user, content)
    gone: dict[str, tuple[str, str]] = {}
    try:
        for round_ in range(4):
            # Every worker writes at once: adds, then supersedes and deletes of its own.
            for n, worker in enumerate(workers):
                worker.send(
                    op="add",
                    user=f"user{n % 2}",
                    contents=distinct_texts(f"w{n} r{round_}", 12),
                )
            added = [worker.receive()["ids"] for worker in workers]
            rows = {m.id: m for m in _all(db)}
            for memory_id in (i for ids in added for i in ids):
                live[memory_id] = (rows[memory_id].user_id, rows[memory_id].content)
            for n, worker in enumerate(workers):
                old, victim = added[n][0], added[n][1]
                worker.send(
                    op="supersede", id=old, content=distinct_texts(f"w{n} r{round_} revised", 1)[0]
                )
                new = worker.receive()["id"]
                worker.send(op="delete", id=victim)
                assert worker.receive() == {"deleted": 1}
                gone[old] = live.pop(old)
                gone[victim] = live.pop(victim)
                rows = {m.id: m for m in _all(db)}
                live[new] = (rows[new].user_id, rows[new].content)
            # Two workers race to supersede one memory: one wins, the other is told the head.
            contested = added[0][2]
            workers[1].send(op="supersede", id=contested, content=f"race one r{round_}")
            workers[2].send(op="supersede", id=contested, content=f"race two r{round_}")
            outcomes = [workers[1].receive(), workers[2].receive()]
            winners = [o["id"] for o in outcomes if "id" in o]
            assert len(winners) == 1, outcomes
            assert [o["error"] for o in outcomes if "error" in o] == ["SupersededError"]
            gone[contested] = live.pop(contested)
            rows = {m.id: m for m in _all(db)}
            live[winners[0]] = (rows[winners[0]].user_id, rows[winners[0]].content)
            # Every process sees every committed write at its next search.
            check = {
                "live": [[i, u, c] for i, (u, c) in live.items()],
                "gone": [[i, u, c] for i, (u, c) in gone.items()],
            }
            for worker in workers:
                worker.send(op="check", **check)
            for worker in workers:
                assert worker.receive() == {"problems": []}
        heads = [m for m in _all(db) if m.is_current]
        assert sorted(m.id for m in heads) == sorted(live)
    finally:
        for worker in workers:
            worker.quit()


def _all(db: Path) -> list[Any]:
    """Every version in the database, read by a separate engine of this process."""
    import anyio

    async def read() -> list[Any]:
        async with await HierarchicalMemory.create(
            _config(db), embedder=HashingEmbedder(DIMENSION), read_only=True
        ) as memory:
            return await memory.query(MemoryFilter(include_superseded=True))

    return anyio.run(read)


def test_a_process_killed_mid_write_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    survivors = [Worker(db) for _ in range(2)]
    victim = Worker(db)
    try:
        victim.send(op="add_each", user="v", contents=[f"victim note {i}" for i in range(400)])
        while len(victim.acks) < 25:  # it is writing now
            line = victim._line()
            assert line.startswith("ACK "), line
            victim.acks.append(line[4:])
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.communicate()
        acknowledged = list(victim.acks)
        # The others keep serving, and see everything the dead process had committed.
        rows = {m.id: m for m in _all(db)}
        assert set(acknowledged) <= set(rows)
        live = [[i, m.user_id, m.content] for i, m in rows.items()]
        for n, worker in enumerate(survivors):
            more = worker.ask(op="add", user="s", contents=[f"survivor {n} note"])["ids"]
            rows = {m.id: m for m in _all(db)}
            live.append([more[0], "s", rows[more[0]].content])
        for worker in survivors:
            assert worker.ask(op="check", live=live, gone=[]) == {"problems": []}
    finally:
        for worker in survivors:
            worker.quit()


def test_two_workers_of_a_wrapped_app_store_every_memory(tmp_path: Path) -> None:
    # A web app under two worker processes, each wrapping the real openai SDK.
    db = tmp_path / "memory.db"
    app = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import openai
        from headroom import with_memory
        from tests.fakes import HashingEmbedder, distinct_texts

        raw = openai.OpenAI(base_url=sys.argv[1], api_key="test", max_retries=0)
        with with_memory(raw, user_id="alice", db_path={str(db)!r},
                         embedder=HashingEmbedder(), strict=True) as client:
            for text in sys.argv[2:]:
                client.chat.completions.create(
                    model="m", messages=[{{"role": "user", "content": text}}])
        """
    )
    facts = ["User lives in Lisbon", "User works at Google", "User has a dog", "User likes Go"]
    with ChatServer() as server:
        server.reply(*[f'Noted. <memory>[{{"content": "{fact}"}}]</memory>' for fact in facts])
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", app, server.url, f"chat {n}a", f"chat {n}b"],
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(2)
        ]
        # Every worker is waited for before any verdict, so none outlives the test.
        errors = [proc.communicate(timeout=120)[1] for proc in procs]
        for proc, err in zip(procs, errors, strict=True):
            assert proc.returncode == 0, err
    assert sorted(m.content for m in _all(db)) == sorted(facts)


def test_processes_starting_together_all_open_a_new_database(tmp_path: Path) -> None:
    # Workers of a service started at once on a database that does not exist yet: each must
    # open it (creating it, or finding it created), never fail because another is creating it.
    configs = [{"db_path": str(tmp_path / f"{n}.db")} for n in range(20)]
    assert open_together(configs) == ["opened"] * (4 * len(configs))


def test_the_cli_reads_a_database_an_application_holds_open(tmp_path: Path) -> None:
    import anyio

    db = tmp_path / "memory.db"
    script = str(Path(sys.executable).parent / "headroom")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *argv, "--db", str(db), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    async def app() -> None:
        async with await HierarchicalMemory.create(_config(db)) as memory:  # the local model
            first = await memory.add("Alice keeps bees", user_id="alice")
            listed = await anyio.to_thread.run_sync(cli, "list")
            assert listed.returncode == 0, listed.stderr
            assert [r["content"] for r in json.loads(listed.stdout)] == ["Alice keeps bees"]
            for argv in (["show", first.id], ["history", first.id], ["stats"], ["export"]):
                done = await anyio.to_thread.run_sync(cli, *argv)
                assert done.returncode == 0, (argv, done.stderr)
            await memory.add("Alice sails on Sundays", user_id="alice")  # written meanwhile
            found = await anyio.to_thread.run_sync(cli, "search", "boat", "-u", "alice")
            assert found.returncode == 0, found.stderr
            assert json.loads(found.stdout)[0]["memory"]["content"] == "Alice sails on Sundays"

    anyio.run(app)


@pytest.mark.anyio
async def test_engines_of_one_process_follow_each_other(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    embedder = HashingEmbedder(DIMENSION)
    async with (
        await HierarchicalMemory.create(_config(db, text_weight=0.0), embedder=embedder) as one,
        await HierarchicalMemory.create(_config(db, text_weight=0.0), embedder=embedder) as two,
    ):
        written = await one.add_many(
            [{"content": text, "user_id": "u"} for text in distinct_texts("fact", 300)]
        )
        for m in written[::37]:
            assert m.id in [h.id for h in await two.search(m.content, user_id="u", top_k=3)]
        await two.delete(written[0].id)
        assert written[0].id not in [
            h.id for h in await one.search(written[0].content, user_id="u", top_k=3)
        ]
        assert await index_keys(one) == await index_keys(two) == stored_keys(one)


@pytest.mark.anyio
async def test_a_searched_visible_set_follows_another_engines_writes(tmp_path: Path) -> None:
    # A search keeps the set of keys its context sees until the next change; a change made
    # by another engine (read from the change log) must renew it as one of its own does.
    db = tmp_path / "memory.db"
    embedder = HashingEmbedder(DIMENSION)
    async with (
        await HierarchicalMemory.create(_config(db, text_weight=0.0), embedder=embedder) as one,
        await HierarchicalMemory.create(_config(db), embedder=embedder) as two,
    ):
        kept, dropped, revised = await two.add_many(
            [{"content": text, "user_id": "u"} for text in distinct_texts("note", 3)]
        )

        async def seen() -> set[str]:
            return {h.id for h in await one.search(kept.content, user_id="u", top_k=10)}

        assert await seen() == {kept.id, dropped.id, revised.id}
        await two.delete(dropped.id)
        assert await seen() == {kept.id, revised.id}
        new = await two.supersede(revised.id, "a revised note")
        assert await seen() == {kept.id, new.id}
        late = await two.add("a late note", user_id="u")
        assert await seen() == {kept.id, new.id, late.id}
