"""The demo's last part: two conversations through ``with_memory`` with a real chat model.

Runs only against an endpoint that answers (see ``_endpoint``); otherwise it says how to get
one. What the model answers is printed as it is: headroom decides what the model sees and what
is stored, never what it says.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

from headroom._imports import require
from headroom.cli._context import database_config
from headroom.cli._endpoint import HOW_TO_ENABLE, find_endpoint
from headroom.cli._report import Report
from headroom.errors import DependencyError
from headroom.memory import HierarchicalMemory

__all__ = ["run_demo_chat"]

_TITLE = "Chat with memory: with_memory(AsyncOpenAI(...), user_id=...)"
_MONDAY = "Hi! I'm Dana, a data engineer. I write all my data pipelines in Rust."
_TUESDAY = "Which language should I use for my new data pipeline? One sentence, please."


def _one_line(text: str | None, limit: int = 300) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def _ask(client: Any, model: str, question: str, report: Report) -> None:
    start = time.perf_counter()
    response = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}]
    )
    took = time.perf_counter() - start
    report.line(f"user: {question}")
    report.line(f"{model} ({took:.1f} s): {_one_line(response.choices[0].message.content)}")


async def run_demo_chat(db: Path | str, report: Report) -> None:
    try:
        openai = require("openai", package="openai")
    except DependencyError:
        with report.step(_TITLE):
            report.line("skipped: the openai package is not installed (pip install openai)")
        return
    from headroom.wrapper import DEFAULT_MIN_SIMILARITY, with_memory

    with report.step(_TITLE):
        endpoint, why = await find_endpoint()
        if endpoint is None:
            for text in textwrap.wrap(f"skipped: {why}. To see it: {HOW_TO_ENABLE}.", 88):
                report.line(text)
            return
        report.line(f"endpoint: {endpoint.base_url} ({endpoint.source}), model {endpoint.model}")
        async with (
            await HierarchicalMemory.create(database_config(db)) as memory,
            openai.AsyncOpenAI(
                base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=1, timeout=120
            ) as llm,
        ):
            try:
                monday = with_memory(llm, user_id="dana", session_id="monday", memory=memory)
                report.line("-- Monday's conversation")
                await _ask(monday, endpoint.model, _MONDAY, report)
                stored = await monday.memory.get_all()
                for m in stored:
                    report.line(f"+ remembered: {m.content}  [{m.category.value}, {m.scope.value}]")
                if not stored:
                    report.line("(the model wrote no <memory> block: nothing was stored)")
                tuesday = with_memory(llm, user_id="dana", session_id="tuesday", memory=memory)
                report.line("-- Tuesday, a new conversation: no history is sent, only memories")
                for hit in await tuesday.memory.search(_TUESDAY):
                    report.line(f"recalled: {hit.content}  (similarity {hit.similarity:.2f})")
                report.line(
                    f"(with_memory adds those at similarity >= {DEFAULT_MIN_SIMILARITY} to "
                    "the request)"
                )
                await _ask(tuesday, endpoint.model, _TUESDAY, report)
            except openai.APIError as exc:
                report.line(f"the endpoint failed: {_one_line(str(exc))}")
                report.line("(the demo above ran without it; check the endpoint, then rerun)")
