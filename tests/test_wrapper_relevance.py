"""What the wrapper searches for and what it injects.

The pure parts (the query window, the word matching, the decision) directly; the behaviour
through the real ``openai`` SDK against the scripted chat server, on the real local model,
whose similarities are what the defaults were measured on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from headroom.memory import Memory, MemoryCategory, SearchHit
from headroom.wrapper import MemoryClient, with_memory
from headroom.wrapper.query import DEFAULT_WINDOW_CHARS, needs_context, search_query, search_text
from headroom.wrapper.relevance import (
    DEFAULT_FLOOR,
    KEYWORD_FLOOR,
    keyword_coverage,
    select,
    stem,
)
from tests.chat_server import ChatServer
from tests.wrapper_support import context_of

_NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def hit(content: str, similarity: float) -> SearchHit:
    memory = Memory(
        id=content,
        content=content,
        category=MemoryCategory.FACT,
        importance=0.5,
        user_id="u",
        session_id=None,
        agent_id=None,
        turn_id=None,
        created_at=_NOW,
        valid_from=_NOW,
        valid_to=None,
        supersedes=None,
        superseded_by=None,
    )
    return SearchHit(memory, score=1.0, similarity=similarity)


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# -- words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("forms", "expected"),
    [
        (("work", "works", "worked", "working"), "work"),
        (("live", "lives", "lived", "living"), "liv"),
        (("study", "studies", "studied"), "study"),
        (("run", "runs", "running"), "run"),
        (("dish", "dishes"), "dish"),
    ],
)
def test_a_word_s_forms_share_one_stem(forms: tuple[str, ...], expected: str) -> None:
    assert {stem(f) for f in forms} == {expected}


def test_words_that_only_end_like_a_plural_keep_their_ending() -> None:
    assert stem("class") == "class" and stem("bus") == "bus" and stem("analysis") == "analysis"


def test_keyword_coverage_counts_the_question_s_content_words() -> None:
    assert keyword_coverage("Where do I work?", "User works at Google") == 1.0
    assert keyword_coverage("What's my dog's name?", "User's dog is named Biscuit") == 1.0
    assert keyword_coverage("How many legs does a spider have?", "User fears spiders") == 1 / 3
    assert keyword_coverage("Where do I work?", "User lives in Lisbon") == 0.0


# -- the decision ------------------------------------------------------------------------------


def test_a_similar_memory_is_injected_on_meaning_alone() -> None:
    hits = [hit("User drinks oat milk flat whites", DEFAULT_FLOOR + 0.01)]
    assert select("Order me my usual coffee", hits) == hits


def test_a_less_similar_memory_is_injected_when_it_holds_the_question_s_words() -> None:
    works = hit("User works at Google", 0.19)
    lives = hit("User lives in Lisbon", 0.21)
    assert select("Where do I work?", [works, lives]) == [works]


def test_shared_words_without_any_similarity_admit_nothing() -> None:
    assert select("Where do I work?", [hit("User works at Google", KEYWORD_FLOOR - 0.01)]) == []


def test_one_shared_word_of_several_is_not_enough() -> None:
    assert select("How many legs does a spider have?", [hit("User fears spiders", 0.25)]) == []


def test_no_floor_injects_every_hit_up_to_the_limit() -> None:
    hits = [hit(f"memory {i}", -0.5) for i in range(4)]
    assert select("anything", hits, floor=None) == hits
    assert select("anything", hits, floor=None, limit=2) == hits[:2]


@given(st.lists(st.floats(-1.0, 1.0), max_size=12), st.floats(-1.0, 1.0))
def test_the_decision_keeps_the_search_order_and_every_hit_over_the_floor(
    similarities: list[float], floor: float
) -> None:
    hits = [hit(f"memory number {i}", s) for i, s in enumerate(similarities)]
    chosen = select("unrelated words here", hits, floor=floor)
    assert chosen == [h for h in hits if h in chosen]  # a subsequence, same order
    assert all(h in chosen for h in hits if h.similarity >= floor)


# -- the query ---------------------------------------------------------------------------------


def test_a_standalone_question_is_searched_alone() -> None:
    messages = [user("I love Lisbon"), assistant("It is lovely."), user("Where do I work now?")]
    assert search_text(messages, 2) == "Where do I work now?"


def test_a_follow_up_is_searched_with_the_turns_before_it_newest_first() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        user("My sister called me this morning"),
        assistant("That's nice!"),
        user("What does she do for work again?"),
    ]
    assert search_text(messages, 3) == (
        "What does she do for work again?\nThat's nice!\nMy sister called me this morning"
    )


def test_pronouns_again_and_very_short_messages_are_follow_ups() -> None:
    assert needs_context("and her?")
    assert needs_context("What was that again?")
    assert needs_context("Which one did we pick")  # "one" points back
    assert not needs_context("Which database did I choose for billing?")


@given(
    st.lists(st.text(min_size=0, max_size=400), min_size=0, max_size=8),
    st.integers(0, 600),
)
def test_the_window_is_bounded_and_never_cuts_the_user_message(
    earlier: list[str], window: int
) -> None:
    question = "what about her?"
    messages = [(user if i % 2 else assistant)(text) for i, text in enumerate(earlier)] + [
        user(question)
    ]
    query = search_text(messages, len(messages) - 1, window_chars=window)
    assert query.startswith(question)
    assert len(query) - len(question) <= window + 1  # + the newline before the window


def test_the_default_window_is_a_few_sentences() -> None:
    messages = [user("x " * 1000), user("and hers?")]
    assert len(search_text(messages, 1)) <= len("and hers?") + 1 + DEFAULT_WINDOW_CHARS


# -- through the SDK, on the real model ---------------------------------------------------------


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


@pytest.fixture
def client(server: ChatServer, tmp_path: Path) -> Iterator[MemoryClient]:
    raw = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)
    with with_memory(raw, user_id="alice", db_path=tmp_path / "memory.db") as wrapped:
        yield wrapped


def ask(client: MemoryClient, *messages: dict[str, str]) -> None:
    client.chat.completions.create(model="gpt-4o", messages=list(messages))


def test_a_first_person_question_finds_the_memory_written_about_user(
    client: MemoryClient, server: ChatServer
) -> None:
    client.memory.add("User lives in Lisbon")
    client.memory.add("User works at Google")
    # As asked, "Where do I work?" is closer to the Lisbon memory (0.21) than to the Google
    # one (0.19); searched as "Where does User work?", Google leads (0.61).
    ask(client, user("Where do I work?"))
    first = context_of(server.last).split("\n")[2]
    assert first.startswith("[1] (fact, ") and first.endswith("User works at Google")


def test_an_unrelated_question_injects_nothing(client: MemoryClient, server: ChatServer) -> None:
    client.memory.add("User lives in Lisbon")
    client.memory.add("User works at Google")
    client.memory.add("User's dog is a beagle named Biscuit", category="entity")
    for question in ("Explain how a TCP three-way handshake works", "Write a haiku about autumn"):
        ask(client, user(question))
        assert context_of(server.last) == "", question


def test_a_follow_up_finds_the_memory_its_earlier_turns_point_to(
    client: MemoryClient, server: ChatServer
) -> None:
    client.memory.add("User's sister Ana is a pediatrician in Porto", category="entity")
    client.memory.add("User's brother Rui is a chef in London", category="entity")
    client.memory.add("User works at Google")
    ask(
        client,
        user("My sister called me this morning"),
        assistant("That's nice!"),
        user("What does she do for work again?"),
    )
    context = context_of(server.last)
    assert "User's sister Ana is a pediatrician in Porto" in context
    assert "brother" not in context


def test_the_query_names_the_user_from_each_speaker_s_side() -> None:
    messages = [
        user("I adopted a dog last week"),
        assistant("I love that! What's your dog called?"),
        user("Guess! And what breed is it, do you remember?"),
    ]
    query = search_query(messages, 2)
    assert query.personal
    assert query.text.split("\n") == [
        "Guess! And what breed is it, do you remember?",  # the user's "you" is the assistant
        "I love that! What's User's dog called?",  # the assistant's "I" is the assistant
        "User adopted a dog last week",
    ]


def test_a_question_that_does_not_mention_the_user_is_not_personal() -> None:
    assert not search_query([user("Explain how a TCP handshake works")], 0).personal
    assert search_query([user("Where am I working these days?")], 0).text == (
        "Where is User working these days?"
    )
