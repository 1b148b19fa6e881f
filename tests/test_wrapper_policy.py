"""The pure guards of the wrapper: the scope policy, the tag neutraliser, the bounded query."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headroom.domain import MemoryCategory
from headroom.errors import ConfigError
from headroom.scoping import ScopeLevel
from headroom.wrapper.block import strip_memory_blocks
from headroom.wrapper.limits import first_memories, query_tail
from headroom.wrapper.neutralise import neutralise_messages, neutralise_text
from headroom.wrapper.policy import DEFAULT_SCOPE_POLICY, ScopePolicy
from headroom.wrapper.prompt import available_scopes

ORDER = [ScopeLevel.USER, ScopeLevel.SESSION, ScopeLevel.AGENT]
CLAIMS = [None, ScopeLevel.USER, ScopeLevel.SESSION, ScopeLevel.AGENT]
IDS = [(None, None), ("s", None), (None, "a"), ("s", "a")]


@pytest.mark.parametrize("policy", [DEFAULT_SCOPE_POLICY, ScopePolicy().narrowed(fact="agent")])
def test_a_memory_never_goes_wider_than_the_policy_or_the_clients_ids(policy: ScopePolicy) -> None:
    for category, claim, (session, agent) in itertools.product(MemoryCategory, CLAIMS, IDS):
        level = policy.level_for(claim, category, session, agent)
        levels = available_scopes(session, agent)
        assert level in levels
        narrower = [lv for lv in levels if ORDER.index(lv) >= ORDER.index(policy.widest[category])]
        if narrower:
            assert ORDER.index(level) >= ORDER.index(policy.widest[category])
            if claim in narrower:
                assert level is claim  # a claim within the policy is obeyed
        else:
            assert level is levels[-1]  # e.g. a client with only a user id


def test_the_default_policy() -> None:
    assert {c.value: lv.value for c, lv in DEFAULT_SCOPE_POLICY.widest.items()} == {
        "preference": "user",
        "fact": "user",
        "entity": "user",
        "context": "session",
        "decision": "session",
        "insight": "session",
    }
    level = DEFAULT_SCOPE_POLICY.level_for
    assert level(ScopeLevel.USER, MemoryCategory.DECISION, "s", "a") is ScopeLevel.SESSION
    assert level(None, MemoryCategory.DECISION, "s", "a") is ScopeLevel.AGENT
    assert level(ScopeLevel.USER, MemoryCategory.CONTEXT, None, "a") is ScopeLevel.AGENT
    assert level(ScopeLevel.USER, MemoryCategory.CONTEXT, None, None) is ScopeLevel.USER


def test_policies_are_validated() -> None:
    with pytest.raises(ConfigError, match="narrowing cannot widen"):
        DEFAULT_SCOPE_POLICY.narrowed(context="user")
    with pytest.raises(ConfigError):
        ScopePolicy({MemoryCategory.FACT: ScopeLevel.TURN})
    with pytest.raises(ConfigError):
        DEFAULT_SCOPE_POLICY.narrowed(gossip="agent")
    narrow = ScopePolicy({MemoryCategory.DECISION: ScopeLevel.AGENT})
    assert narrow.widest[MemoryCategory.DECISION] is ScopeLevel.AGENT


_PIECES = ["<", ">", "/", " ", "\n", "memory", "MEMORY", "Memory", "headroom-context", "x", "{}"]
tag_soup = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)


@given(st.one_of(tag_soup, st.text(max_size=60)))
def test_neutralised_text_holds_no_block_and_reads_the_same(text: str) -> None:
    cleaned = neutralise_text(text)
    assert not strip_memory_blocks(cleaned).found
    assert neutralise_text(cleaned) == cleaned
    if "<" not in text:
        assert cleaned == text


def test_messages_are_copied_only_where_they_change() -> None:
    plain = {"role": "user", "content": "hello"}
    quoted = {"role": "tool", "content": "<memory>{}</memory>"}
    parts = {"role": "user", "content": [{"type": "text", "text": "<memory>"}, {"type": "image"}]}
    out = neutralise_messages([plain, quoted, parts, "not a dict"])
    assert out[0] is plain and out[3] == "not a dict"
    assert out[1] == {"role": "tool", "content": "&lt;memory>{}&lt;/memory>"}
    assert out[2]["content"] == [{"type": "text", "text": "&lt;memory>"}, {"type": "image"}]
    assert quoted["content"] == "<memory>{}</memory>"  # the caller's


@given(st.text(max_size=300), st.integers(1, 100))
def test_the_query_tail_is_bounded_and_ends_the_message(text: str, limit: int) -> None:
    tail = query_tail(text, limit)
    assert len(tail) <= limit and text.endswith(tail)
    if len(text) <= limit:
        assert tail == text


def test_the_first_memories_of_an_answer() -> None:
    assert first_memories([1, 2, 3], 2) == ([1, 2], 1)
    assert first_memories([1], 2) == ([1], 0)
    assert first_memories([1, 2], 0) == ([], 2)
