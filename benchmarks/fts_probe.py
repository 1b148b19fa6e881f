"""Where the keyword half's time goes: the engine's FTS5 SQL against two bounded forms.

An experiment, not the engine: the SQL below copies the shape of
``SQLiteStore.text_search`` (FTS5 MATCH joined with the visibility rule, ordered by bm25) and
times it on a read-only connection to a benchmark database, beside

* ``rank_first``: bm25 ranked inside FTS5 first (a subquery with ``ORDER BY ... LIMIT``), the
  join and visibility check applied to those candidates only;
* ``match_only``: the MATCH alone, counting rows: the floor any ranking pays.

The measurements tell which change to ``text_search`` would close the gap (docs/performance.md).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.stats import Summary, summarize
from headroom.storage import codec
from headroom.storage.fts_query import match_expression

__all__ = ["probe_fts"]

_CURRENT = (
    "SELECT f.rowid, bm25(memories_fts, 1.0, 0.0) AS rank_score "
    "FROM memories_fts AS f JOIN memories AS m ON m.key = f.rowid "
    "WHERE memories_fts MATCH ? AND m.user_id = ? AND m.session_id IS NULL "
    "AND m.agent_id IS NULL AND m.turn_id IS NULL AND m.superseded_by IS NULL "
    "ORDER BY rank_score LIMIT ?"
)
_RANK_FIRST = (
    "SELECT c.key, c.score FROM ("
    "  SELECT rowid AS key, bm25(memories_fts, 1.0, 0.0) AS score FROM memories_fts"
    "  WHERE memories_fts MATCH ? ORDER BY score LIMIT ?"
    ") AS c JOIN memories AS m ON m.key = c.key "
    "WHERE m.user_id = ? AND m.session_id IS NULL AND m.agent_id IS NULL "
    "AND m.turn_id IS NULL AND m.superseded_by IS NULL ORDER BY c.score LIMIT ?"
)
_MATCH_ONLY = "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?"


def _time(conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> float:
    started = time.perf_counter()
    conn.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000


def probe_fts(
    db: Path, queries: Sequence[str], users: Sequence[str], *, k: int = 40
) -> dict[str, Summary]:
    """p50/p95/p99 of each form over ``queries`` (one user per query), in milliseconds."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        samples: dict[str, list[float]] = {"current": [], "rank_first": [], "match_only": []}
        for query, user in zip(queries, users, strict=True):
            match = match_expression(query, owner=codec.owner_token(user))
            if match is None:
                continue
            samples["current"].append(_time(conn, _CURRENT, (match, user, k)))
            samples["rank_first"].append(_time(conn, _RANK_FIRST, (match, 4 * k, user, k)))
            samples["match_only"].append(_time(conn, _MATCH_ONLY, (match,)))
        return {name: summarize(values) for name, values in samples.items()}
    finally:
        conn.close()
