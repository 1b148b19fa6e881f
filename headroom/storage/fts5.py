"""FTS5TextIndex: BM25 keyword search in the database's own FTS5 table.

The rows are written by :class:`SQLiteStore` in the same transaction as the memories they index;
this module only searches. The MATCH is restricted to the asking user inside the index (the
``owner`` column), and the join re-applies the full visibility rule on every row. The words
are counted before they are ranked, so the ranking work stays bounded (``plan_keywords``).
"""

from __future__ import annotations

from typing import Any

from headroom.storage import codec
from headroom.storage.base import SearchFilter
from headroom.storage.fts_query import count_expressions, or_expression, plan_keywords, terms
from headroom.storage.sqlite_store import SQLiteStore

__all__ = ["FTS5TextIndex", "visibility_sql"]


def visibility_sql(where: SearchFilter, alias: str = "m") -> tuple[str, list[Any]]:
    """The scope rule as SQL: every id the row carries equals the context's."""
    scope = where.scope
    clauses = [f"{alias}.user_id = ?"]
    params: list[Any] = [scope.user_id]
    for column, value in (
        ("session_id", scope.session_id),
        ("agent_id", scope.agent_id),
        ("turn_id", scope.turn_id),
    ):
        if value is None:
            clauses.append(f"{alias}.{column} IS NULL")
        else:
            clauses.append(f"({alias}.{column} IS NULL OR {alias}.{column} = ?)")
            params.append(value)
    if not where.include_superseded:
        clauses.append(f"{alias}.superseded_by IS NULL")
    if where.categories is not None:
        names = sorted(c.value for c in where.categories)
        clauses.append(f"{alias}.category IN ({','.join('?' * len(names))})")
        params.extend(names)
    return " AND ".join(clauses), params


class FTS5TextIndex:
    """The TextIndex backend over the store's ``memories_fts`` table."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    async def search(self, query: str, k: int, where: SearchFilter) -> list[tuple[int, float]]:
        words = terms(query)
        if k <= 0 or not words:
            return []
        owner = codec.owner_token(where.scope.user_id)
        # Ranking is the cost of a keyword search; counting matches is cheap. Count first, so
        # an OR of common words over a large user stays within a bounded ranking budget.
        counts = await self._store.match_counts(count_expressions(words, owner))
        plan = plan_keywords(words, counts)
        if not plan.words:
            return []
        sql, params = visibility_sql(where)
        return await self._store.text_search(
            or_expression(plan.words, owner), sql, params, k, window=plan.window
        )
