"""Every store operation as one async function on a connection, inside the caller's
transaction (:meth:`headroom.storage.postgres.connection.Database.transaction`).

Writes that touch existing chains (supersede, delete, clear) first take a transaction-level
advisory lock per user, so they serialise per user across every process: a delete can never
miss a version a concurrent supersede is adding, nor a clear a version it is superseding.
"""

from __future__ import annotations

from collections.abc import Sequence

from headroom.domain import (
    Memory,
    MemoryCategory,
    MemoryFilter,
    MemoryStats,
    indexed_text,
    order_chain,
)
from headroom.errors import NotFoundError, StorageError, SupersededError
from headroom.scoping import ScopeLevel, scope_level_of
from headroom.storage.base import EmbedderRecord, StoredMemory, Vector
from headroom.storage.postgres import codec
from headroom.storage.postgres.connection import Connection
from headroom.storage.postgres.migrations import get_meta, set_meta
from headroom.storage.postgres.sql import (
    CHAIN_KEYS,
    COLUMNS,
    HEAD_OF,
    INSERT_MEMORIES,
    MEMORIES,
    Params,
    filter_sql,
)

__all__ = [
    "chain",
    "clear",
    "contents",
    "count",
    "delete",
    "embedder_meta",
    "embedder_record",
    "get_by_ids",
    "get_by_keys",
    "insert",
    "lock_users",
    "query",
    "replace_embeddings",
    "stats",
    "supersede",
]


META_MODEL = "embedder_model"
META_DIMENSION = "embedder_dimension"
USER_LOCK = 0x68726D  # the advisory lock class of per-user chain writes


# -- meta ---------------------------------------------------------------------------------------


async def embedder_record(conn: Connection) -> EmbedderRecord | None:
    model, dimension = await get_meta(conn, META_MODEL), await get_meta(conn, META_DIMENSION)
    if model is None or dimension is None:
        return None
    return EmbedderRecord(model, int(dimension))


def embedder_meta(record: EmbedderRecord) -> dict[str, str]:
    return {META_MODEL: record.model_name, META_DIMENSION: str(record.dimension)}


# -- writes (inside a transaction) --------------------------------------------------------------


async def lock_users(conn: Connection, users: Sequence[str]) -> None:
    """Serialise chain writes per user, across processes, until the transaction ends."""
    for user in sorted(set(users)):  # one order everywhere: no deadlock between two users
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", USER_LOCK, user)


async def insert(conn: Connection, items: Sequence[StoredMemory]) -> list[int]:
    rows = await conn.fetch(INSERT_MEMORIES, *codec.insert_columns(list(items)))
    keys = {row["id"]: int(row["key"]) for row in rows}
    return [keys[item.memory.id] for item in items]


async def supersede(conn: Connection, old_id: str, new: StoredMemory) -> int:
    """Insert ``new`` after ``old_id``, which must be the head of its chain; the new key."""
    await lock_users(conn, [new.memory.user_id])
    row = await conn.fetchrow(
        f"SELECT key, user_id, superseded_by FROM {MEMORIES} WHERE id = $1 FOR UPDATE", old_id
    )
    if row is None or row["user_id"] != new.memory.user_id:
        raise NotFoundError(old_id)
    if row["superseded_by"] is not None:
        head = await conn.fetchval(HEAD_OF, old_id)
        raise SupersededError(old_id, str(head or old_id))
    (key,) = await insert(conn, [new])
    await conn.execute(
        f"UPDATE {MEMORIES} SET superseded_by = $1, valid_to = $2 WHERE key = $3",
        new.memory.id,
        new.memory.valid_from,
        row["key"],
    )
    return key


async def _delete_keys(conn: Connection, keys: Sequence[int], user: str | None) -> list[int]:
    if user is None:
        rows = await conn.fetch(
            f"DELETE FROM {MEMORIES} WHERE key = ANY($1::bigint[]) RETURNING key", list(keys)
        )
    else:  # the tenant condition: nothing of another user, whatever the keys
        rows = await conn.fetch(
            f"DELETE FROM {MEMORIES} WHERE key = ANY($1::bigint[]) AND user_id = $2 RETURNING key",
            list(keys),
            user,
        )
    return sorted(int(row["key"]) for row in rows)


async def delete(conn: Connection, ids: Sequence[str], user_id: str | None = None) -> list[int]:
    """Delete these memories and every version of their chains (of ``user_id``'s memories
    only, when given: another user's id is not found); the keys removed."""
    owners = await _owners(conn, ids)
    await lock_users(conn, sorted(set(owners.values())))
    owners = await _owners(conn, ids)  # again under the lock: a delete may have won meanwhile
    for memory_id in ids:
        if memory_id not in owners or user_id not in (None, owners[memory_id]):
            raise NotFoundError(memory_id)
    removed: set[int] = set()
    for memory_id in ids:
        # Walked under the lock: no version can be added to the chain meanwhile. Empty when an
        # earlier id of this call shared the chain.
        keys = [int(row["key"]) for row in await conn.fetch(CHAIN_KEYS, memory_id)]
        removed.update(await _delete_keys(conn, keys, owners[memory_id]))
    return sorted(removed)


async def _owners(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        f"SELECT id, user_id FROM {MEMORIES} WHERE id = ANY($1::text[])", list(ids)
    )
    return {row["id"]: row["user_id"] for row in rows}


async def clear(conn: Connection, where: MemoryFilter) -> list[int]:
    if where.user_id is not None:
        await lock_users(conn, [where.user_id])
    else:
        await conn.execute(f"LOCK TABLE {MEMORIES} IN SHARE ROW EXCLUSIVE MODE")
    params = Params()
    sql = filter_sql(where, params, include_paging=False)
    rows = await conn.fetch(f"DELETE FROM {MEMORIES} WHERE {sql} RETURNING key", *params.values)
    return sorted(int(row["key"]) for row in rows)


async def replace_embeddings(
    conn: Connection, embeddings: dict[int, Vector], record: EmbedderRecord
) -> None:
    """Every embedding replaced; the caller has dropped the vector index first."""
    present = [int(row["key"]) for row in await conn.fetch(f"SELECT key FROM {MEMORIES}")]
    absent = [key for key in present if key not in embeddings]
    if absent:
        raise StorageError(f"re-embedding is missing {len(absent)} memories")
    await conn.execute(
        f"UPDATE {MEMORIES} AS m SET embedding = u.embedding "
        "FROM unnest($1::bigint[], $2::vector[]) AS u(key, embedding) WHERE m.key = u.key",
        present,
        [codec.encode_vector(embeddings[key]) for key in present],
    )
    await set_meta(conn, embedder_meta(record))


# -- reads --------------------------------------------------------------------------------------


async def get_by_ids(conn: Connection, ids: Sequence[str]) -> dict[str, StoredMemory]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS}, embedding FROM {MEMORIES} WHERE id = ANY($1::text[])", list(ids)
    )
    return {row["id"]: codec.record_to_stored(row) for row in rows}


async def get_by_keys(conn: Connection, keys: Sequence[int]) -> dict[int, StoredMemory]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS}, embedding FROM {MEMORIES} WHERE key = ANY($1::bigint[])", list(keys)
    )
    return {int(row["key"]): codec.record_to_stored(row) for row in rows}


async def contents(conn: Connection, after_key: int, limit: int) -> list[tuple[int, str]]:
    rows = await conn.fetch(
        f"SELECT key, content, source FROM {MEMORIES} WHERE key > $1 ORDER BY key LIMIT $2",
        after_key,
        limit,
    )
    return [(int(row["key"]), indexed_text(row["content"], row["source"])) for row in rows]


async def count(conn: Connection) -> int:
    return int(await conn.fetchval(f"SELECT count(*) FROM {MEMORIES}"))


async def query(conn: Connection, where: MemoryFilter) -> list[Memory]:
    params = Params()
    sql = filter_sql(where, params, include_paging=True)
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM {MEMORIES} WHERE {sql}", *params.values)
    return [codec.record_to_memory(row) for row in rows]


async def stats(conn: Connection, where: MemoryFilter) -> MemoryStats:
    params = Params()
    sql = filter_sql(where, params, include_paging=False)
    rows = await conn.fetch(
        "SELECT category, session_id IS NOT NULL AS s, agent_id IS NOT NULL AS a, "
        "turn_id IS NOT NULL AS t, superseded_by IS NULL AS current, count(*) AS n "
        f"FROM {MEMORIES} WHERE {sql} GROUP BY 1, 2, 3, 4, 5",
        *params.values,
    )
    categories: dict[str, int] = {c.value: 0 for c in MemoryCategory}
    scopes: dict[str, int] = {level.value: 0 for level in ScopeLevel}
    total = current = 0
    for row in rows:
        n = int(row["n"])
        total += n
        if not row["current"]:
            continue
        current += n
        categories[row["category"]] = categories.get(row["category"], 0) + n
        level = scope_level_of(
            "s" if row["s"] else None, "a" if row["a"] else None, "t" if row["t"] else None
        ).value
        scopes[level] = scopes.get(level, 0) + n
    return MemoryStats(
        total=total,
        current=current,
        superseded=total - current,
        categories=categories,
        scopes=scopes,
    )


async def chain(conn: Connection, memory_id: str) -> list[Memory]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM {MEMORIES} WHERE key IN ({CHAIN_KEYS})", memory_id
    )
    if not rows:
        raise NotFoundError(memory_id)
    return order_chain([codec.record_to_memory(row) for row in rows])
