"""Crash safety: SIGKILL a writer at random moments, then check nothing was lost or half done.

The writer (tests/crash_writer.py) runs in a child process over ONE database and reports every
operation before it starts and after it returned. After each kill the parent reopens the
database and checks:

* exactly what returned is there, plus the one operation in flight either wholly or not at all
  (the database's supersession chains are compared with a model replayed from the log);
* every chain is well formed with exactly one head;
* the vector index holds exactly the keys SQLite holds, and the FTS index exactly its rows;
* what this cycle wrote is found by a vector-only and by a keyword-only search, superseded
  versions with ``include_superseded``, and deleted memories by neither.

Then damaged files: a truncated or garbage vector index is rebuilt from SQLite with a warning,
a stale one loses its ghosts and regains what it missed, and a damaged database raises
CorruptDatabaseError and is left byte for byte as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from headroom.errors import CorruptDatabaseError
from headroom.memory import HierarchicalMemory, Memory, MemoryConfig, MemoryFilter
from tests.fakes import HashingEmbedder
from tests.introspect import index_keys, stored_key_of, stored_keys

WRITER = Path(__file__).with_name("crash_writer.py")
DIMENSION = 256

Chain = tuple[str, ...]
"""The tokens of one supersession chain, oldest first."""


@dataclass(frozen=True)
class Op:
    kind: str  # ADD, MANY, SUP, DEL
    args: tuple[str, ...]


def apply(chains: frozenset[Chain], op: Op) -> frozenset[Chain]:
    """The chains after ``op``, as the writer meant it."""
    if op.kind == "ADD":
        return chains | {(op.args[0],)}
    if op.kind == "MANY":
        return chains | {(token,) for token in op.args[0].split(",")}
    if op.kind == "SUP":
        old, new = op.args
        (chain,) = [c for c in chains if c[-1] == old]
        return (chains - {chain}) | {(*chain, new)}
    if op.kind == "DEL":
        (chain,) = [c for c in chains if c[-1] == op.args[0]]
        return chains - {chain}
    raise AssertionError(f"unknown operation {op}")


def parse_log(output: str) -> tuple[bool, list[Op], Op | None]:
    """Whether the writer got READY, the operations that returned, and the one in flight."""
    lines = output.split("\n")[:-1]  # a last line without its newline was cut by the kill
    ready = False
    done: list[Op] = []
    pending: Op | None = None
    for line in lines:
        if line == "READY":
            ready = True
        elif line == "DONE":
            assert pending is not None, output
            done.append(pending)
            pending = None
        elif line.startswith("BEGIN "):
            assert pending is None, output
            kind, *args = line.split()[1:]
            pending = Op(kind, tuple(args))
        else:
            raise AssertionError(f"unexpected line from the writer: {line!r}")
    return ready, done, pending


def token_of(memory: Memory) -> str:
    return memory.content.split()[0]


@dataclass
class Snapshot:
    chains: frozenset[Chain]
    by_token: dict[str, Memory]
    keys: dict[str, int] = field(default_factory=dict)


def chains_of(rows: list[Memory]) -> frozenset[Chain]:
    """The chains the rows form, checking every link both ways and one head per chain."""
    by_id = {m.id: m for m in rows}
    assert len(by_id) == len(rows), "duplicate ids"
    chains: set[Chain] = set()
    seen: set[str] = set()
    for memory in rows:
        if memory.supersedes is not None:
            older = by_id.get(memory.supersedes)
            assert older is not None, f"{memory.id} supersedes a missing memory"
            assert older.superseded_by == memory.id, f"half-done supersede at {memory.id}"
            assert older.valid_to == memory.valid_from
            continue
        chain = [memory]
        while chain[-1].superseded_by is not None:
            newer = by_id.get(chain[-1].superseded_by)
            assert newer is not None, f"{chain[-1].id} superseded by a missing memory"
            assert newer.supersedes == chain[-1].id
            chain.append(newer)
        heads = [m for m in chain if m.is_current]
        assert heads == [chain[-1]] and chain[-1].valid_to is None, "not exactly one head"
        seen.update(m.id for m in chain)
        chains.add(tuple(token_of(m) for m in chain))
    assert seen == set(by_id), "memories outside any chain (a cycle)"
    return frozenset(chains)


def config_for(path: Path, **changes: float) -> MemoryConfig:
    return MemoryConfig(db_path=path, cache_enabled=False, **changes)  # type: ignore[arg-type]


def fts_rowids(path: Path, token: str | None = None) -> set[int]:
    """Rowids in the FTS index (matching ``token`` when given), read with plain sqlite3."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if token is None:
            rows = conn.execute("SELECT rowid FROM memories_fts").fetchall()
        else:
            match = f'content:"{token}"'
            rows = conn.execute(
                "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?", (match,)
            ).fetchall()
        return {int(r[0]) for r in rows}
    finally:
        conn.close()


async def snapshot(path: Path) -> Snapshot:
    """Open as the user would (this reconciles the index), check the indexes agree, close."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a crash must never leave a damaged index file
        memory = await HierarchicalMemory.create(
            config_for(path), embedder=HashingEmbedder(DIMENSION)
        )
    async with memory:
        rows = await memory.query(MemoryFilter(include_superseded=True))
        # White box: the open index must hold exactly the keys SQLite holds.
        store_keys = stored_keys(memory)
        in_index = await index_keys(memory)
        ghosts = sorted(set(in_index) - set(store_keys))
        missing = sorted(set(store_keys) - set(in_index))
        assert not ghosts and not missing, (
            f"vector index disagrees with SQLite: {len(ghosts)} ghosts {ghosts[:10]}, "
            f"{len(missing)} missing {missing[:10]}"
        )
        assert in_index == store_keys
        stored = await stored_key_of(memory, [m.id for m in rows])
    assert fts_rowids(path) == set(store_keys), "the FTS index disagrees with SQLite"
    by_token = {token_of(m): m for m in rows}
    keys = {token_of(m): stored[m.id] for m in rows}
    return Snapshot(chains_of(rows), by_token, keys)


async def check_searchable(path: Path, present: list[Memory], gone: list[str]) -> None:
    """``present`` found by vector-only and keyword-only search; ``gone`` tokens by neither."""
    for weights in ({"text_weight": 0.0}, {"vector_weight": 0.0}):
        config = config_for(path, **weights)
        async with await HierarchicalMemory.create(
            config, embedder=HashingEmbedder(DIMENSION)
        ) as memory:
            for m in present:
                query = m.content if "text_weight" in weights else token_of(m)
                hits = await memory.search(
                    query,
                    user_id=m.user_id,
                    session_id=m.session_id,
                    top_k=10,
                    include_superseded=not m.is_current,
                )
                assert m.id in [h.id for h in hits], f"{m.content!r} not found with {weights}"
            for token in gone:
                for user in ("ada", "bo", "cy"):
                    hits = await memory.search(
                        token, user_id=user, session_id="s1", include_superseded=True
                    )
                    assert token not in [token_of(h.memory) for h in hits], f"{token} is back"


def run_cycles(tmp_path: Path, cycles: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    db = tmp_path / "crash.db"
    model: frozenset[Chain] = frozenset()
    startup = 1.0
    stats = {"kills": 0.0, "in_flight_applied": 0.0, "in_flight_absent": 0.0, "ops": 0.0}
    for cycle in range(cycles):
        started = time.monotonic()
        # stderr to a file: with one pipe, communicate() reads through the buffer readline used.
        with (tmp_path / "writer.err").open("w+") as errors:
            proc = subprocess.Popen(
                [sys.executable, str(WRITER), str(db), str(seed * 1000 + cycle), str(DIMENSION)],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
            assert proc.stdout is not None
            early = rng.random() < 0.2  # sometimes kill while it imports, opens and reconciles
            if early:
                time.sleep(rng.uniform(0.0, startup))
                out = ""
            else:
                out = proc.stdout.readline()
                startup = time.monotonic() - started
                time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            out += proc.communicate()[0]
            errors.seek(0)
            err = errors.read()
        assert proc.returncode == -signal.SIGKILL, f"the writer died by itself:\n{err}"
        assert early or out.startswith("READY\n"), err
        stats["kills"] += 1
        _, done, pending = parse_log(out)
        stats["ops"] += len(done)
        for op in done:
            model = apply(model, op)

        snap = asyncio.run(snapshot(db))
        if snap.chains == model:
            if pending is not None:
                stats["in_flight_absent"] += 1
        else:
            assert pending is not None, "a returned operation is missing or something extra"
            model = apply(model, pending)
            assert snap.chains == model, f"half-done {pending.kind}: {pending.args}"
            stats["in_flight_applied"] += 1

        touched = [t for op in [*done, *([pending] if pending else [])] for t in tokens_of(op)]
        present = [snap.by_token[t] for t in touched if t in snap.by_token]
        gone = [t for t in touched if t not in snap.by_token]
        asyncio.run(check_searchable(db, present, gone))
    # Finally every memory still there, through both searches, and the raw FTS rows.
    snap = asyncio.run(snapshot(db))
    assert snap.chains == model
    for token, key in snap.keys.items():
        assert fts_rowids(db, token) == {key}
    sample = rng.sample(sorted(snap.by_token), min(300, len(snap.by_token)))
    asyncio.run(check_searchable(db, [snap.by_token[t] for t in sample], []))
    stats["memories"] = len(snap.by_token)
    return stats


def tokens_of(op: Op) -> list[str]:
    return op.args[0].split(",") if op.kind == "MANY" else list(op.args)


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    stats = run_cycles(tmp_path, cycles=22, seed=1)
    print(f"crash safety: {stats}")
    assert stats["kills"] >= 20 and stats["ops"] > 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_at_random_moments_long(tmp_path: Path) -> None:
    stats = run_cycles(tmp_path, cycles=80, seed=2)
    print(f"crash safety (long): {stats}")
    assert stats["kills"] >= 80


# -- damaged files ------------------------------------------------------------------------------


async def _fill(path: Path, count: int = 300) -> list[Memory]:
    async with await HierarchicalMemory.create(
        config_for(path), embedder=HashingEmbedder(DIMENSION)
    ) as memory:
        return await memory.add_many(
            [{"content": f"fact{i} about apple river", "user_id": "u"} for i in range(count)]
        )


def _index_file(path: Path) -> Path:
    (found,) = path.parent.glob(f"{path.name}.*.usearch")
    return found


async def _assert_all_found(path: Path, memories: list[Memory]) -> None:
    async with await HierarchicalMemory.create(
        config_for(path, text_weight=0.0), embedder=HashingEmbedder(DIMENSION)
    ) as memory:
        assert await index_keys(memory) == stored_keys(memory)
        for m in memories[::10]:
            hits = await memory.search(m.content, user_id="u", top_k=3)
            assert m.id in [h.id for h in hits]


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: os.urandom(len(data)),
    "empty": lambda data: b"",
    "header": lambda data: os.urandom(64) + data[64:],
}


@pytest.mark.anyio
@pytest.mark.parametrize("damage", sorted(DAMAGE))
async def test_damaged_index_is_rebuilt_with_a_warning(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "memory.db"
    memories = await _fill(db)
    index = _index_file(db)
    index.write_bytes(DAMAGE[damage](index.read_bytes()))
    with pytest.warns(RuntimeWarning, match="vector index"):
        memory = await HierarchicalMemory.create(
            config_for(db, text_weight=0.0), embedder=HashingEmbedder(DIMENSION)
        )
    await memory.aclose()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt and saved: no warning the second time
        await _assert_all_found(db, memories)


@pytest.mark.anyio
async def test_stale_index_loses_ghosts_and_regains_missing(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    memories = await _fill(db, 300)
    index = _index_file(db)
    stamp = index.with_name(index.name + ".stamp")
    old_index, old_stamp = index.read_bytes(), stamp.read_bytes()  # knows the 300
    async with await HierarchicalMemory.create(
        config_for(db), embedder=HashingEmbedder(DIMENSION)
    ) as memory:
        for m in memories[:50]:
            await memory.delete(m.id)
        later = await memory.add_many(
            [{"content": f"later{i} copper violet", "user_id": "u"} for i in range(40)]
        )
    # As if the process died before saving the index (the file and its stamp, as saved).
    index.write_bytes(old_index)
    stamp.write_bytes(old_stamp)
    await _assert_all_found(db, memories[50:] + later)
    async with await HierarchicalMemory.create(
        config_for(db), embedder=HashingEmbedder(DIMENSION)
    ) as memory:
        for m in memories[:50]:
            hits = await memory.search(m.content, user_id="u", top_k=300)
            assert m.id not in [h.id for h in hits], "a deleted memory came back"


def _damage_database(data: bytes, how: str) -> bytes:
    page = 4096
    if how == "garbage":
        return os.urandom(len(data))
    if how == "header":
        return os.urandom(100) + data[100:]
    if how == "truncated":
        return data[: len(data) // 2 + 123]
    if how == "pages":
        rng = random.Random(7)
        out = bytearray(data)
        for start in range(page, len(out), page):  # every page but the first
            if rng.random() < 0.3:
                out[start : start + page] = os.urandom(page)
        return bytes(out)
    raise AssertionError(how)


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["garbage", "header", "truncated", "pages"])
async def test_corrupt_database_is_reported_and_never_overwritten(tmp_path: Path, how: str) -> None:
    source = tmp_path / "source" / "memory.db"
    await _fill(source, 2000)
    db = tmp_path / "damaged" / "memory.db"
    db.parent.mkdir()
    damaged = _damage_database(source.read_bytes(), how)
    db.write_bytes(damaged)
    shutil.copy(_index_file(source), db.parent / _index_file(source).name)
    for _ in range(2):  # the failure releases everything: a second try fails the same way
        with pytest.raises(CorruptDatabaseError) as info:
            memory = await HierarchicalMemory.create(
                config_for(db), embedder=HashingEmbedder(DIMENSION)
            )
            try:  # a page may only be found damaged when it is read
                await memory.query(MemoryFilter(include_superseded=True))
                await memory.search("apple", user_id="u")
            finally:
                await memory.aclose()
        assert "corrupt" in str(info.value) and str(db) in str(info.value)
        assert hashlib.sha256(db.read_bytes()).digest() == hashlib.sha256(damaged).digest()
