"""PostgresTextIndex: keyword search over the generated ``keywords`` tsvector (GIN).

User text never reaches PostgreSQL as query syntax: the words (:func:`terms`) are passed as
an array, each becomes ``plainto_tsquery('english', word)`` (plain text, no operators), and
the OR of them is assembled from those queries' own canonical text. The search is restricted
to the asking user inside the GIN index (the user lexeme, see migrations.py) and the full
visibility rule is applied on every row. Like the SQLite half, the words are counted (up to
the ranking budget) before they are ranked, so the work stays bounded
(:func:`plan_keywords`): ``ts_rank`` reads each candidate row from the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from headroom.domain import SearchFilter
from headroom.domain.words import terms
from headroom.storage.base import Ranked
from headroom.storage.keywords import plan_keywords
from headroom.storage.postgres.connection import Connection, Database
from headroom.storage.postgres.sql import MEMORIES, Params, visibility_sql

__all__ = ["RANK_BUDGET", "PostgresTextIndex"]

RANK_BUDGET = 500
"""At most about this many rows are read per keyword search, to count a word or to rank.

Smaller than the SQLite half's: FTS5 counts and ranks inside its index, while PostgreSQL
reads each matching row from the table (the GIN index holds no positions to rank with, and a
count must check each row's visibility). A word that matches more of the user's rows than
this is common: it is dropped when rarer words are left, and when none is, only this many of
its matches are ranked, in storage order."""


_OWNER = "(SELECT quote_literal('#' || md5({user}))::tsquery)"
"""The user's lexeme as a query (the same expression the generated column indexes)."""

_WORDS = (
    "(SELECT string_agg('(' || q::text || ')', ' | ')::tsquery FROM ("
    "SELECT plainto_tsquery('english', w) AS q FROM unnest({words}::text[]) AS w"
    ") AS s WHERE numnode(q) > 0)"
)
"""The OR of the words, each parsed as plain text; NULL when none is left (stop words)."""

_COUNT = (
    "SELECT CASE WHEN numnode(w.q) = 0 THEN 0 ELSE (SELECT count(*) FROM ("
    f"SELECT 1 FROM {MEMORIES} m WHERE m.keywords @@ ({_OWNER} && w.q) LIMIT {{cap}}"
    ") AS c) END AS n FROM ("
    "SELECT i, plainto_tsquery('english', word) AS q "
    "FROM unnest({words}::text[]) WITH ORDINALITY AS t(word, i)) AS w ORDER BY w.i"
)
"""How many of the user's rows each word matches, counted up to ``cap``."""


_MATCHED_COLUMNS = (
    "m.key, m.keywords, m.user_id, m.session_id, m.agent_id, m.turn_id, m.superseded_by, m.category"
)
"""What the visibility rule and the ranking read of a matching row."""


class PostgresTextIndex:
    """The TextIndex of the PostgreSQL backend; see the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def search(self, query: str, k: int, where: SearchFilter) -> Ranked:
        words = terms(query)
        if k <= 0 or not words:
            return []
        return await self._db.transaction(
            "searching keywords",
            partial(_search, words=words, k=k, where=where),
            user=where.scope.user_id,
        )


async def _search(conn: Connection, *, words: list[str], k: int, where: SearchFilter) -> Ranked:
    counts = await conn.fetch(
        _COUNT.format(user="$1", words="$2", cap=RANK_BUDGET + 1), where.scope.user_id, words
    )
    plan = plan_keywords(words, [int(row["n"]) for row in counts], budget=RANK_BUDGET)
    if not plan.words:
        return []
    return await _rank(conn, plan.words, plan.window, k, where)


async def _rank(
    conn: Connection, words: Sequence[str], window: int | None, k: int, where: SearchFilter
) -> Ranked:
    params = Params(where.scope.user_id, list(words))
    matches = f"m.keywords @@ ({_OWNER.format(user='$1')} && {_WORDS.format(words='$2')})"
    visibility = visibility_sql(where, params)
    rank = f"ts_rank(c.keywords, {_WORDS.format(words='$2')}, 1)"
    # The matches come from the GIN index alone (the CTE has no other condition, so no plan
    # walks the user's rows instead, even on a table without statistics); the visibility
    # rule filters them as they are read, and a window stops reading early.
    limit = "" if window is None else f" LIMIT {int(window)}"
    rows = await conn.fetch(
        f"WITH matched AS MATERIALIZED (SELECT {_MATCHED_COLUMNS} FROM {MEMORIES} m "
        f"WHERE {matches}) "
        f"SELECT c.key, {rank} AS score FROM ("
        f"SELECT m.key, m.keywords FROM matched m WHERE {visibility}{limit}) AS c "
        f"ORDER BY score DESC, c.key LIMIT {int(k)}",
        *params.values,
    )
    return [(int(row["key"]), float(row["score"])) for row in rows]
