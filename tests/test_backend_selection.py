"""Which backend a configuration selects, and the error when PostgreSQL's extra is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from headroom.errors import ConfigError
from headroom.memory import MemoryConfig
from headroom.memory.opening import BACKENDS, backend_name

ROOT = Path(__file__).resolve().parents[1]


def test_the_file_by_default_and_postgres_for_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADROOM_DB_URL", raising=False)
    assert backend_name(MemoryConfig()) == "sqlite"
    assert backend_name(MemoryConfig(db_url="postgresql://app@db/memories")) == "postgres"
    assert backend_name(MemoryConfig(db_url="postgres://app@db/memories")) == "postgres"
    monkeypatch.setenv("HEADROOM_DB_URL", "postgresql://app@db/memories")
    assert MemoryConfig().db_url == "postgresql://app@db/memories"
    assert backend_name(MemoryConfig(db_url=None)) == "sqlite"
    assert sorted(BACKENDS) == ["postgres", "sqlite"]


@pytest.mark.parametrize("url", ["mysql://app@db/x", "memory.db", "", 5])
def test_a_url_that_is_not_postgres_is_refused(url: object) -> None:
    with pytest.raises(ConfigError, match="db_url"):
        MemoryConfig(db_url=url)  # type: ignore[arg-type]


def test_the_location_never_shows_a_password() -> None:
    config = MemoryConfig(db_url="postgresql://app:s3cret@db:5432/memories?sslmode=require")
    assert config.location == "postgresql://app@db:5432/memories?sslmode=require"
    assert "s3cret" not in repr(config)
    assert MemoryConfig(db_path="/data/memory.db", db_url=None).location == "/data/memory.db"


def test_without_asyncpg_the_error_names_the_extra() -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(ROOT)!r})
        sys.modules["asyncpg"] = None  # as if it were not installed
        from headroom.errors import DependencyError
        from headroom.memory import HierarchicalMemory, MemoryConfig
        from tests.fakes import HashingEmbedder

        async def main():
            config = MemoryConfig(db_url="postgresql://app@/memories")
            try:
                await HierarchicalMemory.create(config, embedder=HashingEmbedder())
            except DependencyError as exc:
                print(exc)

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "headroom[postgres]" in done.stdout, done.stdout + done.stderr
