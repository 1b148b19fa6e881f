"""One PostgreSQL database: the connection pool, opening and migrating, and each operation's
connection and transaction.

A connection is taken from the pool for one operation and returned at its end, never held
for the store's life. An operation scoped to a user runs in a transaction that first sets
``headroom.user_id`` (the row-level security policy reads it) and any planner settings it
needs, with ``set_config(..., true)``: they last for that transaction only, so they are
right behind a transaction-mode pooler (pgbouncer) too. Writes run shielded from
cancellation, so a cancelled caller never leaves a commit in doubt on its side.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

import anyio
import asyncpg
from asyncpg.pool import PoolConnectionProxy

from headroom._urls import redact
from headroom.errors import ClosedError, MissingDatabaseError, StorageError
from headroom.storage.postgres import codec
from headroom.storage.postgres.migrations import current_schema, migrate
from headroom.storage.postgres.translation import translate_errors

__all__ = ["Connection", "Database", "PostgresSettings"]

T = TypeVar("T")
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A connection of ours: the one that opens the database, or one lent by the pool."""

MIGRATION_LOCK = 0x68656164726F6F6D  # "headroom": one migration at a time per database
MIN_SERVER = 15
MIN_VECTOR = (0, 7)
ITERATIVE_SCANS = (0, 8)


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """How the backend connects and searches (see MemoryConfig)."""

    pool_size: int = 10
    statement_cache_size: int = 100
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 50
    exact_threshold: int = 2048


async def _keep_session(conn: Connection) -> None:
    """Nothing to reset when a connection returns to the pool: operations change no session
    state (their settings are transaction-local), and skipping asyncpg's ``RESET ALL`` saves
    a round trip per operation. asyncpg still rolls back a transaction left open."""


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


class Database:
    """The pool of one PostgreSQL database, migrated; see the module docstring."""

    def __init__(
        self, pool: asyncpg.Pool[asyncpg.Record], location: str, *, iterative_scans: bool
    ) -> None:
        self._pool = pool
        self.location = location
        self.iterative_scans = iterative_scans
        """Whether pgvector continues an HNSW scan until a filter is satisfied (>= 0.8)."""
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        settings: PostgresSettings,
        prepare: Callable[[Connection, bool], Awaitable[T | None]],
        *,
        read_only: bool = False,
    ) -> tuple[Database, T]:
        """Connect, migrate if needed, ``prepare``, and open the pool.

        ``prepare(connection, write)`` checks the database for this engine and returns what the
        engine needs, or None when it must write something first (then it is called again with
        ``write=True``, under the migration lock). A database that needs nothing is opened
        without a write, so a read-only replica opens too. ``read_only`` never writes: a
        database that would need it raises :class:`MissingDatabaseError`.
        """
        location = redact(url)
        with translate_errors("opening the database", location):
            first = await asyncpg.connect(url, statement_cache_size=settings.statement_cache_size)
        try:
            with translate_errors("opening the database", location):
                schema, vector_version = await _check_server(first, location)
                prepared = None
                if await current_schema(first, location):
                    async with first.transaction(readonly=True):
                        prepared = await prepare(first, False)
                if prepared is None and read_only:
                    raise MissingDatabaseError(
                        f"no headroom database at {location} (its tables are missing, older, or "
                        "not set up for this embedder yet): open it once without read_only"
                    )
                if prepared is None:
                    prepared = await _set_up(first, location, prepare)
                assert prepared is not None
        finally:
            with contextlib.suppress(Exception):
                await first.close(timeout=5)

        async def init(conn: Connection) -> None:
            await conn.set_type_codec(
                "vector",
                schema=schema,
                encoder=codec.encode_vector,
                decoder=codec.decode_vector,
                format="binary",
            )

        with translate_errors("opening the database", location):
            pool = await asyncpg.create_pool(
                url,
                min_size=0,  # connections open on demand (none re-dialled in the background)
                max_size=settings.pool_size,
                statement_cache_size=settings.statement_cache_size,
                init=init,
                reset=_keep_session,
            )
        assert pool is not None
        return cls(pool, location, iterative_scans=vector_version >= ITERATIVE_SCANS), prepared

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise ClosedError(f"{what}: the store is closed")

    @contextlib.asynccontextmanager
    async def _connection(self, what: str) -> AsyncIterator[Connection]:
        self._check_open(what)
        with translate_errors(what, self.location):
            async with self._pool.acquire() as conn:
                yield conn

    async def read(self, what: str, operation: Callable[[Connection], Awaitable[T]]) -> T:
        """``operation`` on a pooled connection, outside any explicit transaction."""
        async with self._connection(what) as conn:
            result = await operation(conn)
        return result

    async def transaction(
        self,
        what: str,
        operation: Callable[[Connection], Awaitable[T]],
        *,
        user: str | None = None,
        local: Mapping[str, str] | None = None,
        write: bool = False,
    ) -> T:
        """``operation`` in one transaction; ``user`` confines it (row-level security), and
        ``local`` holds settings for this transaction only. Writes are shielded."""
        with anyio.CancelScope(shield=write):
            async with self._connection(what) as conn, conn.transaction(readonly=not write):
                values = {**(local or {}), "headroom.user_id": user or ""}
                names = list(values)
                await conn.execute(
                    "SELECT set_config(name, value, true) FROM unnest($1::text[], $2::text[]) "
                    "AS s(name, value)",
                    names,
                    [values[name] for name in names],
                )
                result = await operation(conn)
        return result

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self._pool.close()


_CREATED_MEANWHILE = (
    asyncpg.UniqueViolationError,
    asyncpg.DuplicateTableError,
    asyncpg.DuplicateObjectError,
)
"""What creating an object raises when another session created it first ("IF NOT EXISTS"
and the version check look before they create, not atomically with it)."""

_SET_UP_ATTEMPTS = 3


async def _set_up(
    conn: Connection, location: str, prepare: Callable[[Connection, bool], Awaitable[T | None]]
) -> T:
    """Migrate and prepare under the migration lock, one process at a time.

    A process that waited for the lock while another set the database up may still answer
    from what its transaction knew before the wait (PostgreSQL does not refresh its view of
    the catalog when an advisory lock is granted), find no tables, and try to create them;
    that fails on the tables the other process made, and the next attempt, a new
    transaction, sees them. The lock is transaction-level, so it works behind a pooler in
    transaction mode.
    """
    for attempt in range(_SET_UP_ATTEMPTS):
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await migrate(conn, location)
                prepared = await prepare(conn, True)
        except _CREATED_MEANWHILE:
            if attempt == _SET_UP_ATTEMPTS - 1:
                raise
            continue
        if prepared is None:
            raise StorageError(f"{location}: the database could not be set up for this engine")
        return prepared
    raise AssertionError("unreachable")


async def _check_server(conn: Connection, location: str) -> tuple[str, tuple[int, ...]]:
    """The schema of pgvector (created if missing) and its version; refuse old servers."""
    server = conn.get_server_version()
    if server.major < MIN_SERVER:
        raise StorageError(
            f"{location} runs PostgreSQL {server.major}; headroom needs {MIN_SERVER} or newer"
        )
    row = await conn.fetchrow(
        "SELECT n.nspname, e.extversion FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
    )
    if row is None:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except _CREATED_MEANWHILE:
            pass  # another process opening the database created it first: check it again
        except asyncpg.InsufficientPrivilegeError as exc:
            raise StorageError(
                f"{location} lacks the pgvector extension and this role may not create it: "
                "ask an administrator to run CREATE EXTENSION vector in this database"
            ) from exc
        except asyncpg.UndefinedFileError as exc:
            raise StorageError(
                f"{location}: pgvector is not installed on the server ({exc}); "
                "install it (0.8 or newer recommended)"
            ) from exc
        return await _check_server(conn, location)
    version = _version(str(row["extversion"]))
    if version < MIN_VECTOR:
        raise StorageError(
            f"{location} has pgvector {row['extversion']}; headroom needs 0.7 or newer "
            "(ALTER EXTENSION vector UPDATE)"
        )
    return str(row["nspname"]), version
