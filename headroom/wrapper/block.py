"""The ``<memory>`` block a model writes at the end of its answer. Pure: no I/O.

Two halves. :func:`strip_memory_blocks` finds the blocks in an answer and returns the answer
without them, plus each block's raw body; :func:`parse_block` reads one body's JSON into
:class:`BlockItem` values. The streaming filter (``headroom.wrapper.stream``) produces exactly
the text :func:`strip_memory_blocks` does, for any chunking; the tests check that property.

Removal rules, chosen so an answer reads as if the block had never been there:

* a block runs from ``<memory>`` to the next ``</memory>`` (tags are case-insensitive), or to
  the end of the answer when it is never closed (unterminated: removed, nothing stored);
* the whitespace before a block goes with it, and so does the whitespace after the last block
  when nothing but whitespace follows; text after a block (trailing text) is kept;
* a code fence wrapped around the block (```` ```json <memory>...</memory> ``` ````) goes with
  it, so does the opening fence of an unterminated block;
* after a block, an answer that has shown nothing yet does not start with whitespace.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from headroom.domain import MemoryCategory
from headroom.errors import MemoryBlockError
from headroom.scoping import ScopeLevel

__all__ = [
    "CLOSE_TAG",
    "OPEN_TAG",
    "BlockItem",
    "ParsedBlock",
    "StrippedAnswer",
    "parse_block",
    "strip_memory_blocks",
]

OPEN_TAG = "<memory>"
CLOSE_TAG = "</memory>"

# Shared with the streaming filter, which must cut the text at exactly the same places.
OPEN_RE = re.compile(re.escape(OPEN_TAG), re.IGNORECASE)
CLOSE_RE = re.compile(re.escape(CLOSE_TAG), re.IGNORECASE)
#: A fence opener right before ``<memory>``: backticks, an optional language, whitespace.
FENCE_TAIL_RE = re.compile(r"```[^\s`]*\s*\Z")
#: The matching fence closer right after ``</memory>``.
FENCE_CLOSE_RE = re.compile(r"\s*```")

_T = TypeVar("_T")

#: Scope levels a block may ask for. A turn has no id in the wrapper, so no "turn".
_BLOCK_SCOPES = {"user": ScopeLevel.USER, "session": ScopeLevel.SESSION, "agent": ScopeLevel.AGENT}


@dataclass(frozen=True, slots=True)
class StrippedAnswer:
    """An answer with its memory blocks removed.

    ``bodies`` holds the raw text inside each block, in order. ``unterminated`` is True when
    the last block was never closed; its body is then incomplete and must not be stored.
    """

    text: str
    bodies: tuple[str, ...]
    unterminated: bool

    @property
    def found(self) -> bool:
        return bool(self.bodies)


def strip_memory_blocks(text: str) -> StrippedAnswer:
    """``text`` without its ``<memory>`` blocks (see the module docstring for the rules)."""
    pieces: list[str] = []
    bodies: list[str] = []
    pos = 0
    seen_block = False
    while True:
        opening = OPEN_RE.search(text, pos)
        segment = text[pos : opening.start() if opening else len(text)]
        if seen_block and not any(pieces):
            segment = segment.lstrip()
        if opening is None:
            if seen_block and not segment.strip():
                segment = ""
            pieces.append(segment)
            return StrippedAnswer("".join(pieces), tuple(bodies), unterminated=False)
        fence = FENCE_TAIL_RE.search(segment)
        closing = CLOSE_RE.search(text, opening.end())
        if closing is None:
            bodies.append(text[opening.end() :])
            if fence:
                segment = segment[: fence.start()]
            pieces.append(segment.rstrip())
            return StrippedAnswer("".join(pieces), tuple(bodies), unterminated=True)
        bodies.append(text[opening.end() : closing.start()])
        pos = closing.end()
        if fence and (fence_close := FENCE_CLOSE_RE.match(text, pos)):
            segment = segment[: fence.start()]
            pos = fence_close.end()
        pieces.append(segment.rstrip())
        seen_block = True


@dataclass(frozen=True, slots=True)
class BlockItem:
    """One memory the model asked to store.

    ``importance``, ``scope`` and ``supersedes`` are None when the model left them out (or
    wrote something unusable, which :attr:`ParsedBlock.problems` then names).
    ``supersedes`` is the 1-based number of an injected memory this one replaces.
    """

    content: str
    category: MemoryCategory
    importance: float | None = None
    scope: ScopeLevel | None = None
    supersedes: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedBlock:
    """The usable items of a block and a reason for every part that was not usable."""

    items: tuple[BlockItem, ...]
    problems: tuple[str, ...]


def parse_block(body: str) -> ParsedBlock:
    """Read a block body: ``{"memories": [...]}`` (or a bare list), fences and noise allowed.

    Raises :class:`MemoryBlockError` with the reason when the body holds no readable JSON of
    that shape; then nothing of it may be stored. An empty body or list gives no items.
    A single bad item is skipped and named in ``problems``; its siblings stay usable.
    """
    text = _unfence(body.strip())
    if not text:
        return ParsedBlock((), ())
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise MemoryBlockError(f"no JSON object in the memory block: {_excerpt(text)}")
    try:
        # raw_decode stops at the end of the value: trailing prose is tolerated.
        value, _ = json.JSONDecoder().raw_decode(text, min(starts))
    except json.JSONDecodeError as exc:
        raise MemoryBlockError(f"invalid JSON in the memory block: {exc}") from None
    except (ValueError, RecursionError) as exc:  # a 5000-digit number, [[[[... nested deep
        raise MemoryBlockError(f"unreadable JSON in the memory block: {exc}") from None
    if isinstance(value, dict):
        if "memories" not in value:
            raise MemoryBlockError('the memory block has no "memories" list')
        value = value["memories"]
    if value is None:
        return ParsedBlock((), ())
    if not isinstance(value, list):
        raise MemoryBlockError(f'"memories" must be a list, got {type(value).__name__}')
    items: list[BlockItem] = []
    problems: list[str] = []
    for number, raw in enumerate(value, start=1):
        item = _item(raw, number, problems)
        if item is not None:
            items.append(item)
    return ParsedBlock(tuple(items), tuple(problems))


def _unfence(text: str) -> str:
    if text.startswith("```"):
        newline = text.find("\n")
        text = "" if newline < 0 else text[newline + 1 :]
    text = text.rstrip()
    if text.endswith("```"):
        text = text[:-3]
    return text.strip()


def _item(raw: object, number: int, problems: list[str]) -> BlockItem | None:
    if isinstance(raw, str):
        raw = {"content": raw}
    if not isinstance(raw, Mapping):
        problems.append(f"item {number}: expected an object, got {type(raw).__name__}")
        return None
    content = raw.get("content")
    if not isinstance(content, str) or not content.strip():
        problems.append(f"item {number}: no content")
        return None
    category = _category(raw.get("category"))
    if category is None:
        problems.append(f"item {number}: unknown category {raw.get('category')!r}")
        return None
    return BlockItem(
        content=content.strip(),
        category=category,
        importance=_optional(number, "importance", raw.get("importance"), _importance, problems),
        scope=_optional(number, "scope", raw.get("scope"), _scope, problems),
        supersedes=_optional(number, "supersedes", raw.get("supersedes"), _number, problems),
    )


def _category(value: object) -> MemoryCategory | None:
    if value is None:
        return MemoryCategory.FACT
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    for candidate in (name, name.removesuffix("s")):  # "preferences" is a common slip
        try:
            return MemoryCategory(candidate)
        except ValueError:
            continue
    return None


def _optional(
    number: int,
    name: str,
    value: object,
    read: Callable[[object], _T | None],
    problems: list[str],
) -> _T | None:
    if value is None:
        return None
    result = read(value)
    if result is None:
        problems.append(f"item {number}: ignored unusable {name} {value!r}")
    return result


def _importance(value: object) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return min(1.0, max(0.0, float(value)))  # a model's 1.2 means "very", not "invalid"


def _scope(value: object) -> ScopeLevel | None:
    return _BLOCK_SCOPES.get(value.strip().lower()) if isinstance(value, str) else None


def _number(value: object) -> int | None:
    if isinstance(value, str):
        value = value.strip().strip("[]#").strip()
        if not value.isdigit():
            return None
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
