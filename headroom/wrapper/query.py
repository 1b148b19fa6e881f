"""What the wrapper searches for. Pure: no I/O.

:func:`search_query` builds the query: the last user message and, for a message that leans on
what came before ("what does she do?"), a bounded window of the conversation before it, in
the third person. People ask "Where do I work?"; a model writes "User works at Google": on
the default model that pair scores 0.19 as asked and 0.61 as "Where does User work?", while
a question that is not about the user keeps its own (lower) similarities. That makes the
similarity a better test of relevance (docs/performance.md has the measurements).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_WINDOW_CHARS",
    "message_text",
    "needs_context",
    "SearchQuery",
    "conversation_window",
    "mentions_user",
    "search_query",
    "search_text",
    "third_person",
]

#: At most this many characters of earlier messages join a follow-up's query.
DEFAULT_WINDOW_CHARS = 300

_WORD = re.compile(r"[A-Za-z']+")

# Longest phrases first: "am I" before "I", "I'm" before "I".
_REWRITES: tuple[tuple[str, str], ...] = (
    (r"\bam i\b", "is User"),
    (r"\bdo i\b", "does User"),
    (r"\bhave i\b", "has User"),
    (r"\bwas i\b", "was User"),
    (r"\bi am\b", "User is"),
    (r"\bi'm\b", "User is"),
    (r"\bi have\b", "User has"),
    (r"\bi've\b", "User has"),
    (r"\bi'd\b", "User would"),
    (r"\bi'll\b", "User will"),
    (r"\bi do\b", "User does"),
    (r"\bare we\b", "is User"),
    (r"\bdo we\b", "does User"),
    (r"\bhave we\b", "has User"),
    (r"\bwe are\b", "User is"),
    (r"\bwe're\b", "User is"),
    (r"\bwe've\b", "User has"),
    (r"\b(?:my|mine|our|ours)\b", "User's"),
    (r"\b(?:i|me|myself|we|us|ourselves)\b", "User"),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), r) for p, r in _REWRITES)

_FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|myself|we|us|our|ours|ourselves)\b", re.IGNORECASE)

_SECOND = tuple(
    (re.compile(p, re.IGNORECASE), r)
    for p, r in (
        (r"\bare you\b", "is User"),
        (r"\byou are\b|\byou're\b", "User is"),
        (r"\byou have\b|\byou've\b", "User has"),
        (r"\b(?:your|yours)\b", "User's"),
        (r"\b(?:you|yourself)\b", "User"),
    )
)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself)\b|\byou'", re.IGNORECASE)

#: Words that point back into the conversation: a message using one may not say what it is
#: about ("what does she do?", "and the other one?").
_ANAPHORA = frozenset(
    """
    he she him her his hers they them their theirs it its this that these those there
    one ones again also too else other another same former latter
    """.split()
)
#: A message this short (in words) is taken as a follow-up even without a pronoun.
_SHORT_MESSAGE_WORDS = 4


def third_person(text: str) -> str:
    """``text`` with the speaker's first person written as "User" ("my" as "User's")."""
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text


def mentions_user(text: str) -> bool:
    """Whether ``text`` speaks of its speaker: "I", "my", "we", ..."""
    return _FIRST_PERSON.search(text) is not None


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message: its string content, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = [
            part.get("text")
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        ]
        return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def needs_context(text: str) -> bool:
    """Whether a message leans on the turns before it: a pronoun or "again", or very short."""
    words = [w.lower() for w in _WORD.findall(text)]
    return len(words) <= _SHORT_MESSAGE_WORDS or any(w in _ANAPHORA for w in words)


def conversation_window(
    messages: Sequence[object], user_index: int, *, window_chars: int = DEFAULT_WINDOW_CHARS
) -> list[tuple[str, str]]:
    """``(role, text)`` of the user message at ``user_index`` and, for a follow-up
    (:func:`needs_context`), of the messages before it, newest first.

    Earlier messages are taken until ``window_chars`` characters of them are used (one that
    does not fit whole is cut at a word); the user message itself is never cut and comes first.
    System and tool messages are left out: they are instructions, not conversation.
    """
    message = messages[user_index]
    assert isinstance(message, Mapping)
    text = message_text(message).strip()
    parts = [("user", text)]
    if window_chars <= 0 or not needs_context(text):
        return parts
    room = window_chars
    for index in range(user_index - 1, -1, -1):
        earlier = messages[index]
        if not isinstance(earlier, Mapping):
            continue
        role = earlier.get("role")
        if role not in ("user", "assistant"):
            continue
        before = " ".join(message_text(earlier).split())
        if not before:
            continue
        if len(before) > room:
            before = before[:room].rsplit(" ", 1)[0]
        if not before:
            break
        parts.append((str(role), before))
        room -= len(before) + 1
        if room <= 0:
            break
    return parts


def search_text(
    messages: Sequence[object], user_index: int, *, window_chars: int = DEFAULT_WINDOW_CHARS
) -> str:
    """The words of :func:`conversation_window`, as written, one message a line."""
    parts = conversation_window(messages, user_index, window_chars=window_chars)
    return "\n".join(text for _, text in parts)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to search for (``text``, in the third person) and whether the conversation it
    comes from speaks of the user (``personal``), which lowers the bar for relevance."""

    text: str
    personal: bool


def search_query(
    messages: Sequence[object], user_index: int, *, window_chars: int = DEFAULT_WINDOW_CHARS
) -> SearchQuery:
    """The :func:`conversation_window` with the user named "User": the user's own "I" and
    "my", and the assistant's "you" and "your" (the assistant's "I" is the assistant)."""
    parts = conversation_window(messages, user_index, window_chars=window_chars)
    lines: list[str] = []
    personal = False
    for role, text in parts:
        if role == "user":
            personal = personal or mentions_user(text)
            lines.append(third_person(text))
        else:
            personal = personal or _SECOND_PERSON.search(text) is not None
            lines.append(_addressed(text))
    return SearchQuery("\n".join(lines), personal)


def _addressed(text: str) -> str:
    for pattern, replacement in _SECOND:
        text = pattern.sub(replacement, text)
    return text
