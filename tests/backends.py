"""The storage backends the conformance suites run on.

A test that takes ``backend_config`` runs once per backend, each time on a fresh, empty
database: a ``MemoryConfig`` to open (and reopen) with ``HierarchicalMemory.create``. The
suites of the engine's public behaviour use it, so every backend passes the same tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headroom.memory import MemoryConfig

__all__ = ["BACKENDS", "backend", "backend_config"]

BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def backend_config(backend: str, tmp_path: Path) -> MemoryConfig:
    """A config for a fresh database of ``backend``."""
    if backend == "sqlite":
        return MemoryConfig(db_path=tmp_path / "memory.db")
    raise AssertionError(f"unknown backend {backend!r}")
