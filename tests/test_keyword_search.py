"""The keyword half through the public API: what its bounded plan may and may not change.

Text-only configs (``vector_weight=0``) so that every hit comes from the keyword half.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory
from tests.backends import NewConfig
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.anyio

SHORT = "espresso note {i}"
LONG = "espresso and a much longer sentence that holds many other words too, number {i}"


async def test_a_user_holding_most_rows_gets_only_their_own(new_config: NewConfig) -> None:
    config = new_config(vector_weight=0.0)
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        # Another user's shorter rows rank first by BM25, more of them than one look takes.
        await memory.add_many(
            [NewMemory(content=SHORT.format(i=i), user_id="other") for i in range(100)]
        )
        await memory.add_many(
            [NewMemory(content=LONG.format(i=i), user_id="big") for i in range(150)]
        )
        hits = await memory.search("espresso", user_id="big", top_k=5)
        assert len(hits) == 5
        assert {h.memory.user_id for h in hits} == {"big"}
        other = await memory.search("espresso", user_id="other", top_k=5)
        assert len(other) == 5
        assert {h.memory.user_id for h in other} == {"other"}


async def test_hidden_rows_ranked_first_do_not_hide_visible_ones(new_config: NewConfig) -> None:
    config = new_config(vector_weight=0.0)
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        await memory.add_many(
            [NewMemory(content=SHORT.format(i=i), user_id="u", session_id="s") for i in range(100)]
        )
        visible = await memory.add_many(
            [NewMemory(content=LONG.format(i=i), user_id="u") for i in range(5)]
        )
        hits = await memory.search("espresso", user_id="u", top_k=5)
        assert {h.id for h in hits} == {m.id for m in visible}


async def test_words_in_most_of_a_users_rows_are_left_out(tmp_path: Path) -> None:
    config = MemoryConfig(db_path=tmp_path / "memory.db", vector_weight=0.0)
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        await memory.add_many(
            [NewMemory(content=f"coffee in the morning {i}", user_id="u") for i in range(8)]
        )
        both = await memory.add("coffee with espresso", user_id="u")
        tonic = await memory.add("espresso tonic", user_id="u")
        # "coffee" is in 9 of the 10 rows: no BM25 weight, so it does not fill the list.
        hits = await memory.search("coffee espresso", user_id="u", top_k=10)
        assert {h.id for h in hits} == {both.id, tonic.id}
        # A query of such words only still finds them.
        assert len(await memory.search("coffee", user_id="u", top_k=10)) == 9


async def test_a_common_word_finds_a_large_users_rows_when_others_wrote_the_newest(
    new_config: NewConfig,
) -> None:
    from headroom.storage.keywords import RANK_BUDGET

    config = new_config(vector_weight=0.0)
    async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as memory:
        # "big" holds most rows, but every one of the newest matches is another user's.
        await memory.add_many(
            [NewMemory(content=SHORT.format(i=i), user_id="big") for i in range(RANK_BUDGET + 200)]
        )
        await memory.add_many(
            [NewMemory(content=LONG.format(i=i), user_id="other") for i in range(RANK_BUDGET + 100)]
        )
        hits = await memory.search("espresso", user_id="big", top_k=5)
        assert len(hits) == 5
        assert {h.memory.user_id for h in hits} == {"big"}
