"""What the wrapper injects from LoCoMo's facts, stored with and without their ``source``.

The facts of each development conversation are one user's memories, as a model writing
``<memory>`` blocks would leave them; with ``source``, each carries the turns it was drawn
from (what the wrapper would keep if it stored a block item with the message it came from).
Every question goes through the wrapper's own ``MemoryCore.prepare`` (query, search,
injection decision):

* a LoCoMo question with a relevant fact: is one among those injected;
* the injection case set's unrelated questions, asked of the same memories: is nothing.

So the injection decision, whose floors were measured on memories indexed by their content
alone, is measured on memories indexed with their source too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.fixtures import open_memory
from benchmarks.injection_cases import PERSONAS, cases
from benchmarks.locomo import fact_source
from benchmarks.locomo_data import Conversation
from headroom.embedders.base import Embedder
from headroom.memory import HierarchicalMemory, NewMemory
from headroom.wrapper._core import MemoryCore, MemoryOptions
from headroom.wrapper.client import DEFAULT_MIN_SIMILARITY

__all__ = ["wrapper_rows"]

USER = "locomo-user"
TOP_K = 5


async def _shown(memory: HierarchicalMemory, messages: list[dict[str, str]]) -> list[str]:
    options = MemoryOptions(
        user_id=USER,
        session_id=None,
        agent_id=None,
        top_k=TOP_K,
        max_context_tokens=1000,
        min_similarity=DEFAULT_MIN_SIMILARITY,
        strict=True,
    )
    core = MemoryCore(options, memory=memory, config=memory.config, embedder=None)
    turn = await core.prepare({"model": "m", "messages": messages})
    return [str(m.metadata["key"]) for m in turn.shown]


def _unrelated() -> list[list[dict[str, str]]]:
    return [
        [{"role": r, "content": t} for r, t in case.history]
        + [{"role": "user", "content": case.question}]
        for case in cases(PERSONAS)
        if case.expected is None
    ]


async def wrapper_rows(
    conversations: Sequence[Conversation], embedder: Embedder
) -> list[dict[str, Any]]:
    """One row per way of storing the facts: the wrapper's injections, scored."""
    unrelated = _unrelated()
    rows = []
    for name, with_source in (("facts as written", False), ("facts with their source", True)):
        found: list[bool] = []
        quiet: list[bool] = []
        injected: list[int] = []
        with tempfile.TemporaryDirectory(prefix="headroom-locomo-wrapper-") as tmp:
            for conversation in conversations:
                memory = await open_memory(Path(tmp) / f"{conversation.id}.db", embedder)
                try:
                    await memory.add_many(
                        [
                            NewMemory(
                                content=f.text,
                                user_id=USER,
                                metadata={"key": str(f.index)},
                                source=fact_source(conversation, f) if with_source else None,
                            )
                            for f in conversation.facts
                        ]
                    )
                    for question in conversation.questions:
                        relevant = conversation.relevant_facts(question)
                        if not relevant:
                            continue
                        keys = await _shown(
                            memory, [{"role": "user", "content": question.question}]
                        )
                        found.append(any(int(k) in relevant for k in keys))
                        injected.append(len(keys))
                    for messages in unrelated:
                        quiet.append(not await _shown(memory, messages))
                finally:
                    await memory.aclose()
        rows.append(
            {
                "name": name,
                "relevant_injected": round(sum(found) / len(found), 3),
                "unrelated_nothing": round(sum(quiet) / len(quiet), 3),
                "mean_injected": round(sum(injected) / len(injected), 2),
                "questions": len(found),
                "unrelated": len(quiet),
            }
        )
    return rows
