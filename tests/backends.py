"""The storage backends the conformance suites run on.

A test that takes ``backend_config`` runs once per backend, each time on a fresh, empty
database: a ``MemoryConfig`` to open (and reopen) with ``HierarchicalMemory.create``. The
suites of the engine's public behaviour use it, so every backend passes the same tests.
``new_config`` makes more fresh databases of the same backend (an export's target, say).

PostgreSQL runs on one embedded server per session (tests/postgres_server.py), each test on
its own database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.memory import MemoryConfig
from tests.postgres_server import PostgresServer, running_server

__all__ = [
    "BACKENDS",
    "NewConfig",
    "backend",
    "backend_config",
    "new_config",
    "postgres_config",
    "postgres_server",
]

BACKENDS = ["sqlite", "postgres"]

NewConfig = Callable[..., MemoryConfig]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_server() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def new_config(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[NewConfig]:
    """``new_config(**fields)``: a config for another fresh database of ``backend``."""
    made: list[str] = []
    server: PostgresServer | None = None
    if backend == "postgres":
        server = request.getfixturevalue("postgres_server")

    numbers = itertools.count()

    def new(**fields: Any) -> MemoryConfig:
        number = next(numbers)
        if server is None:
            name = "memory.db" if number == 0 else f"memory{number}.db"
            return MemoryConfig(db_path=tmp_path / name, **fields)
        made.append(server.create_database())
        return MemoryConfig(db_url=server.url(made[-1]), **fields)

    if backend not in BACKENDS:
        raise AssertionError(f"unknown backend {backend!r}")
    yield new
    if server is not None:
        for name in made:
            server.drop_database(name)


@pytest.fixture
def postgres_config(postgres_server: PostgresServer) -> Iterator[MemoryConfig]:
    """A config for a fresh PostgreSQL database, for the tests of that backend alone."""
    name = postgres_server.create_database()
    yield MemoryConfig(db_url=postgres_server.url(name))
    postgres_server.drop_database(name)


@pytest.fixture
def backend_config(new_config: NewConfig) -> MemoryConfig:
    """A config for a fresh database of ``backend``."""
    return new_config()
