"""The <memory> block: the parser, the non-streaming strip and the streaming filter.

The central property: for any text and any way of cutting it into chunks, the streaming
filter shows exactly what the non-streaming strip returns, and finds the same blocks.
"""

from __future__ import annotations

import contextlib
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.errors import MemoryBlockError
from headroom.memory import MemoryCategory, ScopeLevel
from headroom.wrapper.block import BlockItem, parse_block, strip_memory_blocks
from headroom.wrapper.stream import MemoryBlockFilter

# Fragments that exercise every rule: tags whole and split, fences, whitespace of all kinds.
_ATOMS = [
    "<memory>",
    "</memory>",
    "<MEMORY>",
    "</Memory>",
    "<mem",
    "ory>",
    "</mem",
    "```",
    "```json",
    "`",
    "``",
    "\n",
    " ",
    "\t",
    "\x1c",  # str.isspace() and re's \s must agree on odd whitespace too
    "\u00a0",
    "\u2028",
    "a",
    "Hi.",
    "{",
    "}",
    "<",
    "/",
    '{"memories": []}',
]
_texts = st.lists(st.sampled_from(_ATOMS), max_size=30).map("".join) | st.text(max_size=60)


@st.composite
def _chunked(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(_texts)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=15)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


def _stream(chunks: list[str]) -> tuple[str, MemoryBlockFilter]:
    block_filter = MemoryBlockFilter()
    shown = "".join(block_filter.feed(chunk) for chunk in chunks) + block_filter.finish()
    return shown, block_filter


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_chunked())
def test_any_chunking_shows_exactly_the_stripped_answer(case: tuple[str, list[str]]) -> None:
    text, chunks = case
    expected = strip_memory_blocks(text)
    shown, block_filter = _stream(chunks)
    assert shown == expected.text
    assert block_filter.result == expected
    assert block_filter.raw_text == text


_plain = st.text(
    alphabet=st.characters(exclude_characters="<`", exclude_categories=["Cs"]), max_size=40
)


@given(_plain.filter(lambda t: not t[-1:].isspace()))
def test_plain_text_flows_through_at_once(text: str) -> None:
    assert MemoryBlockFilter().feed(text) == text


@given(_plain, _plain.filter(lambda t: "</memory>" not in t.lower()), st.data())
def test_a_block_is_never_shown_however_it_is_split(
    answer: str, body: str, data: st.DataObject
) -> None:
    text = f"{answer}\n<memory>{body}</memory>\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    bounds = [0, *cuts, len(text)]
    shown, block_filter = _stream([text[a:b] for a, b in itertools.pairwise(bounds)])
    assert shown == answer.rstrip()
    assert block_filter.result.bodies == (body,)


@pytest.mark.parametrize(
    ("text", "shown", "bodies", "unterminated"),
    [
        ("Sure.\n\n<memory>{}</memory>", "Sure.", ("{}",), False),
        ("Sure.<MEMORY>{}</Memory>\n  ", "Sure.", ("{}",), False),
        ("X.\n\n<memory>a</memory>\n\nAnything else?", "X.\n\nAnything else?", ("a",), False),
        ("X <memory>a</memory> Y", "X Y", ("a",), False),
        ("Hi\n```json\n<memory>{}</memory>\n```\n", "Hi", ("{}",), False),
        ("Hi\n```\n<memory>{}</memory>\nbye", "Hi\n```\nbye", ("{}",), False),
        ("<memory>{}</memory>\n\nHello", "Hello", ("{}",), False),
        ("A <memory>1</memory> B <memory>2</memory>", "A B", ("1", "2"), False),
        ('Answer\n<memory>{"memories": [', "Answer", ('{"memories": [',), True),
        ("Answer\n```json\n<memory>{", "Answer", ("{",), True),
        ("Code:\n```py\nx = 1\n```\nDone.  ", "Code:\n```py\nx = 1\n```\nDone.  ", (), False),
        ("a < b and <mem is not a tag", "a < b and <mem is not a tag", (), False),
        ("", "", (), False),
    ],
)
def test_strip_examples(text: str, shown: str, bodies: tuple[str, ...], unterminated: bool) -> None:
    result = strip_memory_blocks(text)
    assert (result.text, result.bodies, result.unterminated) == (shown, bodies, unterminated)
    streamed, _ = _stream(list(text))  # one character at a time
    assert streamed == shown


def test_the_filter_holds_a_split_tag_and_releases_what_was_not_one() -> None:
    block_filter = MemoryBlockFilter()
    assert block_filter.feed("Use Python.") == "Use Python."
    assert block_filter.feed(" <mem") == ""
    assert block_filter.feed('ory>{"memories": []}</mem') == ""
    assert block_filter.feed("ory>") == ""
    assert block_filter.finish() == ""
    assert block_filter.result.bodies == ('{"memories": []}',)

    block_filter = MemoryBlockFilter()
    assert block_filter.feed("1 <me") == "1"
    assert block_filter.feed("h") == " <meh"
    assert block_filter.finish() == ""


def test_the_filter_refuses_text_after_finish() -> None:
    block_filter = MemoryBlockFilter()
    block_filter.finish()
    with pytest.raises(RuntimeError):
        block_filter.feed("late")
    with pytest.raises(RuntimeError):
        MemoryBlockFilter().result  # noqa: B018 - the property raises before finish()


# -- the parser ----------------------------------------------------------------------------------

_items = st.builds(
    BlockItem,
    content=st.text(min_size=1, max_size=30).map(str.strip).filter(bool),
    category=st.sampled_from(list(MemoryCategory)),
    importance=st.none() | st.floats(0.0, 1.0),
    scope=st.none() | st.sampled_from([ScopeLevel.USER, ScopeLevel.SESSION, ScopeLevel.AGENT]),
    supersedes=st.none() | st.integers(1, 50),
)


def _as_json(item: BlockItem) -> dict[str, object]:
    raw: dict[str, object] = {"content": item.content, "category": item.category.value}
    if item.importance is not None:
        raw["importance"] = item.importance
    if item.scope is not None:
        raw["scope"] = item.scope.value
    if item.supersedes is not None:
        raw["supersedes"] = item.supersedes
    return raw


@given(
    st.lists(_items, max_size=5),
    st.sampled_from(["", " ", "\n  "]),
    st.sampled_from([("", ""), ("```json\n", "\n```"), ("```\n", "```")]),
    st.sampled_from(["", "\n", " Hope that helps!"]),
    st.booleans(),
)
def test_parse_reads_back_what_was_written(
    items: list[BlockItem],
    space: str,
    fences: tuple[str, str],
    trailing: str,
    indent: bool,
) -> None:
    payload = json.dumps({"memories": [_as_json(i) for i in items]}, indent=2 if indent else None)
    body = f"{space}{fences[0]}{payload}{fences[1]}{trailing}{space}"
    parsed = parse_block(body)
    assert parsed.items == tuple(items)
    assert parsed.problems == ()


@given(st.text(max_size=200))
def test_parse_raises_only_memory_block_errors(body: str) -> None:
    with contextlib.suppress(MemoryBlockError):
        parse_block(body)


@pytest.mark.parametrize("body", ["", "  \n", '{"memories": []}', "[]", '{"memories": null}'])
def test_an_empty_block_holds_nothing(body: str) -> None:
    assert parse_block(body).items == ()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("I have nothing to add", "no JSON object"),
        ('{"memories": [', "invalid JSON"),
        ('{"memory": []}', 'no "memories" list'),
        ('{"memories": "tea"}', "must be a list"),
        ("[" * 5000, "unreadable JSON"),
        ('{"memories": [' + "1" * 5000 + "]}", "unreadable JSON"),
    ],
)
def test_a_malformed_block_says_why(body: str, reason: str) -> None:
    with pytest.raises(MemoryBlockError, match=reason):
        parse_block(body)


def test_parse_is_tolerant_of_a_model_s_slips() -> None:
    parsed = parse_block(
        json.dumps(
            [
                {"content": " likes tea ", "category": "Preferences", "importance": 1.3},
                {"content": "works at Acme", "supersedes": "[2]", "scope": "turn"},
                "has a dog",
                {"content": "", "category": "fact"},
                {"content": "x", "category": "opinion"},
                {"content": "y", "importance": "high", "supersedes": 0},
                7,
            ]
        )
    )
    assert parsed.items == (
        BlockItem("likes tea", MemoryCategory.PREFERENCE, importance=1.0),
        BlockItem("works at Acme", MemoryCategory.FACT, supersedes=2),
        BlockItem("has a dog", MemoryCategory.FACT),
        BlockItem("y", MemoryCategory.FACT),
    )
    assert parsed.problems == (
        "item 2: ignored unusable scope 'turn'",
        "item 4: no content",
        "item 5: unknown category 'opinion'",
        "item 6: ignored unusable importance 'high'",
        "item 6: ignored unusable supersedes 0",
        "item 7: expected an object, got int",
    )
