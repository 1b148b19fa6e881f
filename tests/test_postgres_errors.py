"""No asyncpg exception escapes untranslated, and real failures of a PostgreSQL server.

Every exception class asyncpg defines is constructed and raised through the backend's
``translate_errors``; each must come out as a HeadroomError chained to the original (the
PostgreSQL ones with their own SQLSTATE, so the class decides). Real failures are provoked
on the embedded server too: a server that is not there, a database that does not exist, a
newer schema, a vector of another dimension written behind the engine's back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from headroom.errors import (
    ClosedError,
    DatabaseUnavailableError,
    DimensionMismatchError,
    HeadroomError,
    SchemaVersionError,
    StorageError,
    ValidationError,
)
from headroom.memory import HierarchicalMemory, MemoryConfig
from headroom.storage.postgres.migrations import SCHEMA_VERSION
from headroom.storage.postgres.translation import translate_errors
from tests.fakes import HashingEmbedder
from tests.postgres_server import PostgresServer


def _subclasses(root: type[BaseException]) -> Iterator[type[BaseException]]:
    yield root
    for sub in root.__subclasses__():
        yield from _subclasses(sub)


ROOTS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)
ASYNCPG_CLASSES = sorted(
    {c for root in ROOTS for c in _subclasses(root) if c.__module__.startswith("asyncpg")},
    key=lambda c: c.__name__,
)
NETWORK = [ConnectionRefusedError, ConnectionResetError, FileNotFoundError, asyncio.TimeoutError]


def test_the_enumeration_covers_every_asyncpg_error_class() -> None:
    names = {c.__name__ for c in ASYNCPG_CLASSES}
    assert {"UniqueViolationError", "ConnectionDoesNotExistError", "DataError"} <= names
    assert len(names) >= 250  # one per SQLSTATE, and the client's own


def _raise_through(exc: BaseException) -> BaseException:
    with pytest.raises(HeadroomError) as info, translate_errors("testing", "the database"):
        raise exc
    return info.value


@pytest.mark.parametrize("cls", ASYNCPG_CLASSES, ids=lambda c: c.__name__)
def test_every_asyncpg_error_is_translated(cls: type[BaseException]) -> None:
    original = cls("failure")
    error = _raise_through(original)
    assert error.__cause__ is original


@pytest.mark.parametrize("cls", NETWORK, ids=lambda c: c.__name__)
def test_network_failures_mean_the_database_is_unavailable(cls: type[BaseException]) -> None:
    assert isinstance(_raise_through(cls("down")), DatabaseUnavailableError)


def test_the_sqlstate_decides_the_class() -> None:
    assert isinstance(_raise_through(asyncpg.AdminShutdownError("x")), DatabaseUnavailableError)
    assert isinstance(_raise_through(asyncpg.CannotConnectNowError("x")), DatabaseUnavailableError)
    assert isinstance(_raise_through(asyncpg.StringDataRightTruncationError("x")), ValidationError)
    assert isinstance(_raise_through(asyncpg.UniqueViolationError("x")), ValidationError)
    assert isinstance(_raise_through(asyncpg.DataError("x")), ValidationError)
    assert isinstance(_raise_through(asyncpg.InterfaceError("pool is closed")), ClosedError)


def test_other_exceptions_pass_through_unchanged() -> None:
    with pytest.raises(KeyError), translate_errors("testing", "the database"):
        raise KeyError("not ours to translate")


@pytest.mark.anyio
async def test_a_server_that_is_not_there(tmp_path: Path) -> None:
    config = MemoryConfig(db_url=f"postgresql://postgres@/memory?host={tmp_path}")
    with pytest.raises(DatabaseUnavailableError) as info:
        await HierarchicalMemory.create(config, embedder=HashingEmbedder())
    assert "postgresql://postgres@/memory" in str(info.value)


@pytest.mark.anyio
async def test_a_database_that_does_not_exist(postgres_server: PostgresServer) -> None:
    config = MemoryConfig(db_url=postgres_server.url("no_such_database"))
    with pytest.raises(StorageError, match="does not exist"):
        await HierarchicalMemory.create(config, embedder=HashingEmbedder())


@pytest.mark.anyio
async def test_a_password_never_reaches_a_message(postgres_server: PostgresServer) -> None:
    url = postgres_server.url("no_such_database").replace("postgres@", "postgres:s3cret@")
    with pytest.raises(StorageError) as info:
        await HierarchicalMemory.create(MemoryConfig(db_url=url), embedder=HashingEmbedder())
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in repr(MemoryConfig(db_url=url))


@pytest.mark.anyio
async def test_a_database_of_a_newer_schema_is_refused_untouched(
    postgres_config: MemoryConfig, postgres_server: PostgresServer
) -> None:
    backend_config = postgres_config
    async with await HierarchicalMemory.create(backend_config, embedder=HashingEmbedder()) as m:
        kept = await m.add("written before the upgrade", user_id="u")
    database = postgres_server.database_of(backend_config.db_url)
    postgres_server.execute(
        "UPDATE headroom_meta SET value = '99' WHERE key = 'schema_version'", database
    )
    with pytest.raises(SchemaVersionError, match="99"):
        await HierarchicalMemory.create(backend_config, embedder=HashingEmbedder())
    postgres_server.execute(
        f"UPDATE headroom_meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'",
        database,
    )
    async with await HierarchicalMemory.create(backend_config, embedder=HashingEmbedder()) as m:
        assert (await m.get(kept.id)).content == "written before the upgrade"


@pytest.mark.anyio
async def test_the_database_itself_refuses_a_vector_of_another_dimension(
    postgres_config: MemoryConfig, postgres_server: PostgresServer
) -> None:
    backend_config = postgres_config
    async with await HierarchicalMemory.create(backend_config, embedder=HashingEmbedder(64)):
        pass
    database = postgres_server.database_of(backend_config.db_url)
    with pytest.raises(asyncpg.CheckViolationError) as info:
        postgres_server.execute(
            "INSERT INTO headroom_memories (id, content, category, importance, user_id, "
            "created_at, valid_from, embedding) VALUES ('x', 'x', 'fact', 0.5, 'u', now(), "
            "now(), array_fill(0.1, ARRAY[32])::vector)",
            database,
        )
    with pytest.raises(DimensionMismatchError), translate_errors("adding", "the database"):
        raise info.value
