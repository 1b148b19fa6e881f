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

Version 2 adds what lets many processes share one file:

* ``changes``: a log of every change to ``memories`` (the key, and whether the row was added,
  superseded or removed), written by triggers in the same transaction as the change. Each
  process's vector index and scope catalog follow it before a search; it keeps the newest
  entries only (a process further behind reconciles by key difference, as on open).
* ``meta.database_id``: an id made when the database is created (renewed when the file turns
  out to have been copied or moved, see ``meta.home``), and ``meta.generation``, counted up
  by each re-embedding. A vector index file records both and is only used by a database
  with the same ones.

Version 3 adds ``memories.source``: the conversation text a memory was drawn from or said in
(NULL when none was given), immutable like the content. The FTS5 row and the embedding of a
memory are of its content followed by a newline and its source (``Memory.indexed_text``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = [
    "CHANGE_ADDED",
    "CHANGE_REMOVED",
    "CHANGE_SUPERSEDED",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "read_as_current",
    "statements",
]

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
    # 2: the change log and the database's identity
    """
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key INTEGER NOT NULL,
        kind INTEGER NOT NULL  -- 1 added, 2 superseded, 3 removed
    );

    CREATE TRIGGER memories_log_added AFTER INSERT ON memories
    BEGIN
        INSERT INTO changes (key, kind) VALUES (new.key, 1);
    END;

    CREATE TRIGGER memories_log_superseded AFTER UPDATE OF superseded_by ON memories
    BEGIN
        INSERT INTO changes (key, kind) VALUES (new.key, 2);
    END;

    CREATE TRIGGER memories_log_removed AFTER DELETE ON memories
    BEGIN
        INSERT INTO changes (key, kind) VALUES (old.key, 3);
    END;

    INSERT INTO meta (key, value) VALUES ('database_id', lower(hex(randomblob(16))))
        ON CONFLICT (key) DO NOTHING;
    INSERT INTO meta (key, value) VALUES ('generation', '1') ON CONFLICT (key) DO NOTHING;
    """,
    # 3: the text a memory came from, searched with it
    """
    ALTER TABLE memories ADD COLUMN source TEXT;

    DROP TRIGGER memories_immutable;
    CREATE TRIGGER memories_immutable BEFORE UPDATE OF content, source, user_id ON memories
    BEGIN
        SELECT RAISE(ABORT, 'memory content, source and owner are immutable');
    END;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

CHANGE_ADDED, CHANGE_SUPERSEDED, CHANGE_REMOVED = 1, 2, 3
"""The ``changes.kind`` values."""


def read_as_current(version: int) -> list[str]:
    """What lets a read-only connection read a database of an older ``version`` as the current
    schema: temporary views (an unqualified name finds the ``temp`` schema first), so nothing
    is written to the file. A memory of a database from before ``source`` has none."""
    if version >= 3:
        return []
    return ["CREATE TEMP VIEW memories AS SELECT *, NULL AS source FROM main.memories"]


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
