"""The OpenAI Agents SDK example, end to end: real SDK, real ``headroom mcp`` subprocesses.

The model is the scripted chat server on 127.0.0.1 (the real ``openai`` client talks HTTP to
it): in the first run it asks to remember a preference, in a second run, with a new server
process on the same database, it asks to recall it, and the tool result it is sent back
carries what the first run stored.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest
from agents import set_tracing_disabled
from openai import AsyncOpenAI

from tests.chat_server import ChatServer, Reply, tool_call

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "examples" / "agents_memory.py"))


def _tool_messages(server: ChatServer) -> list[str]:
    """The tool results the model was sent, as text (the SDK may send a list of parts)."""
    out = []
    for request in server.chat_requests():
        for message in request.messages:
            if message.get("role") != "tool":
                continue
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(part.get("text", "") for part in content)
            out.append(str(content))
    return out


async def test_the_agent_remembers_across_runs(example: dict[str, Any], tmp_path: Path) -> None:
    set_tracing_disabled(True)
    db = tmp_path / "agent.db"
    with ChatServer() as server:
        client = AsyncOpenAI(base_url=server.url, api_key="test", max_retries=0)
        remember = {"content": "Alice always books window seats", "category": "preference"}
        server.reply(
            Reply(None, tool_calls=[tool_call("remember", json.dumps(remember))]),
            "Noted: window seats.",
        )
        first = await example["run_turn"](
            "I always book window seats", user_id="alice", db=db, client=client, model="m"
        )
        assert first == "Noted: window seats."
        stored = json.loads(_tool_messages(server)[-1])
        assert stored["memory"]["content"] == remember["content"]
        offered = {t["function"]["name"] for t in server.chat_requests()[0].body["tools"]}
        assert offered == {"remember", "recall", "list", "history", "update", "forget"}

        server.reply(
            Reply(None, tool_calls=[tool_call("recall", json.dumps({"query": "seat preference"}))]),
            "A window seat, as usual.",
        )
        second = await example["run_turn"](
            "Book me a flight to Oslo", user_id="alice", db=db, client=client, model="m"
        )
        assert second == "A window seat, as usual."
        recalled = json.loads(_tool_messages(server)[-1])
        assert [m["content"] for m in recalled["memories"]] == [remember["content"]]

        # Another user's run, same database: nothing of Alice's comes back.
        server.reply(
            Reply(None, tool_calls=[tool_call("recall", json.dumps({"query": "seat"}))]),
            "I don't know yet.",
        )
        await example["run_turn"](
            "Any seat preference?", user_id="bob", db=db, client=client, model="m"
        )
        assert json.loads(_tool_messages(server)[-1]) == {"memories": []}
        await client.close()
