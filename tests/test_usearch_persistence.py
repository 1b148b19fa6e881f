"""UsearchIndex on disk: load what was saved, never trust or destroy a bad file, save atomically."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from headroom.errors import ClosedError, ConfigError, StorageError
from headroom.storage.sqlite import graph_file
from headroom.storage.sqlite.usearch_index import UsearchIndex

pytestmark = pytest.mark.anyio

D = 16


def unit(seed: int, n: int, d: int = D) -> npt.NDArray[np.float32]:
    rows = np.random.default_rng(seed).standard_normal((n, d))
    result: npt.NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
        np.float32
    )
    return result


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def saved_index(path: Path, n: int = 300, *, dimension: int = D, **options: Any) -> None:
    """Write an index of ``n`` vectors (keys 1..n) to ``path``."""
    index = await UsearchIndex.open(path, dimension, **options)
    await index.add(np.arange(1, n + 1, dtype=np.int64), unit(1, n, dimension))
    await index.save()
    await index.aclose()


async def test_reopen_loads_the_same_keys_and_results(tmp_path: Path) -> None:
    path = tmp_path / "vectors.usearch"
    index = await UsearchIndex.open(path, D, m=8, ef_search=8)
    await index.add(np.arange(1, 501, dtype=np.int64), unit(1, 500))
    await index.remove(np.arange(1, 51, dtype=np.int64))
    queries = unit(2, 20)
    allowed = np.arange(40, 400, 3, dtype=np.int64)
    before = [await index.search(q, 10) for q in queries]
    before_filtered = [await index.search(q, 10, allowed) for q in queries]
    await index.save()
    await index.aclose()

    again = await UsearchIndex.open(path, D, m=8, ef_search=8)
    assert len(again) == 450
    assert (await again.keys()).tolist() == list(range(51, 501))
    # The same graph answers the same approximate searches (a rebuilt one would differ).
    for q, (keys, sims) in zip(queries, before, strict=True):
        got_keys, got_sims = await again.search(q, 10)
        assert got_keys.tolist() == keys.tolist()
        np.testing.assert_array_equal(got_sims, sims)
    for q, (keys, _) in zip(queries, before_filtered, strict=True):
        assert (await again.search(q, 10, allowed))[0].tolist() == keys.tolist()
    # Removed keys stay removed, and can be added again.
    await again.add(np.array([7], dtype=np.int64), unit(3, 1))
    assert len(again) == 451
    await again.aclose()


async def test_save_is_a_no_op_until_something_changes(tmp_path: Path) -> None:
    path = tmp_path / "vectors.usearch"
    index = await UsearchIndex.open(path, D)
    await index.save()
    assert not path.exists()  # nothing added yet: nothing to write
    await index.add(np.array([1, 2], dtype=np.int64), unit(1, 2))
    await index.save()
    inode = path.stat().st_ino
    await index.save()
    assert path.stat().st_ino == inode  # not rewritten
    await index.remove(np.array([99], dtype=np.int64))  # absent: changes nothing
    await index.save()
    assert path.stat().st_ino == inode
    await index.remove(np.array([1], dtype=np.int64))
    await index.save()
    assert path.stat().st_ino != inode  # a new file renamed into place
    await index.aclose()
    with pytest.raises(ClosedError):
        await index.save()


async def test_in_memory_index_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    index = await UsearchIndex.open(None, D)
    await index.add(np.array([1], dtype=np.int64), unit(1, 1))
    await index.save()
    assert index.path is None
    assert names(tmp_path) == []
    await index.aclose()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:40], id="truncated-header"),
        pytest.param(lambda data: b"\x00" * len(data), id="zeros"),
        pytest.param(lambda data: b"not an index at all\n" * 50, id="garbage"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
async def test_a_damaged_file_is_kept_aside_and_the_index_starts_empty(
    tmp_path: Path, damage: object
) -> None:
    path = tmp_path / "vectors.usearch"
    await saved_index(path)
    bad = damage(path.read_bytes())  # type: ignore[operator]
    path.write_bytes(bad)

    with pytest.warns(RuntimeWarning, match="starting empty"):
        index = await UsearchIndex.open(path, D)
    assert len(index) == 0
    corrupt = tmp_path / "vectors.usearch.corrupt"
    assert corrupt.read_bytes() == bad  # kept byte for byte
    assert not path.exists()

    # The facade then rebuilds; saving writes a fresh file and leaves the bad one alone.
    await index.add(np.array([1, 2], dtype=np.int64), unit(2, 2))
    await index.save()
    await index.aclose()
    assert corrupt.read_bytes() == bad
    reopened = await UsearchIndex.open(path, D)
    assert (await reopened.keys()).tolist() == [1, 2]
    await reopened.aclose()


async def test_a_second_bad_file_does_not_overwrite_the_first(tmp_path: Path) -> None:
    path = tmp_path / "vectors.usearch"
    for attempt in range(2):
        path.write_bytes(f"garbage {attempt}".encode())
        with pytest.warns(RuntimeWarning):
            index = await UsearchIndex.open(path, D)
        await index.aclose()
    assert (tmp_path / "vectors.usearch.corrupt").read_bytes() == b"garbage 0"
    assert (tmp_path / "vectors.usearch.corrupt.1").read_bytes() == b"garbage 1"


@pytest.mark.parametrize(
    ("written", "opened", "reason"),
    [
        pytest.param({"dimension": 8}, {}, "dimension 8", id="dimension"),
        pytest.param({"dtype": "f16"}, {}, "F16", id="dtype"),
        pytest.param({}, {"dtype": "i8"}, "not I8", id="dtype-and-metric"),
    ],
)
async def test_a_file_of_another_configuration_is_not_loaded(
    tmp_path: Path, written: dict[str, object], opened: dict[str, object], reason: str
) -> None:
    path = tmp_path / "vectors.usearch"
    dimension = int(written.pop("dimension", D))  # type: ignore[call-overload]
    await saved_index(path, 20, dimension=dimension, **written)
    with pytest.warns(RuntimeWarning, match=reason):
        index = await UsearchIndex.open(path, D, **opened)  # type: ignore[arg-type]
    assert len(index) == 0 and index.dimension == D
    assert (tmp_path / "vectors.usearch.corrupt").exists()
    await index.add(np.array([1], dtype=np.int64), unit(3, 1))
    await index.aclose()


async def test_temporaries_left_by_a_crashed_save_are_ignored_and_removed_by_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vectors.usearch"
    await saved_index(path, 50)
    # What a crash between writing the temporary and renaming it leaves behind.
    stale = tmp_path / ".vectors.usearch.k3j2h1.tmp"
    stale.write_bytes(path.read_bytes()[:100])
    other = tmp_path / ".other.usearch.abc.tmp"  # another index's: not ours to touch
    other.write_bytes(b"x")
    index = await UsearchIndex.open(path, D)
    assert len(index) == 50 and stale.exists()  # another process may be saving right now
    await index.add(np.array([100], dtype=np.int64), unit(5, 1))
    await index.save()  # holding the save lock: what is left is stale
    assert not stale.exists() and other.exists()
    await index.aclose()


async def test_damage_to_the_body_is_found_by_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "vectors.usearch"
    await saved_index(path, 50)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # loads "fine" without a checksum
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="checksum"):
        index = await UsearchIndex.open(path, D)
    assert len(index) == 0
    assert (tmp_path / "vectors.usearch.corrupt").exists()
    await index.aclose()


async def test_a_file_stamped_for_another_owner_is_not_used_nor_moved(tmp_path: Path) -> None:
    path = tmp_path / "vectors.usearch"
    index = await UsearchIndex.open(path, D, owner="database-a")
    await index.add(np.arange(1, 21, dtype=np.int64), unit(6, 20))
    await index.save()
    await index.aclose()
    with pytest.warns(RuntimeWarning, match="another database"):
        other = await UsearchIndex.open(path, D, owner="database-b")
    assert len(other) == 0 and path.exists()
    await other.aclose()
    again = await UsearchIndex.open(path, D, owner="database-a")
    assert len(again) == 20
    await again.aclose()


async def test_read_only_never_moves_or_saves(tmp_path: Path) -> None:
    path = tmp_path / "vectors.usearch"
    await saved_index(path, 10)
    path.write_bytes(path.read_bytes()[:-10])
    path.with_name(path.name + ".lock").unlink(missing_ok=True)
    before = names(tmp_path)
    with pytest.warns(RuntimeWarning, match="vector index"):
        index = await UsearchIndex.open(path, D, read_only=True)
    await index.add(np.array([1], dtype=np.int64), unit(7, 1))
    await index.save()
    await index.aclose()
    assert names(tmp_path) == before


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "vectors.usearch"
    path.write_bytes(b"the previous index")

    def crash(temporary: Path) -> None:
        temporary.write_bytes(b"half of the new ind")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        graph_file.write_atomically(path, crash)
    assert path.read_bytes() == b"the previous index"
    assert names(tmp_path) == ["vectors.usearch"]


async def test_saving_into_an_unwritable_place_raises_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    index = await UsearchIndex.open(blocker / "vectors.usearch", D)
    await index.add(np.array([1], dtype=np.int64), unit(1, 1))
    with pytest.raises(StorageError):
        await index.save()
    await index.aclose()


async def test_bad_configuration_raises_config_error() -> None:
    for options in (
        {"m": 1},
        {"ef_search": 0},
        {"ef_construction": True},
        {"exact_threshold": -1},
        {"dtype": "f64"},
    ):
        with pytest.raises(ConfigError):
            await UsearchIndex.open(None, D, **options)
    with pytest.raises(ConfigError):
        await UsearchIndex.open(None, 0)


async def test_quantised_indexes_search_correctly(tmp_path: Path) -> None:
    vectors = unit(4, 200)
    for dtype in ("f16", "i8"):
        path = tmp_path / f"{dtype}.usearch"
        index = await UsearchIndex.open(path, D, dtype=dtype)
        await index.add(np.arange(1, 201, dtype=np.int64), vectors)
        for allowed in (None, np.array([5, 17, 150], dtype=np.int64)):
            keys, sims = await index.search(vectors[16], 1, allowed)
            assert keys.tolist() == [17]
            assert sims[0] == pytest.approx(1.0, abs=0.03)
        await index.save()
        await index.aclose()
        reopened = await UsearchIndex.open(path, D, dtype=dtype)
        assert len(reopened) == 200
        await reopened.aclose()


async def test_forgetting_to_close_warns() -> None:
    index = await UsearchIndex.open(None, D)
    with pytest.warns(ResourceWarning, match="unclosed"):
        del index
        gc.collect()
