"""Condensed tables of a report, for docs/performance.md. Pure but for reading the JSON.

    python -m benchmarks.summary [benchmarks/results/latest.json]

Prints the targets, a latency matrix (operation x corpus size and layout, p50 / p95 ms), the
FTS5 SQL forms and the LongMemEval summary, as Markdown, from the report alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS_DIR, _quality, _table, _verdicts

__all__ = ["fts_forms", "latency_matrix", "main"]

_OPS = (
    ("injection", "injection (embed + hybrid + fetch 10)"),
    ("cache_hit", "repeated query, whole search"),
    ("search_vector_only", "vector half only (cache hit)"),
    ("search_text_only", "keyword half only (cache hit)"),
    ("store_embedded", "store one, embedding included"),
    ("store_lookup", "store one, embedding excluded"),
)
_FORMS = (
    ("fts_sql_current", "unbounded: OR of all words, join, bm25 order"),
    ("fts_sql_rank_first", "bm25 ranked inside FTS5, then joined"),
    ("fts_sql_recent_window", "bm25 over the newest 2,000 matches"),
    ("fts_sql_all_terms", "words AND-ed instead of OR-ed"),
    ("fts_sql_rare_terms", "only words in <= 5% of rows"),
    ("fts_sql_match_only", "MATCH alone, no ranking (floor)"),
)


def _cell(m: dict[str, Any] | None) -> str:
    if m is None or m["summary"] is None:
        return "-"
    s = m["summary"]
    return f"{s['p50']:.2f} / {s['p95']:.2f}"


def _columns(latency: list[dict[str, Any]]) -> list[tuple[str, int]]:
    seen = {(m["layout"], m["n"]) for m in latency if m["op"] == "injection"}
    if any(m["op"] == "injection_1m" for m in latency):
        big = next(m["n"] for m in latency if m["op"] == "injection_1m")
        seen.add(("one-user", big))
    return sorted(seen, key=lambda c: (c[0] != "one-user", c[1]))


def _find(latency: list[dict[str, Any]], op: str, layout: str, n: int) -> dict[str, Any] | None:
    for m in latency:
        if m["layout"] == layout and m["n"] == n and m["op"] in (op, f"{op}_1m"):
            return m
    return None


def latency_matrix(report: dict[str, Any]) -> list[str]:
    latency = report["latency"]
    columns = _columns(latency)
    headers = ["p50 / p95 ms", *(f"{layout} {n:,}" for layout, n in columns)]
    rows = [
        [label, *(_cell(_find(latency, op, layout, n)) for layout, n in columns)]
        for op, label in _OPS
    ]
    return _table(headers, rows)


def fts_forms(report: dict[str, Any]) -> list[str]:
    latency = report["latency"]
    sizes = sorted({m["n"] for m in latency if m["op"] == "fts_sql_current"})
    layouts = ("one-user", "1000-users")
    columns = [
        (layout, n) for layout in layouts for n in sizes if _find(latency, _FORMS[0][0], layout, n)
    ]
    headers = ["FTS5 SQL, p50 / p95 ms", *(f"{layout} {n:,}" for layout, n in columns)]
    rows = [
        [label, *(_cell(_find(latency, op, layout, n)) for layout, n in columns)]
        for op, label in _FORMS
    ]
    return _table(headers, rows)


def _quality_short(quality: dict[str, Any]) -> list[str]:
    """The per-mode table and the hybrid mode's per-type table."""
    lines = _quality({**quality, "experiments": []})
    hybrid = lines.index("**hybrid**, per question type:")
    first_type_table = lines.index("**vector-only**, per question type:")
    return [*lines[: first_type_table - 1], "", *lines[hybrid:]]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else RESULTS_DIR / "latest.json"
    report = json.loads(path.read_text())
    sections = [
        ("targets", _verdicts(report)),
        ("latency", latency_matrix(report)),
        ("fts", fts_forms(report)),
        ("quality", _quality_short(report["quality"]) if report.get("quality") else []),
    ]
    for name, lines in sections:
        print(f"<!-- {name} -->")
        print("\n".join(lines))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
