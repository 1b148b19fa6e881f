"""Open a database as a user would, search it, and print the process's memory as JSON.

    python -m benchmarks.rss_probe DB

Run in a fresh process by the latency suite, so the number is headroom's (database, index,
catalog, model) and not the harness's corpus arrays. The default config builds the bundled
ONNX embedder from the config, as an application would.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import anyio

from headroom.memory import HierarchicalMemory, MemoryConfig

__all__ = ["main", "status_mb"]


def status_mb(field: str) -> float:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in MB (10^6 bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"{field} not in /proc/self/status")


async def _probe(path: Path) -> dict[str, float]:
    before = status_mb("VmRSS")
    started = time.perf_counter()
    memory = await HierarchicalMemory.create(MemoryConfig(db_path=path))
    try:
        opened = time.perf_counter() - started
        for i in range(50):
            await memory.search(f"what did the user say about item {i}?", user_id="user0000")
        return {
            "rss_mb": round(status_mb("VmRSS"), 1),
            "peak_rss_mb": round(status_mb("VmHWM"), 1),
            "rss_before_open_mb": round(before, 1),
            "open_with_model_load_s": round(opened, 3),
        }
    finally:
        await memory.aclose()


def main() -> int:
    result = anyio.run(_probe, Path(sys.argv[1]))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
