"""Every store operation as one synchronous function on a sqlite3 connection.

Each runs whole in one worker-thread hop (see :mod:`headroom.storage.sqlite.connection`);
the writes run inside the transaction the caller opened. No awaits here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

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
from headroom.storage.base import EmbedderRecord, Keys, StoredMemory, Vector
from headroom.storage.sqlite import codec
from headroom.storage.sqlite.sql import (
    CHAIN_IDS,
    COLUMNS,
    DELETE_FTS,
    HEAD_OF,
    INSERT_FTS,
    INSERT_MEMORY,
    chunks,
    filter_sql,
    marks,
)

__all__ = [
    "CatalogRow",
    "catalog_rows",
    "chain",
    "clear",
    "contents",
    "delete",
    "embedder_record",
    "embeddings",
    "get_by_ids",
    "get_by_keys",
    "get_meta",
    "insert",
    "keys",
    "query",
    "replace_embeddings",
    "set_meta",
    "stats",
    "supersede",
]

CatalogRow = tuple[int, str, str | None, str | None, str | None, str, bool]
"""key, user_id, session_id, agent_id, turn_id, category, is_current."""

META_MODEL = "embedder_model"
META_DIMENSION = "embedder_dimension"


def _stored(row: tuple[Any, ...]) -> StoredMemory:
    """A row of ``COLUMNS`` followed by the embedding."""
    return StoredMemory(row[0], codec.row_to_memory(row), codec.blob_to_vector(row[16]))


# -- meta ---------------------------------------------------------------------------------------


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


def embedder_record(conn: sqlite3.Connection) -> EmbedderRecord | None:
    model, dimension = get_meta(conn, META_MODEL), get_meta(conn, META_DIMENSION)
    if model is None or dimension is None:
        return None
    return EmbedderRecord(model, int(dimension))


def embedder_meta(record: EmbedderRecord) -> dict[str, str]:
    return {META_MODEL: record.model_name, META_DIMENSION: str(record.dimension)}


# -- writes (inside a transaction) --------------------------------------------------------------


def _insert_one(conn: sqlite3.Connection, item: StoredMemory) -> int:
    m = item.memory
    key = conn.execute(INSERT_MEMORY, codec.memory_params(m, item.embedding)).lastrowid
    assert key is not None  # an INSERT into a rowid table always sets it
    conn.execute(INSERT_FTS, (key, m.indexed_text, codec.owner_token(m.user_id)))
    return int(key)


def insert(conn: sqlite3.Connection, items: Sequence[StoredMemory]) -> list[int]:
    return [_insert_one(conn, item) for item in items]


def supersede(conn: sqlite3.Connection, old_id: str, new: StoredMemory) -> tuple[int, int]:
    """The new version's key and the old one's. A version only supersedes its own user's."""
    row = conn.execute(
        "SELECT key, superseded_by FROM memories WHERE id = ? AND user_id = ?",
        (old_id, new.memory.user_id),
    ).fetchone()
    if row is None:
        raise NotFoundError(old_id)
    old_key, superseded_by = row
    if superseded_by is not None:
        head = conn.execute(HEAD_OF, (old_id,)).fetchone()
        raise SupersededError(old_id, str(head[0]) if head else old_id)
    key = _insert_one(conn, new)
    conn.execute(
        "UPDATE memories SET superseded_by = ?, valid_to = ? WHERE key = ?",
        (new.memory.id, codec.to_micros(new.memory.valid_from), old_key),
    )
    return key, int(old_key)


def _chain_ids(conn: sqlite3.Connection, memory_id: str, user_id: str | None) -> list[str]:
    rows = conn.execute(CHAIN_IDS, (memory_id, user_id)).fetchall()
    if not rows:
        raise NotFoundError(memory_id)
    return [row[0] for row in rows]


def _delete_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> list[int]:
    removed: list[int] = []
    for chunk in chunks(ids):
        rows = conn.execute(
            f"SELECT key, content, source, user_id FROM memories WHERE id IN ({marks(len(chunk))})",
            chunk,
        ).fetchall()
        conn.executemany(
            DELETE_FTS,
            [
                (key, indexed_text(content, source), codec.owner_token(user))
                for key, content, source, user in rows
            ],
        )
        conn.execute(f"DELETE FROM memories WHERE id IN ({marks(len(chunk))})", chunk)
        removed.extend(int(row[0]) for row in rows)
    return removed


def delete(conn: sqlite3.Connection, ids: Sequence[str], user_id: str | None = None) -> list[int]:
    """Delete these memories and every version of their chains (of ``user_id``'s memories
    only, when given: another user's id is not found); the keys removed."""
    members: set[str] = set()
    for memory_id in ids:
        members.update(_chain_ids(conn, memory_id, user_id))
    return _delete_ids(conn, sorted(members))


def clear(conn: sqlite3.Connection, where: MemoryFilter) -> list[int]:
    sql, params = filter_sql(where, include_paging=False)
    rows = conn.execute(f"SELECT id FROM memories WHERE {sql}", params).fetchall()
    return _delete_ids(conn, [row[0] for row in rows])


def replace_embeddings(
    conn: sqlite3.Connection, embeddings: dict[int, Vector], record: EmbedderRecord
) -> None:
    present = [row[0] for row in conn.execute("SELECT key FROM memories")]
    absent = [key for key in present if key not in embeddings]
    if absent:
        raise StorageError(f"re-embedding is missing {len(absent)} memories")
    conn.executemany(
        "UPDATE memories SET embedding = ? WHERE key = ?",
        [(codec.vector_to_blob(embeddings[key]), key) for key in present],
    )
    set_meta(conn, embedder_meta(record))


# -- reads --------------------------------------------------------------------------------------


def _rows_in(
    conn: sqlite3.Connection, select: str, column: str, values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """The rows of ``select ... WHERE column IN values``, chunked under SQLite's limit."""
    rows: list[tuple[Any, ...]] = []
    for chunk in chunks(values):
        rows.extend(conn.execute(f"{select} WHERE {column} IN ({marks(len(chunk))})", chunk))
    return rows


def get_by_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, StoredMemory]:
    rows = _rows_in(conn, f"SELECT {COLUMNS}, embedding FROM memories", "id", ids)
    return {row[1]: _stored(row) for row in rows}


def get_by_keys(conn: sqlite3.Connection, keys: Sequence[int]) -> dict[int, StoredMemory]:
    rows = _rows_in(conn, f"SELECT {COLUMNS}, embedding FROM memories", "key", keys)
    return {row[0]: _stored(row) for row in rows}


def embeddings(conn: sqlite3.Connection, keys: Sequence[int]) -> dict[int, Vector]:
    rows = _rows_in(conn, "SELECT key, embedding FROM memories", "key", keys)
    return {int(row[0]): codec.blob_to_vector(row[1]) for row in rows}


def keys(conn: sqlite3.Connection) -> Keys:
    rows = conn.execute("SELECT key FROM memories ORDER BY key").fetchall()
    return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))


def contents(conn: sqlite3.Connection, after_key: int, limit: int) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT key, content, source FROM memories WHERE key > ? ORDER BY key LIMIT ?",
        (after_key, limit),
    ).fetchall()
    return [(int(row[0]), indexed_text(row[1], row[2])) for row in rows]


def catalog_rows(conn: sqlite3.Connection, keys: Sequence[int] | None = None) -> list[CatalogRow]:
    """The columns the scope catalog keeps: of every memory, or of these keys."""
    select = (
        "SELECT key, user_id, session_id, agent_id, turn_id, category, superseded_by IS NULL "
        "FROM memories"
    )
    rows = conn.execute(select).fetchall() if keys is None else _rows_in(conn, select, "key", keys)
    return [(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]


def query(conn: sqlite3.Connection, where: MemoryFilter) -> list[Memory]:
    sql, params = filter_sql(where, include_paging=True)
    rows = conn.execute(f"SELECT {COLUMNS} FROM memories WHERE {sql}", params).fetchall()
    return [codec.row_to_memory(row) for row in rows]


def stats(conn: sqlite3.Connection, where: MemoryFilter) -> MemoryStats:
    sql, params = filter_sql(where, include_paging=False)
    rows = conn.execute(
        "SELECT category, session_id, agent_id, turn_id, superseded_by IS NULL "
        f"FROM memories WHERE {sql}",
        params,
    ).fetchall()
    categories: dict[str, int] = {c.value: 0 for c in MemoryCategory}
    scopes: dict[str, int] = {level.value: 0 for level in ScopeLevel}
    current = 0
    for category, session_id, agent_id, turn_id, is_current in rows:
        if not is_current:
            continue
        current += 1
        categories[category] = categories.get(category, 0) + 1
        level = scope_level_of(session_id, agent_id, turn_id).value
        scopes[level] = scopes.get(level, 0) + 1
    return MemoryStats(
        total=len(rows),
        current=current,
        superseded=len(rows) - current,
        categories=categories,
        scopes=scopes,
    )


def chain(conn: sqlite3.Connection, memory_id: str) -> list[Memory]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM memories WHERE id IN ({CHAIN_IDS})", (memory_id, None)
    ).fetchall()
    if not rows:
        raise NotFoundError(memory_id)
    return order_chain([codec.row_to_memory(row) for row in rows])
