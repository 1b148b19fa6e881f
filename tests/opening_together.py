"""Processes released at the same moment to open one new database, round after round (as a
server's workers start together on their first deploy)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["open_together"]

ROOT = Path(__file__).resolve().parent.parent

_OPENER = textwrap.dedent(
    f"""
    import asyncio, json, sys
    sys.path.insert(0, {str(ROOT)!r})
    from headroom.memory import HierarchicalMemory, MemoryConfig
    from tests.fakes import HashingEmbedder

    async def main():
        while True:
            print("ready", flush=True)
            line = sys.stdin.readline()  # released with the others
            if not line.strip():
                return
            config = MemoryConfig(**json.loads(line))
            try:
                async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()):
                    print("opened", flush=True)
            except Exception as exc:
                print(f"failed: {{type(exc).__name__}}: {{exc}}".replace("\\n", " "), flush=True)

    asyncio.run(main())
    """
)


def open_together(configs: Sequence[dict[str, Any]], processes: int = 4) -> list[str]:
    """For each of ``configs`` (MemoryConfig fields, one new database each), every process
    opens it at once; what each said, round by round ("opened" or "failed: ...")."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    answers: list[str] = []
    try:
        for config in configs:
            for proc in procs:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "ready"
            line = json.dumps(config) + "\n"
            for proc in procs:  # written to all before any answer is read
                assert proc.stdin is not None
                proc.stdin.write(line)
                proc.stdin.flush()
            for proc in procs:
                assert proc.stdout is not None
                answers.append(proc.stdout.readline().strip())
    finally:
        for proc in procs:
            proc.communicate(input="\n", timeout=120)  # an empty line ends it
    return answers
