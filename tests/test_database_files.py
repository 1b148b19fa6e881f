"""What happens to the files: links, copies, a damaged index, a full disk.

The full-disk test mounts a small tmpfs (root in a container that allows it); elsewhere it is
skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.errors import DiskFullError, StorageError
from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter
from tests.fakes import HashingEmbedder, distinct_texts
from tests.introspect import index_keys, stored_keys
from tests.mounts import tmpfs

pytestmark = pytest.mark.anyio

DIMENSION = 256  # wide enough that random contents never share a vector


def _config(db: Path, **changes: Any) -> MemoryConfig:
    return MemoryConfig(db_path=db, cache_enabled=False, **changes)


async def _open(db: Path, **changes: Any) -> HierarchicalMemory:
    return await HierarchicalMemory.create(
        _config(db, **changes), embedder=HashingEmbedder(DIMENSION)
    )


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _contents(prefix: str, count: int) -> list[dict[str, str]]:
    """Memories of six words each: distinct vectors, even from the hashing embedder."""
    return [{"content": text, "user_id": "u"} for text in distinct_texts(prefix, count)]


async def _recall(memory: HierarchicalMemory) -> tuple[int, int]:
    """How many of the memory's own contents its vector search finds in the top 3."""
    rows = await memory.query(MemoryFilter())
    found = 0
    for m in rows:
        hits = await memory.search(m.content, user_id=m.user_id, top_k=3)
        found += m.id in [h.id for h in hits]
    return found, len(rows)


# -- links -----------------------------------------------------------------------------------


async def test_a_hard_link_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    async with await _open(db) as memory:
        await memory.add("one", user_id="u")
    link = tmp_path / "other-name.db"
    os.link(db, link)
    for path in (link, db):
        with pytest.raises(StorageError, match="hard links"):
            await _open(path)
        with pytest.raises(StorageError, match="hard links"):
            await HierarchicalMemory.create(
                _config(path), embedder=HashingEmbedder(DIMENSION), read_only=True
            )
    link.unlink()
    async with await _open(db) as memory:
        assert len(await memory.query()) == 1


async def test_a_symlink_opens_the_file_itself(tmp_path: Path) -> None:
    real = tmp_path / "data" / "memory.db"
    link = tmp_path / "memory.db"
    async with await _open(real) as memory:
        await memory.add_many(_contents("through the real path", 300))
    link.symlink_to(real)
    async with await _open(link, text_weight=0.0) as via_link, await _open(real) as direct:
        added = await via_link.add("written through the link", user_id="u")
        assert [h.id for h in await direct.search(added.content, user_id="u", top_k=1)] == [
            added.id
        ]
        assert await _recall(via_link) == (301, 301)
    # The journal and the index live beside the file, not the link.
    assert _names(tmp_path) == ["data", "memory.db"]
    assert any(name.endswith(".usearch") for name in _names(real.parent))


# -- copies ----------------------------------------------------------------------------------


async def test_a_copy_never_answers_from_the_original_index(tmp_path: Path) -> None:
    original = tmp_path / "memory.db"
    async with await _open(original) as memory:
        kept = await memory.add_many(_contents("original fact", 300))
    copy = tmp_path / "backup.db"
    shutil.copy(original, copy)  # the obvious backup, in the same folder
    # The original moves on: everything replaced.
    async with await _open(original) as memory:
        await memory.clear(user_id="u")
        await memory.add_many(_contents("newer fact", 300))
    async with await _open(copy, text_weight=0.0) as backup:
        assert await _recall(backup) == (300, 300)
        hits = await backup.search(kept[0].content, user_id="u", top_k=1)
        assert [h.id for h in hits] == [kept[0].id]


async def test_a_copy_with_its_index_files_rebuilds_them_with_a_warning(tmp_path: Path) -> None:
    original = tmp_path / "a" / "memory.db"
    async with await _open(original) as memory:
        await memory.add_many(_contents("fact", 300))
    # `cp -r a b`: the database and its index files, elsewhere.
    shutil.copytree(original.parent, tmp_path / "b")
    copy = tmp_path / "b" / "memory.db"
    with pytest.warns(RuntimeWarning, match="made for another database"):
        backup = await _open(copy, text_weight=0.0)
    async with backup:
        assert await _recall(backup) == (300, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt and saved for the copy: quiet from now on
        async with await _open(copy) as again, await _open(original) as first:
            assert len(await again.query()) == len(await first.query()) == 300


# -- a damaged index -------------------------------------------------------------------------


async def test_random_bytes_over_the_index_body_are_found_and_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    async with await _open(db) as memory:
        await memory.add_many(_contents("fact", 300))
    (index,) = [tmp_path / n for n in _names(tmp_path) if n.endswith(".usearch")]
    data = bytearray(index.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = os.urandom(4096)  # the header is intact: usearch loads it
    index.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="checksum"):
        memory = await _open(db, text_weight=0.0)
    async with memory:
        assert await _recall(memory) == (300, 300)
        assert await index_keys(memory) == stored_keys(memory)


# -- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs, mounted for this test."""
    with tmpfs(tmp_path / "disk", "6m") as mount:
        yield mount


async def test_a_full_disk_says_so_and_loses_nothing(small_disk: Path) -> None:
    db = small_disk / "memory.db"
    stored: list[str] = []
    memory = await _open(db)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (4 * 1024 * 1024))  # most of the disk
    with pytest.raises(DiskFullError, match="full") as info:
        for n in range(10_000):
            batch = await memory.add_many(_contents(f"{'x' * 400} batch{n}", 50))
            stored.extend(m.id for m in batch)
    assert "nothing of this operation was stored" in str(info.value)
    assert stored, "the disk filled before anything was stored: make the filler smaller"
    # Everything acknowledged is there, and the memory still answers and closes.
    assert {m.id for m in await memory.query()} == set(stored)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the index may not fit: a cache
        await memory.aclose()
    reader = await HierarchicalMemory.create(
        _config(db), embedder=HashingEmbedder(DIMENSION), read_only=True
    )
    async with reader:  # reading (an export) works on the full disk
        assert len(await reader.query()) == len(stored)
    filler.unlink()  # room again
    async with await _open(db, text_weight=0.0) as memory:
        more = await memory.add("after the disk was freed", user_id="u")
        assert {m.id for m in await memory.query()} == {*stored, more.id}
        assert (await _recall(memory)) == (len(stored) + 1, len(stored) + 1)
