"""Readable output: aligned tables and key-value blocks, sized to the terminal. Pure."""

from __future__ import annotations

import json
import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from headroom.memory import Memory, MemoryStats, SearchHit

__all__ = [
    "Column",
    "cell_width",
    "dumps",
    "format_details",
    "format_history",
    "format_hits",
    "format_memories",
    "format_stats",
    "short_time",
    "table",
    "truncate",
]


def dumps(value: Any) -> str:
    """``--json`` output: UTF-8 as is, no NaN (not JSON)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=2)


def short_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- display width -------------------------------------------------------------------------------


def cell_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide (CJK, most emoji) count 2, combining 0."""
    total = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def truncate(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns, ending in an ellipsis when cut."""
    if cell_width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        step = cell_width(char)
        if used + step > width - 1:
            break
        out.append(char)
        used += step
    return "".join(out) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - cell_width(text))


# -- tables --------------------------------------------------------------------------------------

_GAP = "  "
_CONTENT_COMFORT = 30
"""The content's fair share: at least this many columns, or a third of a wide terminal.
While the content would get less, the other columns give way (short forms, then dropped)."""


@dataclass(frozen=True)
class Column:
    """One column of a table. The last column of a table is the content: it takes the room
    that is left and is the one cut (with an ellipsis), after the others gave way.

    ``drop`` orders how the others give way when the terminal is narrow: the lowest goes
    first; None never goes. ``short`` is a narrower form of the cells, tried at ``drop - 0.5``.
    ``suffix`` cells are appended to the content after cutting, so a label always shows.
    """

    header: str
    cells: Sequence[str]
    drop: float | None = None
    short: Sequence[str] | None = None
    suffix: Sequence[str] | None = None


def _natural(header: str, cells: Sequence[str]) -> int:
    return max([cell_width(header), *(cell_width(c) for c in cells)])


def table(columns: Sequence[Column], width: int | None = None) -> str:
    """Columns aligned, fitted to ``width`` columns of terminal when given (else complete).

    Narrowing, in order: other columns take their short form or are dropped (by ``drop``)
    while the content would get fewer than its comfortable width; then the content is cut
    with an ellipsis. Only the ids and the content never go, so on a terminal too narrow for
    those the lines are as long as they must be.
    """
    *others, content = columns
    rows = len(content.cells)
    suffixes = content.suffix or [""] * rows
    full = [c + s for c, s in zip(content.cells, suffixes, strict=True)]
    content_natural = _natural(content.header, full)
    shown: list[tuple[str, Sequence[str]]] = [(c.header, c.cells) for c in others]
    if width is not None:
        # (when, which column, what it becomes): its short form, then nothing.
        steps: list[tuple[float, int, tuple[str, Sequence[str]] | None]] = []
        for i, column in enumerate(others):
            if column.drop is None:
                continue
            if column.short is not None:
                steps.append((column.drop - 0.5, i, (column.header, column.short)))
            steps.append((column.drop, i, None))
        want = min(content_natural, max(_CONTENT_COMFORT, width // 3))
        kept: list[tuple[str, Sequence[str]] | None] = list(shown)
        for _, index, replacement in sorted(steps, key=lambda step: (step[0], step[1])):
            used = sum(_natural(*c) + len(_GAP) for c in kept if c is not None)
            if used + want <= width:
                break
            kept[index] = replacement
        shown = [c for c in kept if c is not None]
    widths = [_natural(h, cells) for h, cells in shown]
    room = None
    if width is not None:
        room = max(width - sum(w + len(_GAP) for w in widths), 1)
    lines = []
    for row in range(-1, rows):
        cells = [h if row < 0 else col[row] for h, col in shown]
        if row < 0:
            last = content.header
        else:
            text, suffix = content.cells[row], suffixes[row]
            if room is not None:
                text = truncate(text, max(room - cell_width(suffix), 1))
            last = text + suffix
        head = _GAP.join(_pad(cell, widths[i]) for i, cell in enumerate(cells))
        lines.append(f"{head}{_GAP}{last}".rstrip() if head else last)
    return "\n".join(lines)


def _superseded_label(memory: Memory, *, as_of: bool) -> str:
    if memory.is_current:
        return ""
    # Listed as of a past time, every row was current then; say what happened since.
    return "  (since superseded)" if as_of else "  (superseded)"


def format_memories(
    memories: Sequence[Memory],
    width: int | None = None,
    *,
    with_user: bool = False,
    as_of: bool = False,
) -> str:
    """The ``list`` table; ``with_user`` adds a USER column (a listing across users)."""
    if not memories:
        return "no memories"
    columns = [Column("ID", [m.id for m in memories])]
    if with_user:
        columns.append(Column("USER", [m.user_id for m in memories], drop=6))
    columns += _memory_columns(memories)
    columns.append(
        Column(
            "CONTENT",
            [_one_line(m.content) for m in memories],
            suffix=[_superseded_label(m, as_of=as_of) for m in memories],
        )
    )
    return table(columns, width)


def _memory_columns(memories: Sequence[Memory]) -> list[Column]:
    return [
        Column("CATEGORY", [m.category.value for m in memories], drop=5),
        Column("SCOPE", [m.scope.value for m in memories], drop=4),
        Column("IMP", [f"{m.importance:.2f}" for m in memories], drop=1),
        Column(
            "CREATED (UTC)",
            [short_time(m.created_at) for m in memories],
            drop=3,
            short=[m.created_at.strftime("%Y-%m-%d") for m in memories],
        ),
    ]


def format_hits(hits: Sequence[SearchHit], width: int | None = None) -> str:
    if not hits:
        return "no matching memories"
    memories = [h.memory for h in hits]
    columns = [
        Column("SCORE", [f"{h.score:.4f}" for h in hits], drop=0),
        Column("SIMILARITY", [f"{h.similarity:.3f}" for h in hits], drop=7),
        Column("ID", [m.id for m in memories]),
        *_memory_columns(memories),
        Column(
            "CONTENT",
            [_one_line(m.content) for m in memories],
            suffix=[_superseded_label(m, as_of=False) for m in memories],
        ),
    ]
    return table(columns, width)


def format_history(chain: Sequence[Memory], width: int | None = None) -> str:
    columns = [
        Column("V", [str(n) for n in range(1, len(chain) + 1)]),
        Column("NOW", ["*" if m.is_current else "" for m in chain]),
        Column("ID", [m.id for m in chain]),
        Column("VALID FROM (UTC)", [short_time(m.valid_from) for m in chain], drop=2),
        # The next version's VALID FROM: the first to give way.
        Column("VALID TO (UTC)", [short_time(m.valid_to) for m in chain], drop=1),
        Column("CONTENT", [_one_line(m.content) for m in chain]),
    ]
    return table(columns, width)


def format_details(memory: Memory, width: int | None = None) -> str:
    """Every field of one memory, one per line; long values wrap under themselves."""
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
    indent = " " * (label + 2)
    lines = []
    for name, value in fields:
        first = f"{name.ljust(label)}  "
        if width is None or len(first) + cell_width(value) <= width:
            lines.append(first + value)
            continue
        # Wrapped, never cut: this is the one view that shows everything.
        wrapped = textwrap.wrap(value, max(width - len(indent), 20), break_long_words=True)
        lines.append(first + (wrapped[0] if wrapped else ""))
        lines += [indent + part for part in wrapped[1:]]
    return "\n".join(lines)


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
