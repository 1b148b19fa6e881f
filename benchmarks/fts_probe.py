"""Where the keyword half's time goes: unbounded FTS5 ranking against bounded forms.

An experiment, not the engine: ``current`` is the keyword SQL as the engine first ran it (an
OR of every query word, joined with the visibility rule, ordered by bm25, unbounded; the engine
now plans its words within a ranking budget, see ``fts_query.plan_keywords``), timed on a
read-only connection to a benchmark database, beside

* ``rank_first``: bm25 ranked inside FTS5 first (a subquery with ``ORDER BY ... LIMIT``), the
  join and visibility check applied to those candidates only;
* ``match_only``: the MATCH alone, counting rows: the floor any ranking pays;
* ``all_terms``: the engine's SQL with the words AND-ed instead of OR-ed (fewer rows to rank;
  a different, stricter query: a fallback to OR would be needed when it finds too little);
* ``rare_terms``: the engine's SQL, OR over only the words found in at most 5% of the rows
  (document frequencies from an ``fts5vocab`` table; the rarest word is always kept). Frequent
  words carry almost no BM25 weight (IDF near 0) but make most of the ranking work;
* ``recent_window``: bm25 computed for the newest ``RECENT_WINDOW`` matching rows only (FTS5
  walks its doclist newest first and stops), then joined: bounded work, a recency bias.

The measurements tell which change to ``text_search`` would close the gap (docs/performance.md).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.stats import Summary, summarize
from headroom.storage.sqlite import codec
from headroom.storage.sqlite.fts_query import match_expression, terms

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
_RECENT = (
    "SELECT c.key, c.score FROM ("
    "  SELECT rowid AS key, bm25(memories_fts, 1.0, 0.0) AS score FROM memories_fts"
    "  WHERE memories_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
    ") AS c JOIN memories AS m ON m.key = c.key "
    "WHERE m.user_id = ? AND m.session_id IS NULL AND m.agent_id IS NULL "
    "AND m.turn_id IS NULL AND m.superseded_by IS NULL ORDER BY c.score LIMIT ?"
)
RECENT_WINDOW = 2000
_MATCH_ONLY = "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?"


_RARE = 0.05


def _quoted(words: Sequence[str], joiner: str) -> str:
    return f" {joiner} ".join(f'"{w}"' for w in words)


def _rare(conn: sqlite3.Connection, words: Sequence[str], rows: int) -> list[str]:
    marks = ",".join("?" * len(words))
    found = dict(
        conn.execute(f"SELECT term, doc FROM temp.vocab WHERE term IN ({marks})", list(words))
    )
    ranked = sorted(words, key=lambda w: found.get(w, 0))
    keep = [w for w in ranked if found.get(w, 0) <= _RARE * rows]
    return keep or ranked[:1]


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
        conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, memories_fts, row)")
        rows = int(conn.execute("SELECT count(*) FROM memories").fetchone()[0])
        samples: dict[str, list[float]] = {
            name: []
            for name in (
                "current",
                "rank_first",
                "recent_window",
                "match_only",
                "all_terms",
                "rare_terms",
            )
        }
        for query, user in zip(queries, users, strict=True):
            match = match_expression(query, owner=codec.owner_token(user))
            words = terms(query)
            if match is None or not words:
                continue
            owner = f'owner:"{codec.owner_token(user)}" AND '
            samples["current"].append(_time(conn, _CURRENT, (match, user, k)))
            samples["rank_first"].append(_time(conn, _RANK_FIRST, (match, 4 * k, user, k)))
            samples["recent_window"].append(_time(conn, _RECENT, (match, RECENT_WINDOW, user, k)))
            samples["match_only"].append(_time(conn, _MATCH_ONLY, (match,)))
            every = f"{owner}content:({_quoted(words, 'AND')})"
            samples["all_terms"].append(_time(conn, _CURRENT, (every, user, k)))
            started = time.perf_counter()
            rare = f"{owner}content:({_quoted(_rare(conn, words, rows), 'OR')})"
            conn.execute(_CURRENT, (rare, user, k)).fetchall()
            samples["rare_terms"].append((time.perf_counter() - started) * 1000)
        return {name: summarize(values) for name, values in samples.items()}
    finally:
        conn.close()
