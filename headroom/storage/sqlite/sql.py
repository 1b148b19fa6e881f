"""SQL written once: the columns, the chain walk, filters and the visibility rule. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from headroom.domain import MemoryFilter, Scope, SearchFilter
from headroom.storage.sqlite import codec

__all__ = [
    "CHAIN_IDS",
    "COLUMNS",
    "DELETE_FTS",
    "HEAD_OF",
    "INSERT_FTS",
    "INSERT_MEMORY",
    "IN_BATCH",
    "chunks",
    "filter_sql",
    "marks",
    "reach_sql",
    "visibility_sql",
]

T = TypeVar("T")

COLUMNS = (
    "key, id, content, category, importance, user_id, session_id, agent_id, turn_id, "
    "created_at, valid_from, valid_to, supersedes, superseded_by, metadata, source"
)
"""The columns a Memory is read from, in the order :func:`codec.row_to_memory` expects."""

INSERT_MEMORY = (
    "INSERT INTO memories (id, content, category, importance, user_id, session_id, agent_id, "
    "turn_id, created_at, valid_from, valid_to, supersedes, superseded_by, metadata, source, "
    "embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

INSERT_FTS = "INSERT INTO memories_fts (rowid, content, owner) VALUES (?, ?, ?)"
"""The FTS5 ``content`` column holds a memory's ``indexed_text`` (its content, then its source)."""

DELETE_FTS = (
    "INSERT INTO memories_fts (memories_fts, rowid, content, owner) VALUES ('delete', ?, ?, ?)"
)
"""A contentless FTS5 table forgets a row only when told the exact values it indexed."""

IN_BATCH = 500
"""Values per ``IN (...)`` list: well under SQLite's variable limit."""

CHAIN_IDS = """
WITH RECURSIVE
  back(id, prev, owner) AS (
    SELECT id, supersedes, user_id FROM memories WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)
    UNION SELECT m.id, m.supersedes, m.user_id
    FROM memories m JOIN back b ON m.id = b.prev AND m.user_id = b.owner),
  fwd(id, next, owner) AS (
    SELECT id, superseded_by, user_id FROM memories WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)
    UNION SELECT m.id, m.superseded_by, m.user_id
    FROM memories m JOIN fwd f ON m.id = f.next AND m.user_id = f.owner)
SELECT id FROM back UNION SELECT id FROM fwd
"""
"""The ids of every version of the chain through ``?1`` (nothing when it does not exist, or
when ``?2`` is a user id and not its owner's). The walk never leaves the owner of ``?1``:
whatever a link says, a chain holds one user's memories only."""

HEAD_OF = """
WITH RECURSIVE fwd(id, next, owner, depth) AS (
    SELECT id, superseded_by, user_id, 0 FROM memories WHERE id = ?
    UNION SELECT m.id, m.superseded_by, m.user_id, f.depth + 1
    FROM memories m JOIN fwd f ON m.id = f.next AND m.user_id = f.owner)
SELECT id FROM fwd WHERE next IS NULL ORDER BY depth DESC LIMIT 1
"""
"""The current version of the chain through ``?`` (within its owner, as CHAIN_IDS)."""

_LEVEL_SQL = (
    "CASE WHEN turn_id IS NOT NULL THEN 'turn' WHEN agent_id IS NOT NULL THEN 'agent' "
    "WHEN session_id IS NOT NULL THEN 'session' ELSE 'user' END"
)


def marks(count: int) -> str:
    """``?,?,...`` for ``count`` parameters."""
    return ",".join("?" * count)


def chunks(values: Sequence[T], size: int = IN_BATCH) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def filter_sql(where: MemoryFilter, *, include_paging: bool) -> tuple[str, list[Any]]:
    """A WHERE clause (ids matched literally; None matches anything) and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("user_id", "session_id", "agent_id", "turn_id"):
        value = getattr(where, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.within is not None:
        reach, values = reach_sql(where.within)
        clauses.append(reach)
        params.extend(values)
    if where.scope_levels is not None:
        levels = sorted(level.value for level in where.scope_levels)
        clauses.append(f"{_LEVEL_SQL} IN ({marks(len(levels))})")
        params.extend(levels)
    if where.categories is not None:
        names = sorted(c.value for c in where.categories)
        clauses.append(f"category IN ({marks(len(names))})")
        params.extend(names)
    if where.valid_at is not None:
        at = codec.to_micros(where.valid_at)
        clauses.append("valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)")
        params.extend([at, at])
    elif not where.include_superseded:
        clauses.append("superseded_by IS NULL")
    if where.created_after is not None:
        clauses.append("created_at > ?")
        params.append(codec.to_micros(where.created_after))
    if where.created_before is not None:
        clauses.append("created_at < ?")
        params.append(codec.to_micros(where.created_before))
    if where.min_importance is not None:
        clauses.append("importance >= ?")
        params.append(where.min_importance)
    for key, value in (where.metadata or {}).items():
        clauses.append(_metadata_clause(value))
        params.extend(_metadata_params(key, value))
    sql = " AND ".join(clauses) if clauses else "1"
    if include_paging:
        sql += " ORDER BY created_at, key"
        if where.limit is not None or where.offset:
            sql += " LIMIT ? OFFSET ?"
            params.extend([-1 if where.limit is None else where.limit, where.offset])
    return sql, params


def _metadata_clause(value: object) -> str:
    """A metadata key holding exactly one value (``json_each``: any key, no path quoting)."""
    each = "SELECT 1 FROM json_each(memories.metadata) AS j WHERE j.key = ?"
    if value is None:
        return f"EXISTS ({each} AND j.type = 'null')"
    if isinstance(value, bool):
        return f"EXISTS ({each} AND j.type = ?)"
    if isinstance(value, (int, float)):
        return f"EXISTS ({each} AND j.type IN ('integer', 'real') AND j.value = ?)"
    return f"EXISTS ({each} AND j.type = 'text' AND j.value = ?)"


def _metadata_params(key: str, value: object) -> list[Any]:
    if value is None:
        return [key]
    if isinstance(value, bool):
        return [key, "true" if value else "false"]
    return [key, value]


def reach_sql(scope: Scope) -> tuple[str, list[Any]]:
    """What ``scope`` reaches (:func:`headroom.scoping.reaches`): the user's memories it sees,
    or that carry every id it carries."""
    deeper = (
        ("session_id", scope.session_id),
        ("agent_id", scope.agent_id),
        ("turn_id", scope.turn_id),
    )
    sees: list[str] = []
    sees_params: list[Any] = []
    holds: list[str] = []
    holds_params: list[Any] = []
    for column, value in deeper:
        if value is None:
            sees.append(f"{column} IS NULL")
        else:
            sees.append(f"({column} IS NULL OR {column} = ?)")
            sees_params.append(value)
            holds.append(f"{column} = ?")
            holds_params.append(value)
    if not holds:  # a user's own context holds every memory of the user
        return "user_id = ?", [scope.user_id]
    sql = f"user_id = ? AND (({' AND '.join(sees)}) OR ({' AND '.join(holds)}))"
    return sql, [scope.user_id, *sees_params, *holds_params]


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
        clauses.append(f"{alias}.category IN ({marks(len(names))})")
        params.extend(names)
    return " AND ".join(clauses), params
