"""headroom's engine in one page: scopes, hybrid search, a fact that changes, an as-of query.

Offline: the local model, SQLite and the vector index, in ``quickstart.db`` beside where you
run it (``python examples/quickstart.py``; delete the file to start over).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter


async def main(db_path: str = "quickstart.db") -> None:
    async with await HierarchicalMemory.create(MemoryConfig(db_path=db_path)) as memory:
        # Morning session. A preference is about the person: stored at user level, every
        # later session of Bob's sees it. The task at hand belongs to this session only.
        await memory.add(
            "Bob prefers Go for backend services", user_id="bob", category="preference"
        )
        await memory.add(
            "Bob is debugging the billing service",
            user_id="bob",
            session_id="morning",
            category="context",
        )

        # Afternoon session: the preference is recalled, the morning's task is not.
        hits = await memory.search(
            "Which language should I use for the new API?", user_id="bob", session_id="afternoon"
        )
        for hit in hits:
            print(f"recalled: {hit.content} (similarity {hit.similarity:.2f})")

        # A fact changes; the old version keeps its place in the history.
        job = await memory.add("Alice works at Google", user_id="alice", importance=0.9)
        await asyncio.sleep(0.01)
        before = datetime.now(timezone.utc)
        await asyncio.sleep(0.01)
        await memory.supersede(job.id, "Alice works at Anthropic")
        for version in await memory.get_history(job.id):
            state = "current" if version.is_current else f"until {version.valid_to:%H:%M:%S}"
            print(f"history: {version.content} ({state})")

        then = await memory.query(MemoryFilter(user_id="alice", valid_at=before))
        print(f"as of {before:%H:%M:%S.%f}: {then[0].content}")
        stats = await memory.stats()
        print(f"stats: {stats.total} versions, {stats.current} current, by scope {stats.scopes}")


if __name__ == "__main__":
    asyncio.run(main())
