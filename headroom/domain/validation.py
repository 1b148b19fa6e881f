"""Checks on what callers pass in. A bad value raises ValidationError; nothing is stored. Pure."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

from headroom.errors import ValidationError

__all__ = [
    "check_content",
    "check_id",
    "check_importance",
    "check_memory_id",
    "check_metadata",
    "check_query",
    "check_source",
]


def check_id(name: str, value: object, *, required: bool = False) -> None:
    """A scope id: None (unless ``required``) or non-blank text without NUL characters."""
    if value is None:
        if required:
            raise ValidationError(f"{name} is required")
        return
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
    if "\x00" in value:
        raise ValidationError(f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{name} is not valid Unicode text: {exc.reason}") from None


def check_importance(value: object, *, name: str = "importance") -> float:
    """``value`` as a float in [0, 1]; a specific error otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{name} must be a number in [0, 1], got {value!r}")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ValidationError(f"{name} must be in [0, 1], got {value!r}")
    return number


def check_content(content: object, *, max_chars: int, name: str = "content") -> str:
    """Non-empty text of at most ``max_chars``, without NUL bytes or lone surrogates."""
    if not isinstance(content, str):
        raise ValidationError(f"{name} must be a string, got {type(content).__name__}")
    if not content.strip():
        raise ValidationError(f"{name} must not be empty or only whitespace")
    if len(content) > max_chars:
        raise ValidationError(
            f"{name} is {len(content)} characters; the limit is {max_chars} "
            "(MemoryConfig.max_content_chars)"
        )
    if "\x00" in content:
        raise ValidationError(f"{name} must not contain NUL characters")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{name} is not valid Unicode text: {exc.reason}") from None
    return content


def check_source(source: object, *, max_chars: int) -> str | None:
    """A memory's source: None, or text checked as content is (blank text counts as None)."""
    if source is None or (isinstance(source, str) and not source.strip()):
        return None
    return check_content(source, max_chars=max_chars, name="source")


def check_query(query: object, *, max_chars: int | None = None) -> str:
    """A search query: any string (hostile ones included) of at most ``max_chars``."""
    if not isinstance(query, str):
        raise ValidationError(f"query must be a string, got {type(query).__name__}")
    if max_chars is not None and len(query) > max_chars:
        raise ValidationError(
            f"query is {len(query)} characters; the limit is {max_chars} "
            "(MemoryConfig.max_query_chars)"
        )
    # Lone surrogates cannot be encoded for the tokenizer or a database; drop them.
    return query.encode("utf-8", "ignore").decode("utf-8").replace("\x00", " ")


def check_memory_id(memory_id: object) -> str:
    """A memory id as headroom issues them (a UUID string)."""
    if not isinstance(memory_id, str):
        raise ValidationError(f"memory id must be a string, got {type(memory_id).__name__}")
    try:
        uuid.UUID(memory_id)
    except ValueError:
        raise ValidationError(f"malformed memory id {memory_id!r}: expected a UUID") from None
    return memory_id


def check_metadata(metadata: object, *, max_bytes: int | None = None) -> dict[str, Any]:
    """A JSON-serialisable dict with string keys, of at most ``max_bytes`` as UTF-8 JSON,
    deep-copied so the caller keeps theirs."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValidationError(f"metadata must be a dict, got {type(metadata).__name__}")
    for key in metadata:
        if not isinstance(key, str):
            raise ValidationError(f"metadata keys must be strings, got {key!r}")
    if max_bytes is not None and _exceeds(metadata, max_bytes):
        raise ValidationError(_too_large(f"more than {max_bytes}", max_bytes))
    try:
        text = json.dumps(dict(metadata), allow_nan=False, ensure_ascii=False)
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"metadata must be JSON-serialisable: {exc}") from None
    except RecursionError:
        raise ValidationError("metadata is nested too deeply to store") from None
    if max_bytes is not None and size > max_bytes:
        raise ValidationError(_too_large(str(size), max_bytes))
    copied: dict[str, Any] = json.loads(text)
    return copied


def _too_large(size: str, limit: int) -> str:
    return (
        f"metadata is {size} bytes as JSON; the limit is {limit} (MemoryConfig.max_metadata_bytes)"
    )


def _exceeds(value: object, budget: int) -> bool:
    """Whether ``value`` certainly serialises to more than ``budget`` bytes, found in at most
    about ``budget`` steps (so a huge value is refused without being serialised first).

    Counts a lower bound: the characters of strings and keys, one per number or punctuation.
    A container met twice (a cycle) is counted once; json.dumps then names the cycle.
    """
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        item = stack.pop()
        if isinstance(item, (Mapping, list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            # Brackets, then per entry at least a separator (and a key's quotes and colon).
            total += 2 + len(item) * (3 if isinstance(item, Mapping) else 1)
            if total > budget:
                return True
            if isinstance(item, Mapping):
                for key, inner in item.items():
                    total += len(key) if isinstance(key, str) else 0
                    stack.append(inner)
            else:
                stack.extend(item)
        elif isinstance(item, str):
            total += len(item) + 2
        else:
            total += 1
        if total > budget:
            return True
    return False
