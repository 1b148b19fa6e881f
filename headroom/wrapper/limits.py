"""Bounds on what one call costs the memory: the search query, the memories stored. Pure.

Both bounds come from the engine's :class:`~headroom.memory.MemoryConfig`:
``max_query_chars`` (the wrapper searches the last that many characters of the user's
message: a pasted 10 MB document must not cost a 10 MB search, and the question usually comes
last) and ``max_memories_per_answer`` (the rest of a block is dropped, logged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

__all__ = ["first_memories", "query_tail", "with_user_text"]

_T = TypeVar("_T")


def query_tail(text: str, max_chars: int) -> str:
    """The last ``max_chars`` characters of ``text``, from a word's start when cut."""
    if len(text) <= max_chars:
        return text
    tail = text[-max_chars:]
    space = next((i for i, c in enumerate(tail[:200]) if c.isspace()), None)
    return tail if space is None else tail[space + 1 :]


def with_user_text(messages: Sequence[Any], index: int, text: str) -> list[Any]:
    """A copy of ``messages`` whose message at ``index`` is a user message of ``text`` (to
    build a query from; never sent)."""
    out = list(messages)
    out[index] = {"role": "user", "content": text}
    return out


def first_memories(items: Sequence[_T], limit: int) -> tuple[Sequence[_T], int]:
    """The first ``limit`` items and how many were dropped."""
    if len(items) <= limit:
        return items, 0
    return items[:limit], len(items) - limit
