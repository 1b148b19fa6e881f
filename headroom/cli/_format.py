"""Readable output: aligned tables and key-value blocks, sized to the terminal. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from headroom.memory.models import Memory, MemoryStats, SearchHit

__all__ = [
    "dumps",
    "format_details",
    "format_history",
    "format_hits",
    "format_memories",
    "format_stats",
    "short_time",
    "table",
]


def dumps(value: Any) -> str:
    """``--json`` output: UTF-8 as is, no NaN (not JSON)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=2)


def short_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None) -> str:
    """Columns aligned; the last column is cut with an ellipsis to fit ``width`` if given."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        head = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        last = row[-1]
        if width is not None:
            room = max(width - len(head) - 2, 12)
            if len(last) > room:
                last = last[: room - 1] + "…"
        lines.append(f"{head}  {last}".rstrip() if head else last)
    return "\n".join(lines)


def _memory_cells(memory: Memory) -> list[str]:
    return [
        memory.id,
        memory.category.value,
        memory.scope.value,
        f"{memory.importance:.2f}",
        short_time(memory.created_at),
        _one_line(memory.content) + ("" if memory.is_current else "  (superseded)"),
    ]


_MEMORY_HEADERS = ("ID", "CATEGORY", "SCOPE", "IMP", "CREATED (UTC)", "CONTENT")


def format_memories(memories: Sequence[Memory], width: int | None = None) -> str:
    if not memories:
        return "no memories"
    return table(_MEMORY_HEADERS, [_memory_cells(m) for m in memories], width)


def format_hits(hits: Sequence[SearchHit], width: int | None = None) -> str:
    if not hits:
        return "no matching memories"
    rows = [[f"{h.score:.4f}", f"{h.similarity:.3f}", *_memory_cells(h.memory)] for h in hits]
    return table(("SCORE", "SIMILARITY", *_MEMORY_HEADERS), rows, width)


def format_history(chain: Sequence[Memory], width: int | None = None) -> str:
    rows = [
        [
            str(n),
            "*" if m.is_current else "",
            m.id,
            short_time(m.valid_from),
            short_time(m.valid_to),
            _one_line(m.content),
        ]
        for n, m in enumerate(chain, start=1)
    ]
    headers = ("V", "NOW", "ID", "VALID FROM (UTC)", "VALID TO (UTC)", "CONTENT")
    return table(headers, rows, width)


def format_details(memory: Memory) -> str:
    """Every field of one memory, one per line."""
    fields: list[tuple[str, str]] = [
        ("id", memory.id),
        ("content", memory.content),
        ("category", memory.category.value),
        ("importance", f"{memory.importance:g}"),
        ("scope", memory.scope.value),
        ("user", memory.user_id),
        ("session", memory.session_id or "-"),
        ("agent", memory.agent_id or "-"),
        ("turn", memory.turn_id or "-"),
        ("current", "yes" if memory.is_current else "no (superseded)"),
        ("created", memory.created_at.isoformat()),
        ("valid from", memory.valid_from.isoformat()),
        ("valid to", "-" if memory.valid_to is None else memory.valid_to.isoformat()),
        ("supersedes", memory.supersedes or "-"),
        ("superseded by", memory.superseded_by or "-"),
        ("metadata", json.dumps(memory.metadata, ensure_ascii=False, sort_keys=True)),
    ]
    label = max(len(name) for name, _ in fields)
    return "\n".join(f"{name.ljust(label)}  {value}" for name, value in fields)


def format_stats(stats: MemoryStats, about: Sequence[tuple[str, str]] = ()) -> str:
    """Counts, then by category and by scope level; ``about`` lines (database, model) first."""
    lines = [f"{name}: {value}" for name, value in about]
    lines.append(
        f"memories: {stats.total} ({stats.current} current, {stats.superseded} superseded)"
    )
    for title, counts in (("by category", stats.categories), ("by scope", stats.scopes)):
        parts = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()) if count)
        if parts:
            lines.append(f"{title}: {parts}")
    return "\n".join(lines)
