"""Helpers for the wrapper tests: memory blocks, a failing embedder, client factories."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai

from headroom.errors import EmbedderUnavailableError
from headroom.wrapper import MemoryClient, with_memory
from headroom.wrapper.prompt import CONTEXT_OPEN
from tests.chat_server import ChatServer, Received
from tests.fakes import HashingEmbedder

__all__ = ["FlakyEmbedder", "block", "context_of", "instruction_in", "sync_client"]


def block(*memories: dict[str, Any] | str) -> str:
    """A memory block holding these memories (a str is a fact's content)."""
    items = [{"content": m, "category": "fact"} if isinstance(m, str) else m for m in memories]
    return f"<memory>{json.dumps({'memories': items})}</memory>"


def context_of(request: Received) -> str:
    """The context block injected into the last user message ('' when none)."""
    users = [m for m in request.messages if m.get("role") == "user"]
    content = users[-1]["content"] if users else ""
    if isinstance(content, list):
        content = "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
    if CONTEXT_OPEN not in content:
        return ""
    start = content.index(CONTEXT_OPEN)
    return str(content[start : content.index("</headroom-context>", start) + 19])


def instruction_in(request: Received) -> bool:
    """Whether the request asks for a memory block."""
    return "<memory>" in request.text_of("system") + request.text_of("developer")


class FlakyEmbedder(HashingEmbedder):
    """A hashing embedder that fails while ``fail`` is set (the embedding server is down)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    async def embed(self, texts: Sequence[str]) -> Any:
        if self.fail:
            raise EmbedderUnavailableError("the embedding server is down (scripted)")
        return await super().embed(texts)


@contextmanager
def sync_client(
    server: ChatServer, db: Path, embedder: HashingEmbedder, **options: Any
) -> Iterator[MemoryClient]:
    """A wrapped ``openai.OpenAI`` on the test server; closed on exit."""
    options.setdefault("user_id", "alice")
    options.setdefault("min_similarity", None)
    client = with_memory(
        openai.OpenAI(base_url=server.url, api_key="test", max_retries=0),
        db_path=db,
        embedder=embedder,
        **options,
    )
    try:
        yield client
    finally:
        client.close()
