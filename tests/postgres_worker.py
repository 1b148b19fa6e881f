"""One of several processes sharing a PostgreSQL memory (driven by test_postgres_processes).

Reads commands as JSON lines on stdin and answers each with one JSON line on stdout:

* ``{"op": "write", "round": r, "target": id}``: add memories (each searched right after it
  is written), and try to supersede ``target``: ``superseded`` is the new id, or ``lost_to``
  the head named by SupersededError.
* ``{"op": "find", "items": [[user, content, id], ...]}``: search each content as its user;
  ``missing`` lists the ids not found.
* ``{"op": "close"}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headroom.errors import SupersededError
from headroom.memory import HierarchicalMemory, MemoryConfig
from tests.fakes import HashingEmbedder

PER_ROUND = 6


async def _write(memory: HierarchicalMemory, worker: int, command: dict[str, Any]) -> Any:
    r = command["round"]
    added = []
    for i in range(PER_ROUND):
        user = f"user{(worker + i) % 3}"
        content = f"worker{worker} round{r} item{i} token{worker}x{r}x{i}"
        m = await memory.add(content, user_id=user)
        hits = await memory.search(content, user_id=user, top_k=3)
        assert m.id in [h.id for h in hits], "a process must read its own write"
        added.append([user, content, m.id])
    reply: dict[str, Any] = {"added": added, "superseded": None, "lost_to": None}
    try:
        new = await memory.supersede(command["target"], f"the shared fact, round {r} by {worker}")
        reply["superseded"] = new.id
    except SupersededError as exc:
        reply["lost_to"] = exc.head_id
    return reply


async def _find(memory: HierarchicalMemory, command: dict[str, Any]) -> Any:
    missing = []
    for user, content, memory_id in command["items"]:
        hits = await memory.search(content, user_id=user, top_k=3)
        if memory_id not in [h.id for h in hits]:
            missing.append(memory_id)
    return {"missing": missing}


async def main(url: str, worker: int) -> None:
    config = MemoryConfig(db_url=url, db_pool_size=4)
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        print(json.dumps({"ready": True}), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            if command["op"] == "close":
                break
            handler = _write if command["op"] == "write" else None
            reply = await (_write(memory, worker, command) if handler else _find(memory, command))
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
