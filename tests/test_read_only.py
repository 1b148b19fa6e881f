"""Opening read-only: nothing is created or changed, writes are refused, the model loads late.

The read-only mount test remounts a small tmpfs read-only (root in a container that allows
it); elsewhere it is skipped, saying why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.embedders.lazy import LazyEmbedder
from headroom.errors import MissingDatabaseError, ReadOnlyError, StorageError
from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory
from tests.fakes import HashingEmbedder
from tests.mounts import remount_read_only, tmpfs

pytestmark = pytest.mark.anyio

DIMENSION = 256  # wide enough that random contents never share a vector


def _config(db: Path, **changes: Any) -> MemoryConfig:
    return MemoryConfig(db_path=db, cache_enabled=False, **changes)


async def _fill(db: Path, count: int = 5) -> None:
    async with await HierarchicalMemory.create(
        _config(db), embedder=HashingEmbedder(DIMENSION)
    ) as memory:
        await memory.add_many([NewMemory(f"note {i} about kites", "u") for i in range(count)])


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_missing_database_is_reported_and_never_created(tmp_path: Path) -> None:
    db = tmp_path / "nothing" / "memory.db"
    with pytest.raises(MissingDatabaseError, match="no database"):
        await HierarchicalMemory.create(_config(db), read_only=True)
    assert not db.parent.exists()


@pytest.mark.parametrize("content", [b"", b"just some text, not a database\n" * 10])
async def test_a_file_that_is_not_a_database_is_reported_and_left_alone(
    tmp_path: Path, content: bytes
) -> None:
    db = tmp_path / "memory.db"
    db.write_bytes(content)
    with pytest.raises(StorageError, match=r"not a headroom database|not a database"):
        await HierarchicalMemory.create(_config(db), read_only=True)
    assert db.read_bytes() == content
    assert _names(tmp_path) == ["memory.db"]


async def test_writes_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    await _fill(db)
    before, files = _digest(db), _names(tmp_path)
    embedder = HashingEmbedder(DIMENSION)
    async with await HierarchicalMemory.create(
        _config(db), embedder=embedder, read_only=True
    ) as memory:
        assert memory.read_only
        (first, *_) = await memory.query()
        for write in (
            memory.add("x", user_id="u"),
            memory.add_many([NewMemory("x", "u")]),
            memory.supersede(first.id, "y"),
            memory.rollback(first.id),
            memory.delete(first.id),
            memory.clear(user_id="u"),
            memory.import_memories([first]),
            memory.reindex(),
            memory.reembed(HashingEmbedder(DIMENSION)),
        ):
            with pytest.raises(ReadOnlyError, match="read-only"):
                await write
        assert embedder.calls == []  # refused before anything was embedded
        assert len(await memory.search("kites", user_id="u")) == 5
    assert _digest(db) == before
    # SQLite's own -wal and -shm may appear beside a WAL database while it is read.
    assert [n for n in _names(tmp_path) if not n.endswith(("-wal", "-shm"))] == files


async def test_the_model_loads_only_when_a_search_needs_it(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    async with await HierarchicalMemory.create(_config(db)) as memory:  # the local model
        await memory.add("Alice keeps bees", user_id="alice")
    async with await HierarchicalMemory.create(_config(db), read_only=True) as memory:
        lazy = memory.embedder
        assert isinstance(lazy, LazyEmbedder) and not lazy.loaded
        assert len(await memory.query()) == 1
        assert (await memory.stats()).total == 1
        assert not lazy.loaded
        hits = await memory.search("insects", user_id="alice")
        assert lazy.loaded and [h.content for h in hits] == ["Alice keeps bees"]


async def test_a_read_only_memory_follows_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    await _fill(db)
    embedder = HashingEmbedder(DIMENSION)
    async with (
        await HierarchicalMemory.create(
            _config(db, text_weight=0.0), embedder=embedder, read_only=True
        ) as reader,
        await HierarchicalMemory.create(_config(db), embedder=embedder) as writer,
    ):
        assert len(await reader.search("kites", user_id="u", top_k=10)) == 5
        added = await writer.add_many([NewMemory(f"gull {i} over water", "u") for i in range(300)])
        hits = await reader.search(added[123].content, user_id="u", top_k=1)
        assert [h.id for h in hits] == [added[123].id]
        await writer.delete(added[123].id)
        hits = await reader.search(added[123].content, user_id="u", top_k=1)
        assert added[123].id not in [h.id for h in hits]


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs, to hold a database and then be remounted read-only."""
    with tmpfs(tmp_path / "ro", "8m") as mount:
        yield mount


async def test_a_database_on_a_read_only_mount(read_only_mount: Path) -> None:
    db = read_only_mount / "memory.db"
    await _fill(db, 300)
    remount_read_only(read_only_mount)
    names = _names(read_only_mount)
    async with await HierarchicalMemory.create(
        _config(db, text_weight=0.0), embedder=HashingEmbedder(DIMENSION), read_only=True
    ) as memory:
        rows = await memory.query()
        assert len(rows) == 300
        hits = await memory.search(rows[42].content, user_id="u", top_k=1)
        assert [h.id for h in hits] == [rows[42].id]
    assert _names(read_only_mount) == names


async def test_read_only_on_postgresql_creates_nothing(postgres_config: MemoryConfig) -> None:
    embedder = HashingEmbedder(DIMENSION)
    with pytest.raises(MissingDatabaseError, match="no headroom database"):
        await HierarchicalMemory.create(postgres_config, embedder=embedder, read_only=True)
    async with await HierarchicalMemory.create(postgres_config, embedder=embedder) as writer:
        await writer.add("note about kites", user_id="u")
    async with await HierarchicalMemory.create(
        postgres_config, embedder=embedder, read_only=True
    ) as reader:
        assert [m.content for m in await reader.query()] == ["note about kites"]
        with pytest.raises(ReadOnlyError):
            await reader.add("x", user_id="u")
