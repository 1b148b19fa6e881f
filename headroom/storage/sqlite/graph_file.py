"""The vector graph's file on disk: written atomically, stamped, checksummed, locked.

Beside ``<index>`` (usearch's own format) lies ``<index>.stamp``, a small JSON record of the
file's length, its CRC-32 and whose it is (the database's id and generation): an index file
is used only by the database it was made for, and damage to its bytes is found before it is
loaded. Several processes share a folder, so a save (index, then stamp) and a load hold
``<index>.lock`` (exclusive to save, shared to load): a reader never pairs one process's
index with another's stamp. Every call here blocks: run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from headroom.errors import DiskFullError

__all__ = [
    "Stamp",
    "checksum",
    "fsync_directory",
    "locked",
    "move_aside",
    "read_stamp",
    "remove_stale_temporaries",
    "stamp_path",
    "write_atomically",
    "write_stamped",
]

_log = logging.getLogger("headroom.storage")

_FORMAT = 1
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Stamp:
    """What an index file's stamp records."""

    owner: str | None
    """Whose the file is (the database's id and generation); None: anyone's."""
    length: int
    crc32: int


def stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".stamp")


def checksum(path: Path) -> tuple[int, int]:
    """The length and CRC-32 of a file (CRC-32: fast, and enough to find accidental damage)."""
    crc, length = 0, 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            length += len(chunk)
    return length, crc


def read_stamp(path: Path) -> Stamp | None:
    """The stamp of the index at ``path``; None when there is none or it is unreadable."""
    try:
        data = json.loads(stamp_path(path).read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            return None
        owner = data["owner"]
        return Stamp(None if owner is None else str(owner), int(data["length"]), int(data["crc32"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@contextlib.contextmanager
def locked(path: Path, *, exclusive: bool, create: bool = True) -> Iterator[None]:
    """Hold ``<index>.lock`` (POSIX flock). A shared hold where it does not exist and may not
    be made (read-only; a read-only folder, where nobody saves) proceeds without it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: saves are rare, and atomic anyway
        yield
        return
    lock = path.with_name(path.name + ".lock")
    try:
        if not create:
            raise PermissionError("not made by a read-only reader")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            if exclusive:
                raise
            yield
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_stamped(path: Path, write: Callable[[Path], object], owner: str | None) -> None:
    """``write`` the index to a temporary file, stamp it, and rename both into place.

    Holding the exclusive lock: first removes what an interrupted save left. A crash leaves
    the old pair or the new index with the old stamp (found on load: rebuilt), never a mix
    that passes the check. A full disk raises :class:`DiskFullError`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path, exclusive=True):
        remove_stale_temporaries(path)
        lengths: list[tuple[int, int]] = []

        def write_and_sum(temporary: Path) -> None:
            try:
                write(temporary)
            except Exception as exc:
                _raise_if_full(path, exc)
                raise
            lengths.append(checksum(temporary))

        write_atomically(path, write_and_sum)
        length, crc = lengths[0]
        record = {"format": _FORMAT, "owner": owner, "length": length, "crc32": crc}
        write_atomically(
            stamp_path(path), lambda tmp: tmp.write_text(json.dumps(record), encoding="utf-8")
        )


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` into a temporary file beside ``path``, flush it to disk, then rename it over.

    A crash leaves either the old file or the new one, never a mix; a leftover temporary is
    removed by the next save.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)  # usearch opens the file itself, by name
    temporary = Path(name)
    try:
        write(temporary)
        # fsync through a new descriptor flushes the file's pages whichever fd wrote them.
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(exc, OSError):
            _raise_if_full(path, exc)
        raise
    fsync_directory(path.parent)


def _raise_if_full(path: Path, exc: BaseException) -> None:
    """A failed write on a full disk says so (usearch only says "Failed to serialize")."""
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if not full:
        try:
            full = shutil.disk_usage(path.parent).free < _CHUNK
        except OSError:
            return
    if full:
        raise DiskFullError(
            f"no room left on the disk holding {path.parent} to save the vector index "
            f"({exc}); the database itself is unaffected. Free some space: the index is saved "
            "again later, or rebuilt from the database"
        ) from exc


def fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles to flush)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporaries an interrupted save left beside ``path`` (call holding the lock)."""
    for name in (path, stamp_path(path)):
        for stale in name.parent.glob(f".{glob.escape(name.name)}.*.tmp"):
            _log.info("removing %s, left by an interrupted save", stale)
            with contextlib.suppress(OSError):
                stale.unlink()


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.corrupt`` (or ``.corrupt.N`` if taken); the new name."""
    target = path.with_name(f"{path.name}.corrupt")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt.{counter}")
        counter += 1
    os.replace(path, target)
    with contextlib.suppress(OSError):
        stamp_path(path).unlink()
    return target
