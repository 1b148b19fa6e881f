"""FTS5TextIndex: keyword search in the database's own FTS5 table.

The rows are written by the store in the same transaction as the memories they index; this
module only searches, in one hop on the reader connection:

1. **Count** each word's matches, newest first and only up to the ranking budget (FTS5 walks
   a doclist newest first and stops there): a word matching more rows is common, and how
   common is read from how far back its newest matches reach.
2. **Plan** (:func:`plan_keywords`): words in most of the user's rows are dropped, then the
   commonest while the rest match more rows than the budget; a lone common word is ranked
   over its newest matches.
3. **Rank** with bm25 inside FTS5, then apply the full visibility rule to the best few rows
   only, and to more of them when too few of those are visible.

The MATCH is restricted to the asking user inside the index (the ``owner`` column) when the
user holds less than half of the database. For a user holding most of it the restriction
saves nothing and costs a walk over every one of their rows, in each count and in the
ranking (one user holding 100k memories: counting 4.1 -> 0.9 ms of CPU, ranking 7.6 -> 4.5;
at 1M: 44 -> 8 ms and 34 -> 8 ms); the visibility rule checks the owner of each ranked row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from headroom.domain import SearchFilter
from headroom.errors import StorageError
from headroom.storage.base import Ranked
from headroom.storage.sqlite import codec
from headroom.storage.sqlite.connection import Connection
from headroom.storage.sqlite.fts_query import (
    RANK_BUDGET,
    count_expressions,
    or_expression,
    plan_keywords,
    terms,
)
from headroom.storage.sqlite.sql import visibility_sql

__all__ = ["FTS5TextIndex", "RowCounts"]

RowCounts = Callable[[str], Awaitable[tuple[int, int]]]
"""How many rows a user holds, and the database: ``await rows(user_id) -> (user's, all)``."""

_DEPTH_PER_RESULT = 4
"""Best-ranked rows checked for visibility per result wanted, before checking more."""
_DEEPER = 8


class FTS5TextIndex:
    """The TextIndex backend over the store's ``memories_fts`` table.

    ``rows`` tells how many rows the asking user and the database hold (the vector index's
    catalog knows, in microseconds); without it every search is restricted to the owner.
    """

    def __init__(self, reader: Connection, rows: RowCounts | None = None) -> None:
        self._reader = reader
        self._rows = rows

    async def search(self, query: str, k: int, where: SearchFilter) -> Ranked:
        words = terms(query)
        if k <= 0 or not words:
            return []
        held = None if self._rows is None else await self._rows(where.scope.user_id)
        try:
            return await self._reader.run(
                "searching keywords", partial(_search, words=words, k=k, where=where, held=held)
            )
        except StorageError as exc:
            # The expression is built from quoted words only, but an FTS5 syntax complaint
            # must still never reach the user: a query that cannot be matched finds nothing.
            # Only a syntax complaint: corruption of the FTS index must surface, not read as [].
            if "fts5: syntax error" in str(exc).lower():
                return []
            raise


def _search(
    conn: sqlite3.Connection,
    *,
    words: list[str],
    k: int,
    where: SearchFilter,
    held: tuple[int, int] | None,
    budget: int = RANK_BUDGET,
) -> Ranked:
    owner = codec.owner_token(where.scope.user_id)
    if held is not None and 2 * held[0] >= held[1]:
        # The user holds at least half of the rows: no owner restriction.
        found = _ranked(conn, words, k, where, owner=None, rows=held[1], budget=budget)
        if found is not None:
            return found
        # Only the newest matches of every user were ranked, and too few were this user's
        # (other users wrote most of the recent ones): rank this user's newest instead.
    rows = None if held is None else held[0]
    return _ranked(conn, words, k, where, owner=owner, rows=rows, budget=budget) or []


def _ranked(
    conn: sqlite3.Connection,
    words: list[str],
    k: int,
    where: SearchFilter,
    *,
    owner: str | None,
    rows: int | None,
    budget: int,
) -> Ranked | None:
    """The best ``k`` visible matches of ``words`` among ``owner``'s rows (None: every row);
    None when the matches were ranked over a window of every user's rows and fewer than
    ``k`` of them were visible."""
    counts = _counts(conn, count_expressions(words, owner), cap=budget + 1)
    plan = plan_keywords(words, counts, budget=budget, rows=rows)
    if not plan.words:
        return []
    ranked = plan.window or sum(counts[words.index(word)] for word in plan.words)
    match = or_expression(plan.words, owner)
    visibility, params = visibility_sql(where)
    # The rows FTS5 ranks: every match, or only the newest ``window`` of them.
    matches = "SELECT rowid AS key, bm25(memories_fts, 1.0, 0.0) AS score FROM memories_fts "
    matches += "WHERE memories_fts MATCH ?"
    window: tuple[Any, ...] = (match,)
    if plan.window is not None:
        matches = f"SELECT key, score FROM ({matches} ORDER BY rowid DESC LIMIT ?)"
        window = (match, plan.window)
    # The visibility rule reads each row it checks from the table: the best-ranked first.
    sql = (
        f"SELECT b.key, b.score FROM ({matches} ORDER BY score LIMIT ?) AS b "
        f"JOIN memories AS m ON m.key = b.key WHERE {visibility} ORDER BY b.score LIMIT ?"
    )
    depth = k * _DEPTH_PER_RESULT
    while True:
        found = conn.execute(sql, (*window, depth, *params, k)).fetchall()
        if len(found) >= k or depth >= ranked:
            break
        depth *= _DEEPER
    if len(found) < k and owner is None and plan.window is not None:
        return None
    # bm25() is lower-is-better and negative; report higher-is-better.
    return [(int(key), -float(score)) for key, score in found]


_WINDOW_COUNT = (
    "SELECT {index}, count(*), min(rowid) FROM (SELECT rowid FROM memories_fts "
    "WHERE memories_fts MATCH ? ORDER BY rowid DESC LIMIT ?)"
)

_KEY_SPAN = "SELECT (SELECT min(key) FROM memories), (SELECT max(key) FROM memories)"
"""Two subqueries: SQLite finds a lone min() or max() in one seek, both at once by a scan."""


def _counts(conn: sqlite3.Connection, expressions: Sequence[str], *, cap: int) -> list[int]:
    """How many rows each expression matches: exact below ``cap``; above, estimated from the
    span of keys its newest ``cap`` matches cover (each count stops after ``cap`` rows)."""
    sql = " UNION ALL ".join(_WINDOW_COUNT.format(index=i) for i in range(len(expressions)))
    windows = {
        int(index): (int(count), lowest)
        for index, count, lowest in conn.execute(
            sql, [value for expression in expressions for value in (expression, cap)]
        )
    }
    span: tuple[int, int] | None = None
    counts: list[int] = []
    for index in range(len(expressions)):
        count, lowest = windows[index]
        if count < cap:
            counts.append(count)
            continue
        if span is None:
            first, last = conn.execute(_KEY_SPAN).fetchone()
            span = (int(first or 0), int(last or 0))
        first, last = span
        covered = max(1, last - int(lowest) + 1)
        counts.append(max(cap, round(cap * (last - first + 1) / covered)))
    return counts
