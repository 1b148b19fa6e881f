"""SQL written once: the tables, the columns, the chain walk, filters and visibility. Pure.

Placeholders are numbered (``$1``); :class:`Params` numbers them as a statement is built, so
no value is ever spliced into SQL text. Every search and every statement of an operation
scoped to a user carries the ``user_id`` condition.
"""

from __future__ import annotations

import json
from typing import Any

from headroom.domain import MemoryFilter, Scope, SearchFilter

__all__ = [
    "CHAIN_KEYS",
    "COLUMNS",
    "HEAD_OF",
    "INSERT_MEMORIES",
    "MEMORIES",
    "META",
    "Params",
    "filter_sql",
    "reach_sql",
    "visibility_sql",
]

MEMORIES = "headroom_memories"
META = "headroom_meta"

COLUMNS = (
    "key, id, content, category, importance, user_id, session_id, agent_id, turn_id, "
    "created_at, valid_from, valid_to, supersedes, superseded_by, metadata, source"
)
"""The columns a Memory is read from (:func:`codec.record_to_memory` reads them by name)."""

INSERT_MEMORIES = f"""
INSERT INTO {MEMORIES} (id, content, category, importance, user_id, session_id, agent_id,
    turn_id, created_at, valid_from, valid_to, supersedes, superseded_by, metadata, source,
    embedding)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
    $12::text[], $13::text[], $14::json[], $15::text[], $16::vector[])
RETURNING id, key
"""
"""Many memories in one statement, from one array per column (:func:`codec.insert_columns`)."""

CHAIN_KEYS = f"""
WITH RECURSIVE
  start AS (SELECT key, id, user_id, supersedes, superseded_by FROM {MEMORIES} WHERE id = $1),
  back AS (
    SELECT key, user_id, supersedes FROM start
    UNION
    SELECT m.key, m.user_id, m.supersedes FROM {MEMORIES} m
    JOIN back b ON m.id = b.supersedes AND m.user_id = b.user_id),
  fwd AS (
    SELECT key, user_id, superseded_by FROM start
    UNION
    SELECT m.key, m.user_id, m.superseded_by FROM {MEMORIES} m
    JOIN fwd f ON m.id = f.superseded_by AND m.user_id = f.user_id)
SELECT key FROM back UNION SELECT key FROM fwd
"""
"""The keys of every version of the chain through ``$1`` (none when it does not exist).

The walk never leaves the user the chain starts with, whatever the links say: a link to
another user's memory ends the chain there."""

HEAD_OF = f"""
WITH RECURSIVE fwd AS (
    SELECT id, user_id, superseded_by, 0 AS depth FROM {MEMORIES} WHERE id = $1
    UNION ALL
    SELECT m.id, m.user_id, m.superseded_by, f.depth + 1 FROM {MEMORIES} m
    JOIN fwd f ON m.id = f.superseded_by AND m.user_id = f.user_id
) CYCLE id SET looped USING path
SELECT id FROM fwd WHERE NOT looped ORDER BY depth DESC LIMIT 1
"""
"""The current version of the chain through ``$1``."""

_LEVEL_SQL = (
    "CASE WHEN turn_id IS NOT NULL THEN 'turn' WHEN agent_id IS NOT NULL THEN 'agent' "
    "WHEN session_id IS NOT NULL THEN 'session' ELSE 'user' END"
)


class Params:
    """The values of one statement, numbered as they are added."""

    def __init__(self, *values: Any) -> None:
        self.values: list[Any] = list(values)

    def add(self, value: Any) -> str:
        """The placeholder of ``value``."""
        self.values.append(value)
        return f"${len(self.values)}"


def filter_sql(where: MemoryFilter, params: Params, *, include_paging: bool) -> str:
    """A WHERE clause (ids matched literally; None matches anything) adding to ``params``."""
    clauses: list[str] = []
    for column in ("user_id", "session_id", "agent_id", "turn_id"):
        value = getattr(where, column)
        if value is not None:
            clauses.append(f"{column} = {params.add(value)}")
    if where.within is not None:
        clauses.append(reach_sql(where.within, params))
    if where.scope_levels is not None:
        levels = sorted(level.value for level in where.scope_levels)
        clauses.append(f"{_LEVEL_SQL} = ANY({params.add(levels)}::text[])")
    if where.categories is not None:
        names = sorted(c.value for c in where.categories)
        clauses.append(f"category = ANY({params.add(names)}::text[])")
    if where.valid_at is not None:
        at = params.add(where.valid_at)
        clauses.append(f"valid_from <= {at} AND (valid_to IS NULL OR valid_to > {at})")
    elif not where.include_superseded:
        clauses.append("superseded_by IS NULL")
    if where.created_after is not None:
        clauses.append(f"created_at > {params.add(where.created_after)}")
    if where.created_before is not None:
        clauses.append(f"created_at < {params.add(where.created_before)}")
    if where.min_importance is not None:
        clauses.append(f"importance >= {params.add(where.min_importance)}")
    if where.metadata:
        # Containment of {key: value} is exact equality of each top-level scalar.
        clauses.append(f"metadata::jsonb @> {params.add(json.dumps(where.metadata))}::jsonb")
    sql = " AND ".join(clauses) if clauses else "TRUE"
    if include_paging:
        sql += " ORDER BY created_at, key"
        if where.limit is not None:
            sql += f" LIMIT {params.add(where.limit)}"
        if where.offset:
            sql += f" OFFSET {params.add(where.offset)}"
    return sql


def reach_sql(scope: Scope, params: Params) -> str:
    """What ``scope`` reaches (:func:`headroom.scoping.reaches`): the user's memories it sees,
    or that carry every id it carries."""
    user = f"user_id = {params.add(scope.user_id)}"
    sees: list[str] = []
    holds: list[str] = []
    for column in ("session_id", "agent_id", "turn_id"):
        value = getattr(scope, column)
        if value is None:
            sees.append(f"{column} IS NULL")
        else:
            mark = params.add(value)
            sees.append(f"({column} IS NULL OR {column} = {mark})")
            holds.append(f"{column} = {mark}")
    if not holds:  # a user's own context holds every memory of the user
        return user
    return f"{user} AND (({' AND '.join(sees)}) OR ({' AND '.join(holds)}))"


def visibility_sql(where: SearchFilter, params: Params, alias: str = "m") -> str:
    """The scope rule as SQL: every id the row carries equals the context's."""
    scope = where.scope
    clauses = [f"{alias}.user_id = {params.add(scope.user_id)}"]
    for column, value in (
        ("session_id", scope.session_id),
        ("agent_id", scope.agent_id),
        ("turn_id", scope.turn_id),
    ):
        if value is None:
            clauses.append(f"{alias}.{column} IS NULL")
        else:
            clauses.append(f"({alias}.{column} IS NULL OR {alias}.{column} = {params.add(value)})")
    if not where.include_superseded:
        clauses.append(f"{alias}.superseded_by IS NULL")
    if where.categories is not None:
        names = sorted(c.value for c in where.categories)
        clauses.append(f"{alias}.category = ANY({params.add(names)}::text[])")
    return " AND ".join(clauses)
