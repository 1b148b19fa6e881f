"""Importing supersession chains: the pure check, and random exports fed to the engine.

The pure check (``check_import_chains``) is property-tested against an independent statement
of what a well-formed chain is. Then hypothesis feeds the engine random exports of one user,
well-formed or corrupted (links to another user's memories, to unknown ids, to themselves,
cycles, forks, moved scopes), over a database holding other users' chains: whatever it
accepts or refuses, the other users' memories never change, and everything it accepted is
history that reads and deletes cleanly, one head per chain.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom.domain import Memory
from headroom.domain.chains import check_import_chains
from headroom.errors import ValidationError
from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter
from tests.fakes import HashingEmbedder
from tests.records import chain_of


def make_chain(user: str, length: int, session: str | None = None) -> list[Memory]:
    return chain_of(user, *(f"{user} fact v{i}" for i in range(length)), session=session)


def well_formed(records: Sequence[Memory], stored: dict[str, Memory]) -> bool:
    """Every chain a simple path of one user and scope, links mutual: stated independently."""
    every = {**stored, **{m.id: m for m in records}}
    for m in records:
        for link, back in ((m.supersedes, "superseded_by"), (m.superseded_by, "supersedes")):
            if link is None:
                continue
            other = every.get(link)
            if other is None or other.id == m.id or getattr(other, back) != m.id:
                return False
            ids = (m.user_id, m.session_id, m.agent_id, m.turn_id)
            if (other.user_id, other.session_id, other.agent_id, other.turn_id) != ids:
                return False
    for m in records:  # no cycle: walking back from any record ends
        seen = {m.id}
        cursor = m
        while cursor.supersedes is not None and cursor.supersedes in every:
            cursor = every[cursor.supersedes]
            if cursor.id in seen:
                return False
            seen.add(cursor.id)
    return True


chain_lengths = st.lists(st.integers(1, 4), min_size=1, max_size=5)


@st.composite
def exports(draw: st.DrawFn) -> list[Memory]:
    """A shuffled export of Bob's chains, possibly in several sessions."""
    records: list[Memory] = []
    for length in draw(chain_lengths):
        records.extend(make_chain("bob", length, draw(st.sampled_from([None, "s1"]))))
    return draw(st.permutations(records))


@given(exports())
def test_a_well_formed_export_is_accepted_whole(records: list[Memory]) -> None:
    chains = check_import_chains(records, {})
    assert sorted(m.id for chain in chains for m in chain) == sorted(m.id for m in records)
    for chain in chains:
        assert chain[0].supersedes is None and chain[-1].superseded_by is None
        assert all(a.superseded_by == b.id for a, b in itertools.pairwise(chain))


MUTATIONS = ["supersedes", "superseded_by", "user_id", "session_id"]


@st.composite
def corrupted(draw: st.DrawFn, targets: Sequence[str] = ()) -> list[Memory]:
    """An export with one to three fields of its records changed at random."""
    records = list(draw(exports()))
    ids = [m.id for m in records]
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(records) - 1))
        field = draw(st.sampled_from(MUTATIONS))
        record = records[index]
        links = [None, str(uuid.uuid4()), record.id, *ids, *targets]
        if field == "supersedes":
            record = replace(record, supersedes=draw(st.sampled_from(links)))
        elif field == "superseded_by":
            record = replace(record, superseded_by=draw(st.sampled_from(links)))
        elif field == "user_id":
            record = replace(record, user_id=draw(st.sampled_from(["alice", "carol", "bob"])))
        else:
            record = replace(record, session_id=draw(st.sampled_from([None, "s1", "s2"])))
        records[index] = record
    return records


@given(corrupted())
def test_the_check_accepts_exactly_the_well_formed(records: list[Memory]) -> None:
    try:
        chains = check_import_chains(records, {})
    except ValidationError as exc:
        assert not well_formed(records, {}), exc
        assert str(exc).startswith("record ")
    else:
        assert well_formed(records, {})
        assert sum(len(chain) for chain in chains) == len(records)


def test_the_first_bad_record_is_named() -> None:
    good, bad = make_chain("bob", 2), make_chain("bob", 1)
    bad[0] = replace(bad[0], supersedes=str(uuid.uuid4()))
    with pytest.raises(ValidationError, match=rf"^record 2 \({bad[0].id}\) supersedes"):
        check_import_chains([*good, *bad], {})


# -- the engine, fed random exports --------------------------------------------------------------


class Database:
    """A fresh database holding Alice's and Carol's chains, for one example."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="headroom-import-"))
        self.config = MemoryConfig(db_path=self.folder / "memory.db")

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


async def _rows(memory: HierarchicalMemory, user: str) -> dict[str, Memory]:
    found = await memory.query(MemoryFilter(user_id=user, include_superseded=True))
    return {m.id: m for m in found}


async def _import_and_check(
    config: MemoryConfig, export: list[Memory], others: list[Memory]
) -> None:
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        await memory.import_memories(others)
        before = {user: await _rows(memory, user) for user in ("alice", "bob", "carol")}
        try:
            await memory.import_memories(export)
        except ValidationError:
            added: set[str] = set()
        else:
            added = {m.id for m in export}
        after = {user: await _rows(memory, user) for user in before}
        for user, rows in before.items():
            assert {k: after[user][k] for k in rows} == rows, user  # nothing of theirs changed
        assert set().union(*after.values()) == set().union(*before.values()) | added
        for rows in after.values():  # what was accepted is whole history: one head a chain
            for memory_id in rows:
                history = await memory.get_history(memory_id)
                assert [m.is_current for m in history] == [False] * (len(history) - 1) + [True]
        for memory_id in added:
            owner = next(user for user, rows in after.items() if memory_id in rows)
            if memory_id in await _rows(memory, owner):
                await memory.delete(memory_id, user_id=owner)
        assert {user: await _rows(memory, user) for user in before} == before


OTHERS = [*make_chain("alice", 3), *make_chain("alice", 1), *make_chain("carol", 2, "s1")]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(exports(), corrupted(targets=[m.id for m in OTHERS])))
def test_random_exports_never_change_another_users_memories(export: list[Memory]) -> None:
    with Database() as db:
        asyncio.run(_import_and_check(db.config, export, OTHERS))
