"""The database schema, as numbered migrations applied in order.

``meta.schema_version`` records the last one applied. A database with a newer version than this
code knows is refused (:class:`SchemaVersionError`), never modified.

Layout (version 1), documented in docs/storage.md:

* ``memories``: one row per memory version. ``key`` is the integer used by the vector and text
  indexes (AUTOINCREMENT: never reused, so an index entry can never point at a different
  memory). Times are integer microseconds since the Unix epoch, UTC. ``embedding`` is the
  vector as little-endian float32, ``meta.embedder_dimension`` values long.
* ``memories_fts``: a contentless FTS5 table over ``content``, plus ``owner``, a token derived
  from the user id, so a keyword search can be restricted to one user inside the index.
  Written in the same transaction as the row it indexes.
* ``meta``: schema version, embedder model and dimension, vector index file name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "statements"]

MIGRATIONS: Sequence[str] = (
    # 1: the initial schema
    """
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE memories (
        key INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        content TEXT NOT NULL,
        category TEXT NOT NULL,
        importance REAL NOT NULL,
        user_id TEXT NOT NULL,
        session_id TEXT,
        agent_id TEXT,
        turn_id TEXT,
        created_at INTEGER NOT NULL,
        valid_from INTEGER NOT NULL,
        valid_to INTEGER,
        supersedes TEXT,
        superseded_by TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        embedding BLOB NOT NULL
    );
    CREATE INDEX memories_scope ON memories (user_id, session_id, agent_id, turn_id);
    CREATE INDEX memories_supersedes ON memories (supersedes);
    CREATE INDEX memories_superseded_by ON memories (superseded_by);

    -- Content is immutable: a change is a new version. The FTS rows rely on it.
    CREATE TRIGGER memories_immutable BEFORE UPDATE OF content, user_id ON memories
    BEGIN
        SELECT RAISE(ABORT, 'memory content and owner are immutable');
    END;

    CREATE VIRTUAL TABLE memories_fts USING fts5 (
        content, owner, content='', tokenize='porter unicode61 remove_diacritics 2'
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    out: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        candidate = "\n".join(current)
        if stripped.endswith(";") and sqlite3.complete_statement(candidate):
            out.append(candidate)
            current = []
    if current:
        out.append("\n".join(current))
    return out
