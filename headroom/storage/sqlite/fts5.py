"""FTS5TextIndex: keyword search in the database's own FTS5 table.

The rows are written by the store in the same transaction as the memories they index; this
module only searches. The MATCH is restricted to the asking user inside the index (the
``owner`` column), and the join applies the full visibility rule on every row. The words are
counted before they are ranked, so the ranking work stays bounded (``plan_keywords``). The
counting, the plan and the ranking run in one hop on the reader connection.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any

from headroom.domain import SearchFilter
from headroom.errors import StorageError
from headroom.storage.base import Ranked
from headroom.storage.sqlite import codec
from headroom.storage.sqlite.connection import Connection
from headroom.storage.sqlite.fts_query import (
    count_expressions,
    or_expression,
    plan_keywords,
    terms,
)
from headroom.storage.sqlite.sql import visibility_sql

__all__ = ["FTS5TextIndex"]


class FTS5TextIndex:
    """The TextIndex backend over the store's ``memories_fts`` table."""

    def __init__(self, reader: Connection) -> None:
        self._reader = reader

    async def search(self, query: str, k: int, where: SearchFilter) -> Ranked:
        words = terms(query)
        if k <= 0 or not words:
            return []
        try:
            return await self._reader.run(
                "searching keywords", partial(_search, words=words, k=k, where=where)
            )
        except StorageError as exc:
            # The expression is built from quoted words only, but an FTS5 syntax complaint
            # must still never reach the user: a query that cannot be matched finds nothing.
            # Only a syntax complaint: corruption of the FTS index must surface, not read as [].
            if "fts5: syntax error" in str(exc).lower():
                return []
            raise


def _search(conn: sqlite3.Connection, *, words: list[str], k: int, where: SearchFilter) -> Ranked:
    owner = codec.owner_token(where.scope.user_id)
    # Ranking is the cost of a keyword search; counting matches is cheap. Count first, so an
    # OR of common words over a large user stays within a bounded ranking budget.
    expressions = count_expressions(words, owner)
    count = "(SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?)"
    counts = conn.execute(f"SELECT {', '.join([count] * len(expressions))}", expressions).fetchone()
    plan = plan_keywords(words, [int(c) for c in counts])
    if not plan.words:
        return []
    match = or_expression(plan.words, owner)
    visibility, params = visibility_sql(where)
    if plan.window is None:
        sql = (
            "SELECT f.rowid, bm25(memories_fts, 1.0, 0.0) AS rank_score "
            "FROM memories_fts AS f JOIN memories AS m ON m.key = f.rowid "
            f"WHERE memories_fts MATCH ? AND {visibility} "
            "ORDER BY rank_score LIMIT ?"
        )
        args: tuple[Any, ...] = (match, *params, k)
    else:
        # Only the newest ``window`` matching rows are ranked: bounded work when the query's
        # words are common (FTS5 walks a doclist newest first and stops).
        sql = (
            "SELECT c.key, c.rank_score FROM ("
            "SELECT rowid AS key, bm25(memories_fts, 1.0, 0.0) AS rank_score "
            "FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
            ") AS c JOIN memories AS m ON m.key = c.key "
            f"WHERE {visibility} ORDER BY c.rank_score LIMIT ?"
        )
        args = (match, plan.window, *params, k)
    # bm25() is lower-is-better and negative; report higher-is-better.
    return [(int(key), -float(score)) for key, score in conn.execute(sql, args)]
