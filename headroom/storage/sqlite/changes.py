"""Reading the change log: what the vector index needs to follow other connections' commits.

Synchronous functions on the reader connection, each one read transaction, so what they
return is one consistent moment of the database. See :mod:`.migrations` for the log itself.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from headroom.storage.base import EmbedderRecord, Keys, Vector
from headroom.storage.sqlite import operations as ops
from headroom.storage.sqlite.identity import Identity, read_identity
from headroom.storage.sqlite.migrations import CHANGE_ADDED

__all__ = [
    "CATCH_UP_LIMIT",
    "RETAIN",
    "Delta",
    "Snapshot",
    "delta",
    "last_seq",
    "prune",
    "snapshot",
]

RETAIN = 20_000
"""Entries of the log kept; a process further behind reconciles by key difference instead."""

CATCH_UP_LIMIT = RETAIN
"""Beyond this many entries, a full reconciliation is cheaper than reading the log."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every key and catalog row at one moment, and the log's position then."""

    seq: int
    identity: Identity | None
    embedder: EmbedderRecord | None
    keys: Keys
    catalog: list[ops.CatalogRow]


@dataclass(frozen=True, slots=True)
class Delta:
    """What changed after a position of the log: the present state of every key touched."""

    seq: int
    identity: Identity | None
    embedder: EmbedderRecord | None
    rows: list[ops.CatalogRow]
    """Catalog rows of the touched keys that exist now."""
    vectors: dict[int, Vector]
    """Embeddings of the keys added since (and still there)."""
    gone: list[int]
    """Touched keys that no longer exist."""


def _has_log(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes'"
    ).fetchone()
    return row is not None


def last_seq(conn: sqlite3.Connection) -> int:
    """The position of the newest entry ever logged (0 before the first; kept when pruned)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return 0 if row is None else int(row[0])


def snapshot(conn: sqlite3.Connection, *, home: str) -> Snapshot:
    conn.execute("BEGIN")
    try:
        seq = last_seq(conn) if _has_log(conn) else 0
        keys = ops.keys(conn)
        catalog = ops.catalog_rows(conn)
        identity = read_identity(conn, home)
        return Snapshot(seq, identity, ops.embedder_record(conn), keys, catalog)
    finally:
        conn.execute("COMMIT")


def delta(
    conn: sqlite3.Connection, after: int, *, home: str, limit: int = CATCH_UP_LIMIT
) -> Delta | None:
    """What changed after position ``after``; None when the log cannot tell (pruned past it,
    too long, or a database without a log): then reconcile from a :func:`snapshot`."""
    conn.execute("BEGIN")
    try:
        if not _has_log(conn):
            return None
        seq = last_seq(conn)
        identity, embedder = read_identity(conn, home), ops.embedder_record(conn)
        if seq == after:
            return Delta(seq, identity, embedder, [], {}, [])
        if seq < after or seq - after > limit:
            return None
        oldest = conn.execute("SELECT min(seq) FROM changes").fetchone()[0]
        if oldest is None or oldest > after + 1:
            return None  # entries after ``after`` were pruned
        entries = conn.execute(
            "SELECT key, kind FROM changes WHERE seq > ? AND seq <= ?", (after, seq)
        ).fetchall()
        touched = sorted({int(key) for key, _ in entries})
        added = sorted({int(key) for key, kind in entries if kind == CHANGE_ADDED})
        rows = ops.catalog_rows(conn, touched)
        present = {row[0] for row in rows}
        vectors = ops.embeddings(conn, [key for key in added if key in present])
        gone = [key for key in touched if key not in present]
        return Delta(seq, identity, embedder, rows, vectors, gone)
    finally:
        conn.execute("COMMIT")


def prune(conn: sqlite3.Connection, seq: int) -> None:
    """Inside a write transaction: forget all but the newest :data:`RETAIN` entries."""
    conn.execute("DELETE FROM changes WHERE seq <= ?", (seq - RETAIN,))
