"""The database schema, as numbered migrations applied in order, and the vector index DDL.

``headroom_meta.schema_version`` records the last migration applied. A database with a newer
version than this code knows is refused (:class:`SchemaVersionError`), never modified.
Migrations run under a transaction-level advisory lock, so processes opening one new
database at once apply them once.

Layout (version 1), documented in docs/storage.md:

* ``headroom_memories``: one row per memory version. ``key`` (an identity, never reused) is
  what the searches return. ``embedding`` is a pgvector ``vector`` of any dimension; the
  HNSW index is a partial expression index on ``embedding::vector(d)`` for the recorded
  dimension ``d``, and the CHECK ``headroom_memories_dimension`` refuses a vector of another
  dimension, so re-embedding to another dimension swaps the index and the check, not the
  column type. ``keywords`` is a generated
  ``tsvector``: the English text search form of ``content`` plus one lexeme standing for the
  user (``#`` and the MD5 of ``user_id``; no parsed word contains ``#``), so a keyword search
  finds one user's rows inside the GIN index. ``supersedes`` and ``superseded_by`` are
  UNIQUE: a version has at most one successor, so a chain has one head.
* ``headroom_meta``: schema version, embedder model and dimension.
* Row-level security is enabled with the ``headroom_user`` policy: an operation scoped to a
  user sets ``headroom.user_id`` for its transaction, and a role that does not own the table
  then sees and writes only that user's rows (owners bypass it; see docs/scaling-out.md).

Version 2 adds ``source``: the conversation text a memory was drawn from or said in (NULL
when none was given), immutable like the content. ``keywords`` is then the text search form
of the content, a newline and the source (``Memory.indexed_text``), as the embedding is; the
migration rebuilds the column and its GIN index (a rewrite of the table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from headroom.errors import SchemaVersionError
from headroom.storage.postgres.sql import MEMORIES, META

if TYPE_CHECKING:
    from headroom.storage.postgres.connection import Connection

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "VECTOR_INDEX",
    "create_vector_index",
    "current_schema",
    "set_dimension",
    "get_meta",
    "migrate",
    "set_meta",
]


MIGRATIONS: Sequence[str] = (
    # 1: the initial schema
    f"""
    CREATE TABLE IF NOT EXISTS {META} (
        key text PRIMARY KEY,
        value text NOT NULL
    );

    CREATE TABLE {MEMORIES} (
        key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL UNIQUE,
        content text NOT NULL,
        category text NOT NULL,
        importance double precision NOT NULL,
        user_id text NOT NULL,
        session_id text,
        agent_id text,
        turn_id text,
        created_at timestamptz NOT NULL,
        valid_from timestamptz NOT NULL,
        valid_to timestamptz,
        supersedes text UNIQUE,
        superseded_by text UNIQUE,
        metadata json NOT NULL DEFAULT '{{}}',
        embedding vector NOT NULL,
        keywords tsvector NOT NULL GENERATED ALWAYS AS (
            to_tsvector('english'::regconfig, content)
            || array_to_tsvector(ARRAY['#' || md5(user_id)])
        ) STORED
    );
    CREATE INDEX {MEMORIES}_scope ON {MEMORIES} (user_id, session_id, agent_id, turn_id)
        INCLUDE (superseded_by, category);
    -- A short pending list: inserts stay cheap, and a search scans at most 256 kB of
    -- recent entries not yet merged into the index.
    CREATE INDEX {MEMORIES}_keywords ON {MEMORIES} USING gin (keywords)
        WITH (gin_pending_list_limit = 256);

    -- Content is immutable: a change is a new version.
    CREATE FUNCTION {MEMORIES}_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'memory content and owner are immutable'
            USING ERRCODE = 'integrity_constraint_violation';
    END $$;
    CREATE TRIGGER {MEMORIES}_immutable BEFORE UPDATE OF content, user_id ON {MEMORIES}
        FOR EACH ROW EXECUTE FUNCTION {MEMORIES}_immutable();

    ALTER TABLE {MEMORIES} ENABLE ROW LEVEL SECURITY;
    CREATE POLICY headroom_user ON {MEMORIES}
        USING (coalesce(current_setting('headroom.user_id', true), '') IN ('', user_id))
        WITH CHECK (coalesce(current_setting('headroom.user_id', true), '') IN ('', user_id));
    """,
    # 2: the text a memory came from, searched with it
    f"""
    ALTER TABLE {MEMORIES} ADD COLUMN source text;
    ALTER TABLE {MEMORIES} DROP COLUMN keywords;
    ALTER TABLE {MEMORIES} ADD COLUMN keywords tsvector NOT NULL GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, content || coalesce(E'\\n' || source, ''))
        || array_to_tsvector(ARRAY['#' || md5(user_id)])
    ) STORED;
    CREATE INDEX {MEMORIES}_keywords ON {MEMORIES} USING gin (keywords)
        WITH (gin_pending_list_limit = 256);

    CREATE OR REPLACE FUNCTION {MEMORIES}_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'memory content, source and owner are immutable'
            USING ERRCODE = 'integrity_constraint_violation';
    END $$;
    DROP TRIGGER {MEMORIES}_immutable ON {MEMORIES};
    CREATE TRIGGER {MEMORIES}_immutable BEFORE UPDATE OF content, source, user_id
        ON {MEMORIES} FOR EACH ROW EXECUTE FUNCTION {MEMORIES}_immutable();
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

VECTOR_INDEX = f"{MEMORIES}_embedding"
DIMENSION_CHECK = f"{MEMORIES}_dimension"


def create_vector_index(
    dimension: int,
    m: int,
    ef_construction: int,
    *,
    name: str = VECTOR_INDEX,
    concurrently: bool = False,
) -> str:
    """The DDL of the HNSW index (cosine) over ``embedding::vector(dimension)``.

    Partial, over the rows of that dimension: a re-embedding's transaction builds it while
    the old versions of the rows (kept until it commits, and indexed by any build) still
    hold the old dimension. Only integers are spliced: DDL takes no parameters.
    """
    how = "CONCURRENTLY " if concurrently else ""
    d = int(dimension)
    return (
        f"CREATE INDEX {how}{name} ON {MEMORIES} USING hnsw "
        f"((embedding::vector({d})) vector_cosine_ops) "
        f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)}) "
        f"WHERE vector_dims(embedding) = {d}"
    )


def set_dimension(dimension: int) -> str:
    """The DDL of the dimension guard: every stored vector has the recorded dimension."""
    return (
        f"ALTER TABLE {MEMORIES} DROP CONSTRAINT IF EXISTS {DIMENSION_CHECK}, "
        f"ADD CONSTRAINT {DIMENSION_CHECK} CHECK (vector_dims(embedding) = {int(dimension)})"
    )


async def _schema_version(conn: Connection, location: str) -> int:
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", META)
    version = 0
    if exists:
        value = await conn.fetchval(f"SELECT value FROM {META} WHERE key = 'schema_version'")
        version = int(value) if value is not None else 0
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{location} has schema version {version}; this headroom knows up to "
            f"{SCHEMA_VERSION}. Upgrade headroom to open it."
        )
    return version


async def current_schema(conn: Connection, location: str) -> bool:
    """Whether the database is at this code's schema version (a newer one is refused)."""
    return await _schema_version(conn, location) == SCHEMA_VERSION


async def migrate(conn: Connection, location: str) -> None:
    """Apply the migrations ``conn``'s database lacks (the caller holds the migration lock)."""
    version = await _schema_version(conn, location)
    for number in range(version + 1, SCHEMA_VERSION + 1):
        await conn.execute(MIGRATIONS[number - 1])
        await set_meta(conn, {"schema_version": str(number)})


async def set_meta(conn: Connection, values: dict[str, str]) -> None:
    await conn.executemany(
        f"INSERT INTO {META} (key, value) VALUES ($1, $2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


async def get_meta(conn: Connection, key: str) -> str | None:
    value = await conn.fetchval(f"SELECT value FROM {META} WHERE key = $1", key)
    return None if value is None else str(value)
