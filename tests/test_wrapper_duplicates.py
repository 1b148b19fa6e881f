"""A memory that stays clean: a block item restating a stored memory is not stored again.

Through the real ``openai`` SDK against the scripted chat server, on the real local model
(the thresholds were measured on it); the pure test directly.
"""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from benchmarks.duplicate_cases import CONVERSATIONS, NEW_FACTS
from headroom.wrapper import MemoryClient, with_memory
from headroom.wrapper.duplicates import (
    RESTATE_SIMILARITY,
    Relation,
    compare,
    content_words,
    normalized,
)
from tests.chat_server import ChatServer
from tests.wrapper_support import block


def test_the_same_text_up_to_case_punctuation_and_spacing_is_the_same() -> None:
    assert normalized("  User lives in   Lisbon. ") == normalized("user lives in lisbon")
    assert compare("user lives in Lisbon!", "User lives in Lisbon", 0.0) is Relation.SAME


def test_a_text_holding_the_other_whole_is_broader_or_narrower() -> None:
    longer, shorter = "User works at Google, in its Lisbon office", "User works at Google"
    assert compare(longer, shorter, 0.0) is Relation.BROADER
    assert compare(shorter, longer, 0.0) is Relation.NARROWER
    # Whole words only, and the whole of it: a change of subject is something else.
    assert compare("User's son is allergic to peanuts", "User is allergic to peanuts", 0.91) is (
        Relation.OTHER
    )
    assert compare("User likes cats", "User likes catsup", 0.0) is Relation.OTHER


def test_a_similar_memory_is_the_same_only_when_no_word_is_swapped() -> None:
    above = RESTATE_SIMILARITY + 0.01
    assert compare("The user lives in Lisbon", "User is living in Lisbon", above) is Relation.SAME
    assert compare("User lives in Porto", "User lives in Lisbon", above) is Relation.OTHER
    assert compare("User retired in 2021", "User retired in 2019", above) is Relation.OTHER
    assert compare("The user lives in Lisbon", "User is living in Lisbon", 0.9) is Relation.OTHER


def test_negations_are_words() -> None:
    assert "no" in content_words("User takes tea with no sugar")
    new, stored = "User takes tea with milk and no sugar", "User takes tea with milk and two sugars"
    assert compare(new, stored, RESTATE_SIMILARITY + 0.05) is Relation.OTHER


def _client(server: ChatServer, db: Path, session: str) -> MemoryClient:
    raw = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    return with_memory(raw, user_id="alice", session_id=session, db_path=db)


def _conversation(server: ChatServer, db: Path, session: str, content: str) -> None:
    server.reply("Noted. " + block({"content": content, "category": "fact"}))
    with _client(server, db, session) as client:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Let me tell you about me."}]
        )


def test_twenty_conversations_about_the_same_facts_leave_no_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    with ChatServer() as server:
        for number in range(20):
            forms = CONVERSATIONS[number % len(CONVERSATIONS)]
            _conversation(server, db, f"conversation-{number}", forms[number // len(CONVERSATIONS)])
        with _client(server, db, "check") as client:
            # One memory a fact: the same ones skipped, the richer wording a new version.
            assert sorted(m.content for m in client.memory.get_all()) == sorted(
                forms[-1] for forms in CONVERSATIONS
            )
            first = next(m for m in client.memory.get_all() if "Google" in m.content)
            assert [m.content for m in client.memory.history(first.id)] == [
                "User works at Google",
                "User works at Google, in its Lisbon office",
            ]
        for number, fact in enumerate(NEW_FACTS):  # alike, but new: each is stored
            _conversation(server, db, f"new-{number}", fact)
        with _client(server, db, "check") as client:
            contents = [m.content for m in client.memory.get_all()]
    assert len(contents) == len(CONVERSATIONS) + len(NEW_FACTS)
    assert set(NEW_FACTS) <= set(contents)


@pytest.mark.parametrize("level", ["session", "user"])
def test_a_restatement_in_a_narrower_context_is_not_stored_but_a_broader_one_is(
    tmp_path: Path, level: str
) -> None:
    db = tmp_path / "memory.db"
    with ChatServer() as server:
        with _client(server, db, "monday") as client:
            client.memory.add("User is preparing a talk for Friday", "context", scope=level)
        # A fact: the scope policy keeps a block's context in its session.
        item = {"content": "User is preparing a talk for Friday", "category": "fact"}
        server.reply("Good luck! " + block({**item, "scope": "user"}))
        with _client(server, db, "monday") as client:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]
            )
            contents = [m.content for m in client.memory.get_all()]
    # A user-level copy of a session memory is seen in other sessions too: it is new there.
    expected = 1 if level == "user" else 2
    assert contents.count("User is preparing a talk for Friday") == expected
