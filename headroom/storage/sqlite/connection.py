"""One SQLite database: its two connections, the process lock, and the error translation.

Every operation is one synchronous function run on a connection in a worker thread: one
thread hop per operation, however many statements it runs (awaiting each statement costs two
hops: a 2,000-row insert took 418-758 ms that way, 163-168 ms in one hop). Calls on one
connection run one at a time, and a call, once started, runs to its end even if the caller is
cancelled, so no transaction is ever left half done.

Connections: one writer, whose transactions are serialised (across processes too: SQLite's
own lock, a busy timeout, short transactions), one read-only reader, and a probe that tells
when anything was committed. In WAL mode the reader sees only committed transactions, so no
search or query can see half of a supersede, and reads never wait for writes. Any number of
processes (and of engines in one process) may open one database; a read-only opening has no
writer at all.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import urllib.parse
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
    DiskFullError,
    MissingDatabaseError,
    SchemaVersionError,
    StorageError,
    ValidationError,
)
from headroom.storage.sqlite.identity import Identity, home_of, read_identity
from headroom.storage.sqlite.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION,
    read_as_current,
    statements,
)

__all__ = ["ChangeProbe", "Connection", "Database", "translate_errors"]

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 5000
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 5, 6, 11, 13, 26


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
        if _primary_code(exc) == _SQLITE_NOTADB or "not a database" in str(exc).lower():
            raise CorruptDatabaseError(
                f"{what}: {where} is not a headroom database, or is corrupt (SQLite: {exc}). "
                "headroom has not modified it: if it was one, restore it from a backup"
            ) from exc
        if _corrupt(exc):
            raise CorruptDatabaseError(
                f"{what}: {where} is corrupt ({exc}). headroom has not modified it: restore it "
                "from a backup, or move it aside to start a new one"
            ) from exc
        if _locked(exc):
            raise DatabaseLockedError(f"{what}: {where} is locked ({exc})") from exc
        if _primary_code(exc) == _SQLITE_FULL or "disk is full" in str(exc).lower():
            raise DiskFullError(
                f"{what}: the disk holding {where} is full ({exc}); nothing of this operation "
                "was stored. Free some space and try again"
            ) from exc
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


class ChangeProbe:
    """``PRAGMA data_version`` on a connection of its own, read on the event loop.

    The value changes whenever any other connection (of this process or another) commits.
    It costs a few microseconds and never waits (busy timeout 0): cheap enough to ask before
    every search, which then reads the change log only when something was committed.
    """

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw
        self._closed = False

    def version(self) -> int | None:
        """The current data version; None when it cannot be read (then assume a change)."""
        if self._closed:
            return None
        try:
            row = self._raw.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else int(row[0])

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(sqlite3.Error):
            self._raw.close()


class Database:
    """The connections to one SQLite file, opened (and, unless read-only, migrated).

    ``path`` is the file's real path: a symbolic link is followed, so SQLite's journal and the
    vector index live beside the file itself whichever name opened it.
    """

    def __init__(
        self,
        path: Path,
        writer: Connection | None,
        reader: Connection,
        probe: ChangeProbe,
        identity: Identity | None,
        home: str,
    ) -> None:
        self.path = path
        self.writer = writer
        self.reader = reader
        self.probe = probe
        self.identity = identity
        self.home = home
        """Where the file lives (see :func:`.identity.home_of`)."""

    @property
    def read_only(self) -> bool:
        return self.writer is None

    @classmethod
    async def open(cls, path: Path, *, read_only: bool = False) -> Database:
        """Open the database at ``path``: created and migrated if needed, or read-only.

        Read-only, nothing is ever created or written: a missing file raises
        :class:`MissingDatabaseError`, a file that is not a headroom database says so.
        """
        # File-system calls and SQLite's open block: all of it in a worker thread.
        return await anyio.to_thread.run_sync(partial(cls._open_sync, Path(path), read_only))

    @classmethod
    def _open_sync(cls, given: Path, read_only: bool = False) -> Database:
        path = Path(os.path.realpath(given))
        if path.is_dir():
            raise StorageError(f"{given} is a directory, not a database file")
        if read_only:
            return cls._open_read_only(given, path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder for {given}: {exc}") from exc
        _refuse_hard_links(given, path)
        opened: list[sqlite3.Connection] = []
        with _closed_on_failure(opened), translate_errors("opening the database", given):
            writer = _connect(str(path), uri=False)
            opened.append(writer)
            _switch_to_wal(writer, given)
            # NORMAL in WAL mode: a committed transaction survives a process crash; an OS
            # crash or power loss may lose the last ones (never corrupts).
            writer.execute("PRAGMA synchronous = NORMAL")
            _migrate(writer, given)
            home = home_of(path)
            identity = read_identity(writer, home)
            reader = _connect(f"{_uri(path)}?mode=ro", uri=True)
            opened.append(reader)
            reader.execute("PRAGMA query_only = 1")
            probe = _connect(f"{_uri(path)}?mode=ro", uri=True, busy_timeout_ms=0)
            opened.append(probe)
        return cls(
            path,
            Connection(writer, given),
            Connection(reader, given),
            ChangeProbe(probe),
            identity,
            home,
        )

    @classmethod
    def _open_read_only(cls, given: Path, path: Path) -> Database:
        if not path.exists():
            raise MissingDatabaseError(f"no database at {given}")
        _refuse_hard_links(given, path)
        opened: list[sqlite3.Connection] = []
        with _closed_on_failure(opened), translate_errors("opening the database", given):
            target = _read_only_uri(path)
            reader = _connect(target, uri=True)
            opened.append(reader)
            version = _schema_version(reader, given)
            if version > SCHEMA_VERSION:
                raise _newer(given, version)
            for statement in read_as_current(version):
                reader.execute(statement)  # temporary: nothing is written to the file
            reader.execute("PRAGMA query_only = 1")
            home = home_of(path)
            identity = read_identity(reader, home) if version >= 2 else None
            probe = _connect(target, uri=True, busy_timeout_ms=0)
            opened.append(probe)
        return cls(path, None, Connection(reader, given), ChangeProbe(probe), identity, home)

    async def aclose(self) -> None:
        self.probe.close()
        await self.reader.aclose()
        if self.writer is not None:
            await self.writer.aclose()


def _uri(path: Path) -> str:
    return "file:" + urllib.parse.quote(str(path))


def _read_only_uri(path: Path) -> str:
    """Read-only; on a read-only file system (where SQLite cannot make its shared-memory
    file beside a WAL database, and nobody can write), as immutable."""
    if os.access(path.parent, os.W_OK) or Path(f"{path}-shm").exists():
        return f"{_uri(path)}?mode=ro"
    return f"{_uri(path)}?mode=ro&immutable=1"


def _refuse_hard_links(given: Path, path: Path) -> None:
    try:
        links = os.stat(path).st_nlink
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"cannot read {given}: {exc}") from exc
    if links > 1:
        raise StorageError(
            f"{given} has {links} names (hard links). SQLite keeps its write-ahead log beside "
            "the name a database is opened by, so writers using two names would corrupt it; "
            "open it by one name only (a symbolic link is safe), or remove the other links"
        )


def _schema_version(conn: sqlite3.Connection, given: Path) -> int:
    """The schema version of a headroom database; StorageError for any other file."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        row = None
    if row is None:
        raise StorageError(f"{given} is not a headroom database (it has no headroom tables)")
    return int(row[0])


def _newer(given: Path, version: int) -> SchemaVersionError:
    return SchemaVersionError(
        f"{given} has schema version {version}; this headroom knows up to {SCHEMA_VERSION}. "
        "Upgrade headroom to open it."
    )


def _connect(
    target: str, *, uri: bool, busy_timeout_ms: int = _BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    # Autocommit mode (isolation_level None): transactions are explicit. check_same_thread is
    # off because every call runs on whichever worker thread anyio picks, one at a time.
    conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    return conn


@contextlib.contextmanager
def _closed_on_failure(opened: list[sqlite3.Connection]) -> Iterator[None]:
    """Close the connections opened so far if opening the database fails."""
    try:
        yield
    except BaseException:
        for conn in opened:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        raise


def _switch_to_wal(conn: sqlite3.Connection, given: Path) -> None:
    """Put the database in WAL mode (it stays so: later opens find it there).

    Several processes opening a new database at once all ask for the switch, and it needs an
    exclusive lock. SQLite answers SQLITE_BUSY at once, without waiting the busy timeout, when
    a connection holding a shared lock would otherwise wait for another that wants exclusive
    (four processes starting together lost that race in about a third of the trials), so the
    switch is retried here, within the busy timeout.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.05)
    if mode is None or str(mode[0]).lower() != "wal":
        raise StorageError(f"{given}: cannot switch the database to WAL mode")


def _migrate(conn: sqlite3.Connection, given: Path) -> None:
    """Apply the missing migrations, each in its own transaction.

    The version is read again inside each transaction: several processes may open a new or
    older database at the same moment, and only the first applies each step.
    """
    while True:

        def step(conn: sqlite3.Connection) -> bool:
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                version = 0
            if version > SCHEMA_VERSION:
                raise _newer(given, version)
            if version == SCHEMA_VERSION:
                return False
            for statement in statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version + 1),),
            )
            return True

        if not _in_transaction(step, conn):
            return
