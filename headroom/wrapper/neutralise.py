"""Defusing the wrapper's tags in what is sent to the model. Pure: no I/O.

The wrapper reads ``<memory>`` blocks from the model's answer and puts memories in a
``<headroom-context>`` block. Any text sent to the model (a user message, a quoted document,
a tool result, an earlier answer) could hold those tags: quoted text the model echoes would
then be stored as the model's own memory, and a forged context block would pose as what the
user said before. :func:`neutralise_messages` writes the ``<`` of every such tag ``&lt;``, in
every message's text, before the call; the model still reads the text, but nothing it
echoes parses as a block. The wrapper's own context block and instruction are added after.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["neutralise_messages", "neutralise_text"]

#: The ``<`` of anything that could read as one of the wrapper's tags, spaced or cased oddly.
TAG_START = re.compile(r"<(?=\s*/?\s*(?:memory|headroom))", re.IGNORECASE)


def neutralise_text(text: str) -> str:
    """``text`` with every wrapper tag's ``<`` written ``&lt;``."""
    return TAG_START.sub("&lt;", text)


def neutralise_messages(messages: Sequence[Any]) -> list[Any]:
    """A copy of ``messages`` whose text (string content, or text parts of list content)
    holds no wrapper tag. Messages without any are passed on as they are; the caller's
    objects are never modified."""
    out: list[Any] = []
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        cleaned = _content(content)
        out.append(message if cleaned is content else {**message, "content": cleaned})
    return out


def _content(content: object) -> object:
    if isinstance(content, str):
        cleaned = neutralise_text(content)
        return content if cleaned == content else cleaned
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        parts = [_part(part) for part in content]
        if all(new is old for new, old in zip(parts, content, strict=True)):
            return content
        return parts
    return content


def _part(part: object) -> object:
    if isinstance(part, Mapping) and isinstance(part.get("text"), str):
        text = part["text"]
        cleaned = neutralise_text(text)
        return part if cleaned == text else {**part, "text": cleaned}
    return part
