"""with_memory and ``stream=True``: chunks flow, the block never shows, memories are stored.

Through the real SDK streams (SSE over HTTP) of openai and groq, sync and async.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import groq
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from headroom.wrapper import MemoryClient, with_memory
from tests.chat_server import ChatServer, Reply, tool_call
from tests.fakes import HashingEmbedder
from tests.wrapper_support import block, sync_client

USER = [{"role": "user", "content": "Hello there"}]
BLOCK = block("Alice codes in Python")


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def client(server: ChatServer, db: Path) -> Iterator[MemoryClient]:
    with sync_client(server, db, HashingEmbedder()) as wrapped:
        yield wrapped


def stream(client: MemoryClient, **options: Any) -> Any:
    return client.chat.completions.create(model="test-model", messages=USER, stream=True, **options)


def text_of(chunks: list[Any], index: int = 0) -> str:
    return "".join(
        c.delta.content or "" for chunk in chunks for c in chunk.choices if c.index == index
    )


def split_everywhere(text: str) -> list[str]:
    """The block cut at its worst places: inside both tags and inside the JSON."""
    cuts = [text.index("<memory>") + 4, text.index("</memory>") + 5]
    cuts += [text.index("Python"), text.index("<memory>") + 20]
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_the_block_never_shows_even_split_across_chunks(
    client: MemoryClient, server: ChatServer
) -> None:
    answer = f"Use Python.\n\n{BLOCK}"
    server.reply(Reply(chunks=split_everywhere(answer)))
    chunks = list(stream(client))
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert text_of(chunks) == "Use Python."
    assert not any("<" in (c.delta.content or "") for chunk in chunks for c in chunk.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert [m.content for m in client.memory.get_all()] == ["Alice codes in Python"]


def test_chunks_reach_the_caller_as_they_arrive(client: MemoryClient, server: ChatServer) -> None:
    reply = Reply(chunks=["Hello", " world", ".", " " + BLOCK], pause_after=2)
    server.reply(reply)
    with stream(client) as live:
        seen = ""
        while "world" not in seen:
            seen += text_of([next(live)])
        assert server.paused.wait(10)  # the server holds the rest back (set just after sending)
        reply.resume.set()
        assert seen + text_of(list(live)) == "Hello world."
    assert [m.content for m in client.memory.get_all()] == ["Alice codes in Python"]


def test_stored_before_the_last_chunk_is_handed_over(
    client: MemoryClient, server: ChatServer
) -> None:
    server.reply(Reply(chunks=["Sure. ", BLOCK]))
    for chunk in stream(client):
        if chunk.choices and chunk.choices[0].finish_reason is not None:
            assert len(client.memory.get_all()) == 1  # read-your-writes, even if we stop here
            break


def test_closing_early_stores_nothing(client: MemoryClient, server: ChatServer) -> None:
    server.reply(Reply(chunks=["Partial", " answer ", BLOCK]))
    live = stream(client)
    next(live)
    live.close()
    assert live.response.is_closed
    assert client.memory.get_all() == []


def test_an_unterminated_block_is_dropped_and_logged(
    client: MemoryClient, server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="headroom.wrapper")
    server.reply(Reply(chunks=["Answer ", '<memory>{"memories": [{"con'], cut=True))
    assert text_of(list(stream(client))) == "Answer"
    assert client.memory.get_all() == []
    assert any("never closed" in r.getMessage() for r in caplog.records)


def test_a_stream_cut_after_its_block_still_stores_it_and_releases_held_text(
    client: MemoryClient, server: ChatServer
) -> None:
    server.reply(Reply(chunks=["Done ", BLOCK, " Bye <me"], cut=True))
    chunks = list(stream(client))
    assert text_of(chunks) == "Done Bye <me"
    assert [m.content for m in client.memory.get_all()] == ["Alice codes in Python"]


def test_a_malformed_block_is_hidden_and_stores_nothing(
    client: MemoryClient, server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="headroom.wrapper")
    server.reply(Reply(chunks=["Fine.", " <mem", "ory>{broken</memory>"]))
    assert text_of(list(stream(client))) == "Fine."
    assert client.memory.get_all() == []
    assert any("malformed memory block" in r.getMessage() for r in caplog.records)


def test_tool_call_deltas_pass_untouched(client: MemoryClient, server: ChatServer) -> None:
    server.reply(Reply(None, tool_calls=[tool_call()]))
    chunks = list(stream(client))
    calls = [c.delta.tool_calls for chunk in chunks for c in chunk.choices if c.delta.tool_calls]
    assert calls[0][0].function.name == "get_weather"
    assert all(c.delta.content is None for chunk in chunks for c in chunk.choices)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_every_choice_is_filtered_and_the_first_one_stored(
    client: MemoryClient, server: ChatServer
) -> None:
    server.reply(Reply(chunks=["A ", BLOCK], extra_choices=["B " + block("from choice 1")]))
    chunks = list(stream(client, n=2))
    assert (text_of(chunks, 0), text_of(chunks, 1)) == ("A", "B")
    assert [m.content for m in client.memory.get_all()] == ["Alice codes in Python"]


def test_the_usage_chunk_passes(client: MemoryClient, server: ChatServer) -> None:
    server.reply(Reply(chunks=["Hi ", BLOCK]))
    chunks = list(stream(client, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 15
    assert text_of(chunks) == "Hi"


def test_an_error_mid_stream_reaches_the_caller_unchanged(
    client: MemoryClient, server: ChatServer
) -> None:
    server.reply(Reply(chunks=["Half an answer ", BLOCK], stream_error="overloaded"))
    received: list[Any] = []
    with pytest.raises(openai.APIError, match="overloaded"):
        received.extend(stream(client))
    assert text_of(received) == "Half an answer"
    assert client.memory.get_all() == []


def test_groq_stream(server: ChatServer, db: Path) -> None:
    raw = groq.Groq(base_url=server.root, api_key="test", max_retries=0)
    with with_memory(raw, user_id="gus", db_path=db, embedder=HashingEmbedder()) as client:
        server.reply(
            Reply(chunks=["Hi", " Gus <mem", "ory>", '{"memories": ["Gus skis"]}</memory>'])
        )
        chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
        assert type(chunks[0]).__module__.startswith("groq.")
        assert text_of(chunks) == "Hi Gus"
        assert [m.content for m in client.memory.get_all()] == ["Gus skis"]


@pytest.mark.anyio
async def test_the_async_stream(server: ChatServer, db: Path) -> None:
    raw = openai.AsyncOpenAI(base_url=server.url, api_key="test", max_retries=0)
    embedder = HashingEmbedder()
    async with with_memory(raw, user_id="alice", db_path=db, embedder=embedder) as client:
        server.reply(Reply(chunks=split_everywhere(f"Use Python. {BLOCK}")))
        created = await client.chat.completions.create(model="m", messages=USER, stream=True)
        async with created as live:
            chunks = [chunk async for chunk in live]
        assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
        assert text_of(chunks) == "Use Python."
        assert [m.content for m in await client.memory.get_all()] == ["Alice codes in Python"]

        server.reply(Reply(chunks=["Bye", " " + block("never stored")]))
        live = await client.chat.completions.create(model="m", messages=USER, stream=True)
        await live.__anext__()
        await live.close()
        assert live.response.is_closed
        assert len(await client.memory.get_all()) == 1
