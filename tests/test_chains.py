"""Ordering a supersession chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headroom.domain import Memory, MemoryCategory
from headroom.domain.chains import order_chain
from headroom.errors import StorageError

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_chain(length: int) -> list[Memory]:
    ids = [f"m{i}" for i in range(length)]
    return [
        Memory(
            id=ids[i],
            content=f"version {i}",
            category=MemoryCategory.FACT,
            importance=0.5,
            user_id="u",
            session_id=None,
            agent_id=None,
            turn_id=None,
            created_at=NOW,
            valid_from=NOW,
            valid_to=None if i == length - 1 else NOW,
            supersedes=ids[i - 1] if i else None,
            superseded_by=ids[i + 1] if i < length - 1 else None,
        )
        for i in range(length)
    ]


@given(st.integers(1, 12), st.randoms())
def test_any_order_in_gives_oldest_first(length: int, rng: object) -> None:
    chain = make_chain(length)
    shuffled = list(chain)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    ordered = order_chain(shuffled)
    assert ordered == chain
    assert [m.is_current for m in ordered] == [False] * (length - 1) + [True]


def test_broken_chains_are_reported() -> None:
    chain = make_chain(3)
    with pytest.raises(StorageError):
        order_chain([chain[0], chain[2]])  # a gap: two roots
    looped = [replace(chain[0], supersedes="m1"), chain[1]]
    with pytest.raises(StorageError):
        order_chain(looped)
    assert order_chain([]) == []
