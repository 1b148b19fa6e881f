"""The wrapper stores a block's memories with the user's message as their source.

Through the real ``openai`` SDK against the scripted chat server: the bookkeeping with the
hashing embedder, what a search then finds (and what is still recognised as a restatement)
on the real local model, whose similarities the wrapper's thresholds were measured on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from headroom.errors import ConfigError
from headroom.wrapper import MemoryClient, with_memory
from headroom.wrapper._core import SOURCE_CHARS
from tests.chat_server import ChatServer
from tests.wrapper_support import FlakyEmbedder, block, context_of, sync_client

KITTEN = "I finally brought my new kitten home from the shelter today!"
MISO = "User adopted a cat named Miso"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


def _say(client: MemoryClient, text: str) -> None:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])


def test_a_block_memory_keeps_the_message_it_was_drawn_from(
    server: ChatServer, tmp_path: Path
) -> None:
    with sync_client(server, tmp_path / "m.db", FlakyEmbedder()) as client:
        server.reply("Congratulations! " + block(MISO))
        _say(client, KITTEN)
        [stored] = client.memory.get_all()
        assert (stored.content, stored.source) == (MISO, KITTEN)
        assert stored.metadata == {"source": "with_memory"}
        # A new version drawn from another message carries that message.
        server.reply("Noted. " + block({"content": "User adopted two cats", "supersedes": 1}))
        _say(client, "How do I care for a cat named Miso? We got her sister too.")
        [current] = client.memory.get_all()
        assert current.content == "User adopted two cats"
        assert current.source == "How do I care for a cat named Miso? We got her sister too."
        assert [v.source for v in client.memory.history(current.id)] == [KITTEN, current.source]


def test_the_source_is_the_end_of_a_long_message(server: ChatServer, tmp_path: Path) -> None:
    pasted = "".join(f"line {n} of a pasted log\n" for n in range(1000)) + KITTEN
    assert len(pasted) > SOURCE_CHARS
    with sync_client(server, tmp_path / "m.db", FlakyEmbedder()) as client:
        server.reply("Noted. " + block(MISO))
        _say(client, pasted)
        [stored] = client.memory.get_all()
        assert stored.source is not None and len(stored.source) <= SOURCE_CHARS
        assert pasted.endswith(stored.source) and stored.source.endswith(KITTEN)


def test_keep_source_false_stores_the_memory_alone(server: ChatServer, tmp_path: Path) -> None:
    with sync_client(server, tmp_path / "m.db", FlakyEmbedder(), keep_source=False) as client:
        server.reply("Congratulations! " + block(MISO))
        _say(client, KITTEN)
        [stored] = client.memory.get_all()
        assert stored.source is None
    raw = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    with pytest.raises(ConfigError, match="keep_source must be a bool"):
        with_memory(raw, user_id="alice", keep_source="no")  # type: ignore[call-overload]


@pytest.mark.parametrize("keep_source", [True, False])
def test_a_memory_is_found_by_words_only_its_message_had(
    server: ChatServer, tmp_path: Path, keep_source: bool
) -> None:
    raw = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    db = tmp_path / "m.db"
    with with_memory(raw, user_id="alice", db_path=db, keep_source=keep_source) as client:
        server.reply("Congratulations! " + block(MISO))
        _say(client, KITTEN)
        server.reply("A kitten.")
        _say(client, "What did I bring home from the shelter?")
        # 0.42 similar with the message, 0.26 without: under the wrapper's floor of 0.3.
        assert (MISO in context_of(server.last)) is keep_source


def test_a_restatement_of_a_memory_with_a_source_is_still_recognised(
    server: ChatServer, tmp_path: Path
) -> None:
    raw = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    with with_memory(raw, user_id="alice", db_path=tmp_path / "m.db") as client:
        server.reply("Nice! " + block("User is living in Lisbon"))
        _say(client, "Long story, but after years in Berlin I am now living in Lisbon.")
        # The contents are 0.96 similar; the new one and the stored one's content and message
        # only 0.81: a restatement is recognised by content.
        server.reply("I know. " + block("The user lives in Lisbon"))
        _say(client, "Did I tell you where I live?")
        assert [m.content for m in client.memory.get_all()] == ["User is living in Lisbon"]
