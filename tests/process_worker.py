"""A worker process for the many-process tests: one engine per process, driven over stdin.

Run as ``python tests/process_worker.py DB``. It opens the database three times, as a server
worker would: a default engine for writes and two for checking, one with vector search only
and one with keyword search only. Then it answers JSON commands, one per line, with one JSON
line each (``{"error": ...}`` for a headroom error):

- ``{"op": "add", "user": U, "contents": [...]}`` -> ``{"ids": [...]}`` (one ``add_many``)
- ``{"op": "add_each", "user": U, "contents": [...]}`` -> ``{"ids": [...]}``, one ``add`` at a
  time, each id printed as ``ACK <id>`` as soon as it is stored (for the kill test)
- ``{"op": "supersede", "id": X, "content": C}`` -> ``{"id": NEW}``
- ``{"op": "delete", "id": X}`` -> ``{"deleted": N}``
- ``{"op": "check", "live": [[id, user, content], ...], "gone": [[id, user, content], ...]}``
  -> ``{"problems": [...]}``: every live memory is found by both searches, no gone one
  (deleted or superseded) is, and the vector index holds exactly the database's keys
- ``{"op": "quit"}``
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from headroom.errors import HeadroomError
from headroom.memory import HierarchicalMemory, MemoryConfig
from tests.fakes import HashingEmbedder
from tests.introspect import index_keys, stored_keys

DIMENSION = 64


def _config(db: Path, **changes: Any) -> MemoryConfig:
    return MemoryConfig(db_path=db, cache_enabled=False, **changes)


async def _check(
    vector_only: HierarchicalMemory, keyword_only: HierarchicalMemory, command: dict[str, Any]
) -> list[str]:
    problems: list[str] = []
    for engine, name in ((vector_only, "vector"), (keyword_only, "keyword")):
        for memory_id, user, content in command["live"]:
            hits = await engine.search(content, user_id=user, top_k=3)
            if memory_id not in [h.id for h in hits]:
                problems.append(f"{name} search misses {content!r}")
        for memory_id, user, content in command["gone"]:
            hits = await engine.search(content, user_id=user, top_k=3)
            if memory_id in [h.id for h in hits]:
                problems.append(f"{name} search finds {content!r}, deleted or superseded")
    in_index, in_database = await index_keys(vector_only), stored_keys(vector_only)
    if in_index != in_database:
        extra = sorted(set(in_index) - set(in_database))
        missing = sorted(set(in_database) - set(in_index))
        problems.append(f"vector index: {len(extra)} extra {extra[:5]}, {len(missing)} missing")
    return problems


async def _answer(
    engines: tuple[HierarchicalMemory, HierarchicalMemory, HierarchicalMemory],
    command: dict[str, Any],
) -> dict[str, Any]:
    writer, vector_only, keyword_only = engines
    op = command["op"]
    if op == "add":
        added = await writer.add_many(
            [{"content": c, "user_id": command["user"]} for c in command["contents"]]
        )
        return {"ids": [m.id for m in added]}
    if op == "add_each":
        ids = []
        for content in command["contents"]:
            memory = await writer.add(content, user_id=command["user"])
            print(f"ACK {memory.id}", flush=True)
            ids.append(memory.id)
        return {"ids": ids}
    if op == "supersede":
        return {"id": (await writer.supersede(command["id"], command["content"])).id}
    if op == "delete":
        return {"deleted": await writer.delete(command["id"])}
    if op == "check":
        return {"problems": await _check(vector_only, keyword_only, command)}
    raise ValueError(f"unknown op {op!r}")


async def main(db: Path) -> None:
    embedder = HashingEmbedder(DIMENSION)
    writer = await HierarchicalMemory.create(_config(db), embedder=embedder)
    vector_only = await HierarchicalMemory.create(_config(db, text_weight=0.0), embedder=embedder)
    keyword_only = await HierarchicalMemory.create(
        _config(db, vector_weight=0.0), embedder=embedder
    )
    engines = (writer, vector_only, keyword_only)
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            if command["op"] == "quit":
                break
            try:
                answer = await _answer(engines, command)
            except HeadroomError as exc:
                answer = {"error": type(exc).__name__, "message": str(exc)}
            print(json.dumps(answer), flush=True)
    finally:
        for engine in engines:
            await engine.aclose()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
