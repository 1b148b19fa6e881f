"""One SQLite database: its two connections, the process lock, and the error translation.

Every operation is one synchronous function run on a connection in a worker thread: one
thread hop per operation, however many statements it runs (awaiting each statement costs two
hops: a 2,000-row insert took 418-758 ms that way, 163-168 ms in one hop). Calls on one
connection run one at a time, and a call, once started, runs to its end even if the caller is
cancelled, so no transaction is ever left half done.

Two connections: one writer, whose transactions are serialised, and one read-only reader. In
WAL mode the reader sees only committed transactions, so no search or query can see half of a
supersede, and reads never wait for writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from headroom.errors import (
    ClosedError,
    CorruptDatabaseError,
    DatabaseLockedError,
    SchemaVersionError,
    StorageError,
    ValidationError,
)
from headroom.storage.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION, statements

__all__ = ["Connection", "Database", "translate_errors"]

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 5000
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # set by SQLite (Python 3.11+), else absent
    return None if code is None else int(code) & 0xFF


def _corrupt(exc: sqlite3.Error) -> bool:
    if _primary_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "disk image" in text


def _locked(exc: sqlite3.Error) -> bool:
    if _primary_code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return True
    text = str(exc).lower()
    return "locked" in text or "busy" in text


@contextlib.contextmanager
def translate_errors(what: str, path: Path | None = None) -> Iterator[None]:
    """Re-raise sqlite3 errors (and values SQLite cannot bind) as our own, chained."""
    where = "the database" if path is None else f"the database {path}"
    try:
        yield
    except sqlite3.Error as exc:
        if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc).lower():
            raise ClosedError(f"{what}: the store is closed") from exc
        if _corrupt(exc):
            raise CorruptDatabaseError(
                f"{what}: {where} is corrupt ({exc}). headroom has not modified it: restore it "
                "from a backup, or move it aside to start a new one"
            ) from exc
        if _locked(exc):
            raise DatabaseLockedError(f"{what}: {where} is locked ({exc})") from exc
        raise StorageError(f"{what}: {exc}") from exc
    except (OverflowError, UnicodeEncodeError) as exc:
        # A value SQLite cannot bind (an int past 64 bits, a lone surrogate): nothing stored.
        raise ValidationError(f"{what}: a value cannot be stored ({exc})") from exc


class Connection:
    """A sqlite3 connection driven from worker threads, one call at a time."""

    def __init__(self, raw: sqlite3.Connection, path: Path) -> None:
        self._raw = raw
        self._path = path
        self._limiter = anyio.CapacityLimiter(1)
        self._closed = False

    async def run(self, what: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        """``operation(connection)`` in one hop, its sqlite3 errors translated."""
        if self._closed:
            raise ClosedError(f"{what}: the store is closed")
        return await anyio.to_thread.run_sync(
            partial(self._call, what, operation), limiter=self._limiter
        )

    async def transaction(self, what: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        """``operation`` inside one write transaction (BEGIN IMMEDIATE ... COMMIT), in one hop.

        Any exception rolls everything back and is raised (translated).
        """
        return await self.run(what, partial(_in_transaction, operation))

    def _call(self, what: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:  # closed while this call waited for the connection
            raise ClosedError(f"{what}: the store is closed")
        with translate_errors(what, self._path):
            return operation(self._raw)

    async def aclose(self) -> None:
        if self._closed:
            return
        async with self._limiter:  # after the running call, never under it
            self._closed = True
            with contextlib.suppress(sqlite3.Error):
                self._raw.close()


def _in_transaction(operation: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = operation(conn)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


class _ProcessLock:
    """An exclusive advisory lock on ``<db>.lock`` (POSIX ``flock``; a no-op elsewhere)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: SQLite's own locking only
            return
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open the lock file {self._path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StorageError(f"cannot lock {self._path}: {exc}") from exc
            raise DatabaseLockedError(
                f"{self._path.with_suffix('')} is already open, in another process or by "
                "another HierarchicalMemory in this one; open it once per process and share "
                "that instance"
            ) from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


class Database:
    """The writer and reader connections of one SQLite file, opened and migrated."""

    def __init__(self, path: Path, writer: Connection, reader: Connection, lock: _ProcessLock):
        self.path = path
        self.writer = writer
        self.reader = reader
        self._lock = lock

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating if needed) and migrate the database at ``path``."""
        path = Path(path)
        # File-system calls and SQLite's open block: all of it in a worker thread.
        return await anyio.to_thread.run_sync(cls._open_sync, path)

    @classmethod
    def _open_sync(cls, path: Path) -> Database:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder for {path}: {exc}") from exc
        lock = _ProcessLock(path.with_name(path.name + ".lock"))
        lock.acquire()
        opened: list[sqlite3.Connection] = []
        try:
            with translate_errors("opening the database", path):
                writer = _connect(str(path), uri=False)
                opened.append(writer)
                mode = writer.execute("PRAGMA journal_mode = WAL").fetchone()
                if mode is None or str(mode[0]).lower() != "wal":
                    raise StorageError(f"{path}: cannot switch the database to WAL mode")
                # NORMAL in WAL mode: a committed transaction survives a process crash; an OS
                # crash or power loss may lose the last ones (never corrupts).
                writer.execute("PRAGMA synchronous = NORMAL")
                _migrate(writer, path)
                reader = _connect(f"file:{path}?mode=ro", uri=True)
                opened.append(reader)
                reader.execute("PRAGMA query_only = 1")
        except BaseException:
            for conn in opened:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            lock.release()
            raise
        return cls(path, Connection(writer, path), Connection(reader, path), lock)

    async def aclose(self) -> None:
        try:
            await self.reader.aclose()
            await self.writer.aclose()
        finally:
            self._lock.release()


def _connect(target: str, *, uri: bool) -> sqlite3.Connection:
    # Autocommit mode (isolation_level None): transactions are explicit. check_same_thread is
    # off because every call runs on whichever worker thread anyio picks, one at a time.
    conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        version = 0
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has schema version {version}; this headroom knows up to {SCHEMA_VERSION}. "
            "Upgrade headroom to open it."
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):

        def apply(conn: sqlite3.Connection, number: int = number) -> None:
            for statement in statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(number),),
            )

        _in_transaction(apply, conn)
