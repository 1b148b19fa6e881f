"""Weighted reciprocal rank fusion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headroom.memory.fusion import RRF_K, reciprocal_rank_fusion

keys = st.lists(st.integers(0, 50), max_size=30)


def test_a_key_in_both_lists_beats_keys_in_one() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4, 5]])
    assert fused[0][0] == 3
    assert fused[0][1] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))


def test_weights_lean_toward_a_list() -> None:
    assert reciprocal_rank_fusion([[1], [2]], [1.0, 2.0])[0][0] == 2
    assert reciprocal_rank_fusion([[1], [2]], [2.0, 1.0])[0][0] == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], [1.0, 2.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], k=-1)


@given(keys, keys, st.floats(0, 5), st.floats(0, 5))
def test_properties(a: list[int], b: list[int], wa: float, wb: float) -> None:
    fused = reciprocal_rank_fusion([a, b], [wa, wb])
    got = [k for k, _ in fused]
    assert sorted(got) == sorted(set(a) | set(b))  # every key once
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)  # best first
    assert fused == reciprocal_rank_fusion([a, b], [wa, wb])  # deterministic


@given(st.lists(st.integers(0, 1000), unique=True, max_size=30))
def test_one_list_keeps_its_order(ranked: list[int]) -> None:
    assert [k for k, _ in reciprocal_rank_fusion([ranked])] == ranked
