"""PostgresVectorIndex: nearest neighbours in SQL, exact about the filter.

Each search first counts, up to a cap, the memories its filter allows. A small allowed set
(at most ``exact_threshold``) is searched exactly: its vectors are gathered by the scope
index and every distance computed, so a user with five memories among millions gets the best
of those five. A larger one goes through the HNSW index with pgvector's iterative scans
(0.8+), which keep walking the graph until enough rows pass the filter; if the walk still
ends short (its tuple budget spent), the search falls back to the exact one, so a selective
filter never starves.

The HNSW index is a partial expression index on ``embedding::vector(d)`` (see
migrations.py); a query must name that same expression and predicate for the planner to use
it.
"""

from __future__ import annotations

from functools import partial

from headroom.domain import SearchFilter
from headroom.storage.base import Ranked, Vector
from headroom.storage.postgres import codec
from headroom.storage.postgres.connection import Connection, Database, PostgresSettings
from headroom.storage.postgres.migrations import VECTOR_INDEX, create_vector_index
from headroom.storage.postgres.operations import count
from headroom.storage.postgres.sql import MEMORIES, Params, visibility_sql

__all__ = ["PostgresVectorIndex"]


MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
REBUILD_LOCK = 0x68726D7278  # one index rebuild at a time per database
_REBUILT = f"{VECTOR_INDEX}_rebuilt"


class PostgresVectorIndex:
    """The VectorIndex of the PostgreSQL backend; see the module docstring."""

    def __init__(self, db: Database, dimension: int, settings: PostgresSettings) -> None:
        self._db = db
        self._settings = settings
        self.dimension = dimension
        """The dimension of the stored vectors (the store updates it on a re-embed)."""

    async def search(self, query: Vector, k: int, where: SearchFilter) -> Ranked:
        if k <= 0:
            return []
        ef = max(self._settings.hnsw_ef_search, k)
        # The plan must not depend on statistics (a table just filled has none): scanning the
        # table or sorting it is never what either path wants.
        local = {
            "hnsw.ef_search": str(min(MAX_EF_SEARCH, ef)),
            "enable_seqscan": "off",
            "enable_sort": "off",
        }
        if self._db.iterative_scans:
            local["hnsw.iterative_scan"] = "relaxed_order"
        else:  # pgvector 0.7: one bounded walk, widened; the exact fallback covers the rest
            local["hnsw.ef_search"] = str(min(MAX_EF_SEARCH, 4 * ef))
        return await self._db.transaction(
            "searching vectors",
            partial(self._search, query=codec.encode_vector(query), k=k, where=where),
            user=where.scope.user_id,
            local=local,
        )

    async def _search(
        self, conn: Connection, *, query: bytes, k: int, where: SearchFilter
    ) -> Ranked:
        counting = Params()
        cap = self._settings.exact_threshold + 1
        allowed = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM {MEMORIES} m "
            f"WHERE {visibility_sql(where, counting)} LIMIT {cap}) AS a",
            *counting.values,
        )
        if allowed == 0:
            return []
        if allowed < cap:
            return await _exact(conn, query, k, where)
        found = await self._through_index(conn, query, k, where)
        if len(found) < k:  # the walk's budget ran out before k rows passed the filter
            return await _exact(conn, query, k, where)
        return found

    async def _through_index(
        self, conn: Connection, query: bytes, k: int, where: SearchFilter
    ) -> Ranked:
        params = Params(query)
        d = int(self.dimension)
        distance = f"m.embedding::vector({d}) <=> $1::vector({d})"
        rows = await conn.fetch(
            f"WITH c AS MATERIALIZED (SELECT m.key, {distance} AS distance FROM {MEMORIES} m "
            f"WHERE {visibility_sql(where, params)} AND vector_dims(m.embedding) = {d} "
            f"ORDER BY {distance} LIMIT {int(k)}) "
            "SELECT key, distance FROM c ORDER BY distance, key",
            *params.values,
        )
        return [(int(row["key"]), 1.0 - float(row["distance"])) for row in rows]

    async def rebuild(self) -> int:
        """A fresh HNSW index built beside the live one, which serves until it is swapped."""
        return await self._db.read("rebuilding the vector index", self._rebuild)

    async def _rebuild(self, conn: Connection) -> int:
        await conn.execute("SELECT pg_advisory_lock($1)", REBUILD_LOCK)
        try:
            await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_REBUILT}")
            s = self._settings
            await conn.execute(
                create_vector_index(
                    self.dimension,
                    s.hnsw_m,
                    s.hnsw_ef_construction,
                    name=_REBUILT,
                    concurrently=True,
                )
            )
            async with conn.transaction():
                await conn.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")
                await conn.execute(f"ALTER INDEX {_REBUILT} RENAME TO {VECTOR_INDEX}")
            return await count(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", REBUILD_LOCK)


async def _exact(conn: Connection, query: bytes, k: int, where: SearchFilter) -> Ranked:
    """Every allowed vector compared: gathered through the scope index (the subquery keeps the
    planner from ordering by the HNSW index)."""
    params = Params(query)
    rows = await conn.fetch(
        "SELECT key, embedding <=> $1 AS distance FROM ("
        f"SELECT m.key, m.embedding FROM {MEMORIES} m WHERE {visibility_sql(where, params)} "
        f"OFFSET 0) AS allowed ORDER BY distance, key LIMIT {int(k)}",
        *params.values,
    )
    return [(int(row["key"]), 1.0 - float(row["distance"])) for row in rows]
