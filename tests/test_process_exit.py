"""A memory its owner forgot to close must not keep the process alive, nor lose its writes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter
from tests.fakes import HashingEmbedder

SCRIPT = """
import asyncio, sys, warnings
warnings.simplefilter("ignore", ResourceWarning)
sys.path.insert(0, {root!r})
from headroom.memory import HierarchicalMemory, MemoryConfig
from tests.fakes import HashingEmbedder

memories = []  # still referenced at exit, as a module-level client in a script would be

async def main() -> None:
    memory = await HierarchicalMemory.create(
        MemoryConfig(db_path={db!r}), embedder=HashingEmbedder()
    )
    memories.append(memory)
    await memory.add("written, never closed", user_id="u")
    print("added", flush=True)

asyncio.run(main())
"""


def test_unclosed_memory_lets_the_process_exit(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    root = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(root=root, db=str(db))],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "added"
    asyncio.run(_check_persisted(db))


async def _check_persisted(db: Path) -> None:
    config = MemoryConfig(db_path=db)
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        assert [m.content for m in await memory.query(MemoryFilter())] == ["written, never closed"]
        assert (await memory.search("written", user_id="u"))[0].content == "written, never closed"
