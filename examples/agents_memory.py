"""An OpenAI Agents SDK agent that remembers across runs, through ``headroom mcp``.

Each run starts the memory server as a subprocess (the Agents SDK's MCP support), lets the
agent call its tools (remember, recall, update, ...) and stops it: what the agent stored in
one run, it recalls in the next, from the database file.

    pip install 'headroom[mcp]' openai-agents
    python examples/agents_memory.py --user alice "I always book window seats"
    python examples/agents_memory.py --user alice "Book me a flight to Oslo"

Uses OPENAI_API_KEY (and OPENAI_BASE_URL for any OpenAI-compatible server, such as Ollama's
http://localhost:11434/v1); the model is $HEADROOM_CHAT_MODEL, else gpt-4o-mini.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from pathlib import Path

from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from agents.mcp import MCPServerStdio
from openai import AsyncOpenAI

INSTRUCTIONS = (
    "You are a helpful assistant with a long-term memory. Before answering, recall what you "
    "know that is relevant. When the user tells you something lasting about themselves "
    "(a preference, a fact, a decision), remember it as one short statement."
)


def headroom_command() -> str:
    """The ``headroom`` script of this Python environment (else the one on PATH)."""
    found = shutil.which("headroom", path=str(Path(sys.executable).parent))
    found = found or shutil.which("headroom")
    if found is None:
        raise SystemExit("the headroom command is not installed: pip install 'headroom[mcp]'")
    return found


async def run_turn(
    message: str, *, user_id: str, db: Path | None, client: AsyncOpenAI, model: str
) -> str:
    """One run of the agent, with ``user_id``'s memory served by ``headroom mcp``."""
    args = ["mcp", "--user", user_id]
    if db is not None:
        args += ["--db", str(db)]
    memory = MCPServerStdio(
        params={"command": headroom_command(), "args": args},
        name="headroom",
        client_session_timeout_seconds=60,  # the first start loads the embedding model
    )
    async with memory:
        agent = Agent(
            name="assistant",
            instructions=INSTRUCTIONS,
            mcp_servers=[memory],
            model=OpenAIChatCompletionsModel(model=model, openai_client=client),
        )
        result = await Runner.run(agent, message)
    return str(result.final_output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("message")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--db", type=Path, help="default: $HEADROOM_DB or ~/.headroom/memory.db")
    args = parser.parse_args()
    set_tracing_disabled(True)  # the SDK would otherwise upload traces to OpenAI
    client = AsyncOpenAI()
    model = os.environ.get("HEADROOM_CHAT_MODEL", "gpt-4o-mini")
    reply = asyncio.run(
        run_turn(args.message, user_id=args.user, db=args.db, client=client, model=model)
    )
    print(reply)


if __name__ == "__main__":
    main()
