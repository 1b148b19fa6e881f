"""SQLiteStore: the source of truth, through aiosqlite, in WAL mode.

Two connections: one writer, whose transactions are serialised by a lock, and one read-only
reader. In WAL mode the reader sees only committed transactions, so no search or query can see
half of a supersede, and reads never wait for writes.

One process at a time: an exclusive lock on ``<db>.lock`` makes a second process fail with
:class:`DatabaseLockedError` instead of corrupting the vector index that lives beside the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np

from headroom.errors import (
    ClosedError,
    CorruptDatabaseError,
    DatabaseLockedError,
    NotFoundError,
    SchemaVersionError,
    StorageError,
    SupersededError,
    ValidationError,
)
from headroom.memory.chains import order_chain
from headroom.memory.models import Memory, MemoryCategory, MemoryFilter, MemoryStats
from headroom.scoping import ScopeLevel, scope_level_of
from headroom.storage import codec
from headroom.storage.base import Keys, StoredMemory
from headroom.storage.migrations import MIGRATIONS, SCHEMA_VERSION

__all__ = ["CatalogRow", "SQLiteStore", "translate_errors"]

_COLUMNS = (
    "key, id, content, category, importance, user_id, session_id, agent_id, turn_id, "
    "created_at, valid_from, valid_to, supersedes, superseded_by, metadata"
)
_BATCH = 500  # keys per IN (...) list: well under SQLite's variable limit

CatalogRow = tuple[int, str, str | None, str | None, str | None, str, bool]
"""key, user_id, session_id, agent_id, turn_id, category, is_current."""


def _row_to_memory(row: sqlite3.Row | tuple[Any, ...]) -> Memory:
    return Memory(
        id=row[1],
        content=row[2],
        category=MemoryCategory(row[3]),
        importance=row[4],
        user_id=row[5],
        session_id=row[6],
        agent_id=row[7],
        turn_id=row[8],
        created_at=codec.from_micros(row[9]),
        valid_from=codec.from_micros(row[10]),
        valid_to=None if row[11] is None else codec.from_micros(row[11]),
        supersedes=row[12],
        superseded_by=row[13],
        metadata=codec.load_metadata(row[14]),
    )


_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # set by SQLite (Python 3.11+), else absent
    return None if code is None else int(code) & 0xFF


def _stored(row: tuple[Any, ...]) -> StoredMemory:
    """A row of ``_COLUMNS`` followed by the embedding."""
    return StoredMemory(row[0], _row_to_memory(row), codec.blob_to_vector(row[15]))


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
    except ValueError as exc:
        # aiosqlite raises ValueError for a connection closed underneath it.
        text = str(exc).lower()
        if "closed" in text or "no active connection" in text:
            raise ClosedError(f"{what}: the store is closed") from exc
        raise


def _daemon(connection: aiosqlite.Connection) -> aiosqlite.Connection:
    """Make the connection's worker thread a daemon before it starts.

    aiosqlite's threads are not daemons, so a memory its owner forgot to close kept the whole
    process from exiting (the interpreter joins such threads before running exit hooks). A
    daemon thread ends with the process instead; in WAL mode that is as safe as a crash, which
    loses nothing committed.
    """
    thread = getattr(connection, "_thread", None)
    if isinstance(thread, threading.Thread) and not thread.is_alive():
        thread.daemon = True
    return connection


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


def _prepare(path: Path) -> _ProcessLock:
    """Create the database's folder and take the process lock (blocking: run in a thread)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the folder for {path}: {exc}") from exc
    lock = _ProcessLock(path.with_name(path.name + ".lock"))
    lock.acquire()
    return lock


class SQLiteStore:
    """The MemoryStore backend over one SQLite file. Create with :meth:`open`."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        lock: _ProcessLock,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = lock
        self._write_lock = asyncio.Lock()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        """Open (creating if needed) and migrate the database at ``path``."""
        path = Path(path)
        # File-system calls block: run them in a worker thread, never on the event loop.
        lock = await asyncio.to_thread(_prepare, path)
        writer: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            with translate_errors("opening the database", path):
                writer = await _daemon(aiosqlite.connect(path, isolation_level=None))
                await writer.execute("PRAGMA busy_timeout = 5000")
                mode = await (await writer.execute("PRAGMA journal_mode = WAL")).fetchone()
                if mode is None or str(mode[0]).lower() != "wal":
                    raise StorageError(f"{path}: cannot switch the database to WAL mode")
                # NORMAL in WAL mode: a committed transaction survives a process crash; an OS
                # crash or power loss may lose the last ones (never corrupts).
                await writer.execute("PRAGMA synchronous = NORMAL")
                await _migrate(writer, path)
                reader = await _daemon(
                    aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
                )
                await reader.execute("PRAGMA busy_timeout = 5000")
                await reader.execute("PRAGMA query_only = 1")
        except BaseException:
            for conn in (reader, writer):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            lock.release()
            raise
        return cls(path, writer, reader, lock)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            with contextlib.suppress(Exception):
                await self._reader.close()
            with contextlib.suppress(Exception):
                await self._writer.close()
        self._lock.release()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the memory store is closed")

    @contextlib.asynccontextmanager
    async def _transaction(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; rolled back on any error."""
        self._check_open()
        async with self._write_lock:
            with translate_errors(what, self.path):
                await self._writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                except BaseException:
                    with contextlib.suppress(Exception):
                        await self._writer.execute("ROLLBACK")
                    raise
                await self._writer.execute("COMMIT")

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._check_open()
        with translate_errors("reading memories", self.path):
            async with self._reader.execute(sql, params) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]

    # -- meta --------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        rows = await self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])

    async def set_meta(self, values: dict[str, str]) -> None:
        async with self._transaction("writing metadata") as conn:
            await conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    # -- writes ------------------------------------------------------------------------------

    async def insert(self, items: Sequence[StoredMemory]) -> list[int]:
        if not items:
            return []
        async with self._transaction("adding memories") as conn:
            keys = [await _insert_row(conn, item) for item in items]
        return keys

    async def supersede(self, old_id: str, new: StoredMemory) -> tuple[int, Memory]:
        async with self._transaction("superseding a memory") as conn:
            rows = await _fetch(conn, f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (old_id,))
            if not rows:
                raise NotFoundError(old_id)
            old = _row_to_memory(rows[0])
            if old.superseded_by is not None:
                raise SupersededError(old_id, await _head_of(conn, old_id))
            key = await _insert_row(conn, new)
            valid_to = codec.to_micros(new.memory.valid_from)
            await conn.execute(
                "UPDATE memories SET superseded_by = ?, valid_to = ? WHERE id = ?",
                (new.memory.id, valid_to, old_id),
            )
            rows = await _fetch(conn, f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (old_id,))
        return key, _row_to_memory(rows[0])

    async def delete(self, ids: Sequence[str]) -> list[int]:
        """Delete these memories and every version of their chains; the keys removed."""
        if not ids:
            return []
        async with self._transaction("deleting memories") as conn:
            members: set[str] = set()
            for memory_id in ids:
                members.update(await _chain_ids(conn, memory_id))
            return await _delete_ids(conn, sorted(members))

    async def clear(self, where: MemoryFilter) -> list[int]:
        sql, params = _filter_sql(where, include_paging=False)
        async with self._transaction("clearing memories") as conn:
            rows = await _fetch(conn, f"SELECT id FROM memories WHERE {sql}", params)
            return await _delete_ids(conn, [row[0] for row in rows])

    async def replace_embeddings(self, embeddings: dict[int, bytes], meta: dict[str, str]) -> None:
        """Swap every embedding and the embedder metadata in one transaction (re-embedding)."""
        async with self._transaction("switching embeddings") as conn:
            missing = await _fetch(conn, "SELECT key FROM memories", ())
            absent = [row[0] for row in missing if row[0] not in embeddings]
            if absent:
                raise StorageError(f"re-embedding is missing {len(absent)} memories")
            await conn.executemany(
                "UPDATE memories SET embedding = ? WHERE key = ?",
                [(blob, key) for key, blob in embeddings.items()],
            )
            await conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(meta.items()),
            )

    # -- reads -------------------------------------------------------------------------------

    async def _read_in(
        self, select: str, column: str, values: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """The rows of ``select ... WHERE column IN values``, chunked under SQLite's limit."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _BATCH):
            chunk = list(values[start : start + _BATCH])
            marks = ",".join("?" * len(chunk))
            rows.extend(await self._read(f"{select} WHERE {column} IN ({marks})", chunk))
        return rows

    async def get(self, ids: Sequence[str]) -> dict[str, StoredMemory]:
        rows = await self._read_in(f"SELECT {_COLUMNS}, embedding FROM memories", "id", ids)
        return {row[1]: _stored(row) for row in rows}

    async def get_by_keys(self, keys: Sequence[int]) -> dict[int, StoredMemory]:
        keys = [int(k) for k in keys]
        rows = await self._read_in(f"SELECT {_COLUMNS}, embedding FROM memories", "key", keys)
        return {row[0]: _stored(row) for row in rows}

    async def embeddings(self, keys: Sequence[int]) -> dict[int, bytes]:
        keys = [int(k) for k in keys]
        rows = await self._read_in("SELECT key, embedding FROM memories", "key", keys)
        return {row[0]: row[1] for row in rows}

    async def keys(self) -> Keys:
        rows = await self._read("SELECT key FROM memories ORDER BY key")
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    async def contents(self, after_key: int, limit: int) -> list[tuple[int, str]]:
        """``(key, content)`` pairs past ``after_key`` in key order, for re-embedding."""
        rows = await self._read(
            "SELECT key, content FROM memories WHERE key > ? ORDER BY key LIMIT ?",
            (after_key, limit),
        )
        return [(row[0], row[1]) for row in rows]

    async def catalog(self) -> list[CatalogRow]:
        rows = await self._read(
            "SELECT key, user_id, session_id, agent_id, turn_id, category, "
            "superseded_by IS NULL FROM memories"
        )
        return [(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    async def query(self, where: MemoryFilter) -> list[Memory]:
        sql, params = _filter_sql(where, include_paging=True)
        rows = await self._read(f"SELECT {_COLUMNS} FROM memories WHERE {sql}", params)
        return [_row_to_memory(row) for row in rows]

    async def stats(self, where: MemoryFilter) -> MemoryStats:
        sql, params = _filter_sql(where, include_paging=False)
        rows = await self._read(
            "SELECT category, session_id, agent_id, turn_id, superseded_by IS NULL "
            f"FROM memories WHERE {sql}",
            params,
        )
        categories: dict[str, int] = {c.value: 0 for c in MemoryCategory}
        scopes: dict[str, int] = {level.value: 0 for level in ScopeLevel}
        current = 0
        for category, session_id, agent_id, turn_id, is_current in rows:
            if not is_current:
                continue
            current += 1
            categories[category] = categories.get(category, 0) + 1
            level = scope_level_of(session_id, agent_id, turn_id).value
            scopes[level] = scopes.get(level, 0) + 1
        return MemoryStats(
            total=len(rows),
            current=current,
            superseded=len(rows) - current,
            categories=categories,
            scopes=scopes,
        )

    async def chain(self, memory_id: str) -> list[Memory]:
        rows = await self._read(
            f"""
            WITH RECURSIVE
              back(id, prev) AS (
                SELECT id, supersedes FROM memories WHERE id = ?1
                UNION SELECT m.id, m.supersedes FROM memories m JOIN back b ON m.id = b.prev),
              fwd(id, next) AS (
                SELECT id, superseded_by FROM memories WHERE id = ?1
                UNION SELECT m.id, m.superseded_by FROM memories m JOIN fwd f ON m.id = f.next)
            SELECT {_COLUMNS} FROM memories
            WHERE id IN (SELECT id FROM back UNION SELECT id FROM fwd)
            """,
            (memory_id,),
        )
        if not rows:
            raise NotFoundError(memory_id)
        return order_chain([_row_to_memory(row) for row in rows])

    async def match_counts(self, expressions: Sequence[str]) -> list[int]:
        """How many rows each FTS5 MATCH expression matches, in one statement."""
        if not expressions:
            return []
        count = "(SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?)"
        try:
            rows = await self._read(f"SELECT {', '.join([count] * len(expressions))}", expressions)
        except StorageError as exc:
            if _fts_syntax_error(exc):
                return [0] * len(expressions)
            raise
        return [int(value) for value in rows[0]]

    async def text_search(
        self,
        match: str,
        visibility_sql: str,
        params: Sequence[Any],
        k: int,
        *,
        window: int | None = None,
    ) -> list[tuple[int, float]]:
        """An FTS5 MATCH ranked by BM25 and joined with a visibility clause, best first.

        With ``window``, only the newest ``window`` matching rows are ranked: bounded work
        when a query's words are common (see ``fts_query.plan_keywords``).
        """
        if window is None:
            sql = (
                "SELECT f.rowid, bm25(memories_fts, 1.0, 0.0) AS rank_score "
                "FROM memories_fts AS f JOIN memories AS m ON m.key = f.rowid "
                f"WHERE memories_fts MATCH ? AND {visibility_sql} "
                "ORDER BY rank_score LIMIT ?"
            )
            args: tuple[Any, ...] = (match, *params, k)
        else:
            sql = (
                "SELECT c.key, c.rank_score FROM ("
                "SELECT rowid AS key, bm25(memories_fts, 1.0, 0.0) AS rank_score "
                "FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
                ") AS c JOIN memories AS m ON m.key = c.key "
                f"WHERE {visibility_sql} ORDER BY c.rank_score LIMIT ?"
            )
            args = (match, window, *params, k)
        try:
            rows = await self._read(sql, args)
        except StorageError as exc:
            # The expression is built from quoted words only, but an FTS5 syntax complaint
            # must still never reach the user: a query that cannot be matched finds nothing.
            # Only a syntax complaint: corruption of the FTS index must surface, not read as [].
            if _fts_syntax_error(exc):
                return []
            raise
        # bm25() is lower-is-better and negative; report higher-is-better.
        return [(int(key), -float(score)) for key, score in rows]


def _fts_syntax_error(exc: StorageError) -> bool:
    return "fts5: syntax error" in str(exc).lower()


# -- helpers on a connection inside a transaction ---------------------------------------------


async def _fetch(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    async with conn.execute(sql, params) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def _insert_row(conn: aiosqlite.Connection, item: StoredMemory) -> int:
    m = item.memory
    cursor = await conn.execute(
        "INSERT INTO memories (id, content, category, importance, user_id, session_id, "
        "agent_id, turn_id, created_at, valid_from, valid_to, supersedes, superseded_by, "
        "metadata, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            m.id,
            m.content,
            m.category.value,
            m.importance,
            m.user_id,
            m.session_id,
            m.agent_id,
            m.turn_id,
            codec.to_micros(m.created_at),
            codec.to_micros(m.valid_from),
            None if m.valid_to is None else codec.to_micros(m.valid_to),
            m.supersedes,
            m.superseded_by,
            codec.dump_metadata(m.metadata),
            codec.vector_to_blob(item.embedding),
        ),
    )
    key = cursor.lastrowid
    assert key is not None  # an INSERT into a rowid table always sets it
    await conn.execute(
        "INSERT INTO memories_fts (rowid, content, owner) VALUES (?, ?, ?)",
        (key, m.content, codec.owner_token(m.user_id)),
    )
    return int(key)


async def _delete_ids(conn: aiosqlite.Connection, ids: Sequence[str]) -> list[int]:
    removed: list[int] = []
    for start in range(0, len(ids), _BATCH):
        chunk = list(ids[start : start + _BATCH])
        marks = ",".join("?" * len(chunk))
        rows = await _fetch(
            conn, f"SELECT key, content, user_id FROM memories WHERE id IN ({marks})", chunk
        )
        # A contentless FTS5 table forgets a row only when told the exact values it indexed.
        await conn.executemany(
            "INSERT INTO memories_fts (memories_fts, rowid, content, owner) "
            "VALUES ('delete', ?, ?, ?)",
            [(key, content, codec.owner_token(user)) for key, content, user in rows],
        )
        await conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)
        removed.extend(int(row[0]) for row in rows)
    return removed


async def _chain_ids(conn: aiosqlite.Connection, memory_id: str) -> list[str]:
    rows = await _fetch(
        conn,
        """
        WITH RECURSIVE
          back(id, prev) AS (
            SELECT id, supersedes FROM memories WHERE id = ?1
            UNION SELECT m.id, m.supersedes FROM memories m JOIN back b ON m.id = b.prev),
          fwd(id, next) AS (
            SELECT id, superseded_by FROM memories WHERE id = ?1
            UNION SELECT m.id, m.superseded_by FROM memories m JOIN fwd f ON m.id = f.next)
        SELECT id FROM back UNION SELECT id FROM fwd
        """,
        (memory_id,),
    )
    if not rows:
        raise NotFoundError(memory_id)
    return [row[0] for row in rows]


async def _head_of(conn: aiosqlite.Connection, memory_id: str) -> str:
    rows = await _fetch(
        conn,
        """
        WITH RECURSIVE fwd(id, next, depth) AS (
            SELECT id, superseded_by, 0 FROM memories WHERE id = ?
            UNION SELECT m.id, m.superseded_by, f.depth + 1
            FROM memories m JOIN fwd f ON m.id = f.next)
        SELECT id FROM fwd WHERE next IS NULL ORDER BY depth DESC LIMIT 1
        """,
        (memory_id,),
    )
    return str(rows[0][0]) if rows else memory_id


async def _migrate(conn: aiosqlite.Connection, path: Path) -> None:
    try:
        async with conn.execute("SELECT value FROM meta WHERE key = 'schema_version'") as cursor:
            row = await cursor.fetchone()
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
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number - 1]):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(number),),
            )
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    out: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        candidate = "\n".join(current)
        if stripped.endswith(";") and sqlite3.complete_statement(candidate):
            out.append(candidate)
            current = []
    if current:
        out.append("\n".join(current))
    return out


# -- filters ----------------------------------------------------------------------------------

_LEVEL_SQL = (
    "CASE WHEN turn_id IS NOT NULL THEN 'turn' WHEN agent_id IS NOT NULL THEN 'agent' "
    "WHEN session_id IS NOT NULL THEN 'session' ELSE 'user' END"
)


def _filter_sql(where: MemoryFilter, *, include_paging: bool) -> tuple[str, list[Any]]:
    """A WHERE clause (ids matched literally; None matches anything) and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("user_id", "session_id", "agent_id", "turn_id"):
        value = getattr(where, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.scope_levels is not None:
        levels = sorted(level.value for level in where.scope_levels)
        clauses.append(f"{_LEVEL_SQL} IN ({','.join('?' * len(levels))})")
        params.extend(levels)
    if where.categories is not None:
        names = sorted(c.value for c in where.categories)
        clauses.append(f"category IN ({','.join('?' * len(names))})")
        params.extend(names)
    if where.valid_at is not None:
        at = codec.to_micros(where.valid_at)
        clauses.append("valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)")
        params.extend([at, at])
    elif not where.include_superseded:
        clauses.append("superseded_by IS NULL")
    if where.created_after is not None:
        clauses.append("created_at > ?")
        params.append(codec.to_micros(where.created_after))
    if where.created_before is not None:
        clauses.append("created_at < ?")
        params.append(codec.to_micros(where.created_before))
    if where.min_importance is not None:
        clauses.append("importance >= ?")
        params.append(where.min_importance)
    sql = " AND ".join(clauses) if clauses else "1"
    if include_paging:
        sql += " ORDER BY created_at, key"
        if where.limit is not None or where.offset:
            sql += " LIMIT ? OFFSET ?"
            params.extend([-1 if where.limit is None else where.limit, where.offset])
    return sql, params
