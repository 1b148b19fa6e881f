"""``headroom demo``, ``make demo``, ``python -m headroom.demo``: the offline demonstration.

It drives the real engine (the local all-MiniLM-L6-v2 model on onnxruntime, SQLite with FTS5,
the usearch index) on a temporary database and prints what happens and how long each step
takes. Where an OpenAI-compatible endpoint is configured it also chats through ``with_memory``;
where none is, it says how to enable that. Nothing here is simulated.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

import anyio

from headroom.cli._context import database_config
from headroom.cli._report import Report, duration
from headroom.memory import HierarchicalMemory, Memory, MemoryFilter, SearchHit

__all__ = ["run_demo"]


def _where(memory: Memory) -> str:
    ids = [(name, value) for name, value in (("session", memory.session_id),) if value]
    scope = memory.scope.value + "".join(f" {value}" for _, value in ids)
    return f"[{memory.category.value}, {scope}]"


def _hits(report: Report, hits: Sequence[SearchHit]) -> None:
    if not hits:
        report.line("   (nothing)")
    for rank, hit in enumerate(hits, start=1):
        report.line(
            f"   {rank}. {hit.content}  {_where(hit.memory)}  similarity {hit.similarity:.2f}"
        )


async def _scenario(memory: HierarchicalMemory, report: Report) -> None:
    with report.step("Bob's morning session: he mentions a preference and what he is doing"):
        # A preference is about the person, so it is stored at user level (no session id)
        # and every later session sees it; the task at hand belongs to this session only.
        morning = await memory.add_many(
            [
                {
                    "content": "Bob prefers Go for backend services",
                    "user_id": "bob",
                    "category": "preference",
                    "importance": 0.8,
                    "metadata": {"said_in": "morning"},
                },
                {
                    "content": "Bob is debugging retries in the billing service (ticket INC-20931)",
                    "user_id": "bob",
                    "session_id": "morning",
                    "category": "context",
                },
            ]
        )
        for m in morning:
            report.line(f"+ {m.content}  {_where(m)}")

    with report.step("Alice, another user, in her own session"):
        alice = await memory.add_many(
            [
                {"content": "Alice works at Google", "user_id": "alice", "importance": 0.9},
                {
                    "content": "Alice prefers Python for data pipelines",
                    "user_id": "alice",
                    "category": "preference",
                },
                {"content": "Alice's dog is called Rex", "user_id": "alice", "category": "entity"},
            ]
        )
        for m in alice:
            report.line(f"+ {m.content}  {_where(m)}")
    job = alice[0]

    question = "I need to build a new backend service for payments. Which language?"
    with report.step("Bob's afternoon session, a new conversation, asks:"):
        hits = await memory.search(question, user_id="bob", session_id="afternoon", top_k=3)
        report.line(f'"{question}"')
        report.line("search as user bob, session afternoon:")
        _hits(report, hits)
        report.line("The morning preference is recalled; the morning's session notes are not seen")
        report.line("here, and nothing of Alice's ever is (scopes: user > session > agent > turn).")

    with report.step("Hybrid search: vectors for meaning, BM25 for exact words"):
        for query, user, session in (
            ("what is the name of her pet?", "alice", None),
            ("INC-20931", "bob", "morning"),
        ):
            found = await memory.search(query, user_id=user, session_id=session, top_k=1)
            context = user + (f", session {session}" if session else "")
            report.line(f'"{query}" as {context}:')
            _hits(report, found)
        report.line("The first shares no word with its answer (meaning, from the vectors); the")
        report.line("second is an exact token, what the keyword half is for. One fused ranking.")

    with report.step("A fact changes: Alice moves from Google to Anthropic"):
        before_change = datetime.now(timezone.utc)
        await anyio.sleep(0.002)  # so the instant above falls strictly between the versions
        new = await memory.supersede(job.id, "Alice works at Anthropic")
        report.line(f"supersede {job.id[:8]}… -> {new.id[:8]}… (one transaction)")
        for version, m in enumerate(await memory.get_history(new.id), start=1):
            until = "now (current)" if m.valid_to is None else f"{m.valid_to:%H:%M:%S.%f}"
            report.line(
                f"history v{version}: {m.content}  valid {m.valid_from:%H:%M:%S.%f} to {until}"
            )
        hits = await memory.search("where does she work?", user_id="alice", top_k=1)
        report.line(f'search "where does she work?": {hits[0].content}')
        for label, moment in (
            (f"as of {before_change:%H:%M:%S.%f} UTC", before_change),
            ("as of now", datetime.now(timezone.utc)),
        ):
            facts = await memory.query(MemoryFilter(user_id="alice", valid_at=moment))
            work = [m.content for m in facts if "works at" in m.content]
            report.line(f"{label}: {', '.join(work)}")

    with report.step("Stats"):
        stats = await memory.stats()
        report.line(
            f"{stats.total} memories: {stats.current} current, {stats.superseded} superseded"
        )
        for title, counts in (("by category", stats.categories), ("by scope", stats.scopes)):
            report.line(
                f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
            )


async def run_demo(
    db: Path | str | None = None, *, chat: bool = True, out: TextIO | None = None
) -> int:
    """Run the demonstration on ``db`` (a temporary database when None); the exit code."""
    out = sys.stdout if out is None else out
    report = Report(out)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="headroom-demo-") as scratch:
        path = db if db is not None else Path(scratch) / "memory.db"
        kept = "kept" if db is not None else "temporary; pass --db PATH to keep it"
        report.say("headroom demo: the real engine, offline")
        report.say(f"database: {database_config(path).location} ({kept})")
        with report.step("Open the memory (SQLite + FTS5, usearch index, local ONNX embedder)"):
            memory = await HierarchicalMemory.create(database_config(path))
            embedder = memory.embedder
            report.line(f"embedder: {embedder.model_name}, {embedder.dimension} dimensions")
        async with memory:
            await _scenario(memory, report)
        if chat:
            # After closing: the chat opens the database again, as an application would.
            from headroom.cli._demo_chat import run_demo_chat

            await run_demo_chat(path, report)
    report.say(f"\ndone in {duration(time.perf_counter() - started)}")
    return 0
