"""Memories as an export holds them, crafted by hand for the import tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from headroom.memory import Memory, MemoryCategory

__all__ = ["T0", "chain_of", "record"]

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def record(
    user: str,
    content: str,
    *,
    id: str | None = None,
    supersedes: str | None = None,
    superseded_by: str | None = None,
    session: str | None = None,
    agent: str | None = None,
    turn: str | None = None,
    age: int = 0,
) -> Memory:
    """One memory record; ``age`` minutes after :data:`T0`, closed a minute later when a
    later version supersedes it."""
    at = T0 + timedelta(minutes=age)
    return Memory(
        id=id or str(uuid.uuid4()),
        content=content,
        category=MemoryCategory.FACT,
        importance=0.5,
        user_id=user,
        session_id=session,
        agent_id=agent,
        turn_id=turn,
        created_at=at,
        valid_from=at,
        valid_to=None if superseded_by is None else at + timedelta(minutes=1),
        supersedes=supersedes,
        superseded_by=superseded_by,
    )


def chain_of(
    user: str,
    *contents: str,
    session: str | None = None,
    agent: str | None = None,
    turn: str | None = None,
) -> list[Memory]:
    """A well-formed supersession chain of these versions, oldest first."""
    ids = [str(uuid.uuid4()) for _ in contents]
    return [
        record(
            user,
            content,
            id=ids[i],
            supersedes=ids[i - 1] if i else None,
            superseded_by=ids[i + 1] if i + 1 < len(ids) else None,
            session=session,
            agent=agent,
            turn=turn,
            age=i,
        )
        for i, content in enumerate(contents)
    ]
