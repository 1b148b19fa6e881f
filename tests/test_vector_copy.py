"""VectorCopy (the small index's copy of its vectors) against a dictionary, operation by
operation: the same keys, and searches equal to brute force."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom.storage.sqlite.vector_copy import VectorCopy

D = 6
Floats = npt.NDArray[np.float32]


def unit(rng: np.random.Generator, n: int) -> Floats:
    rows = rng.standard_normal((n, D))
    result: Floats = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return result


operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove"]),
        st.lists(st.integers(0, 40), min_size=0, max_size=12, unique=True),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(steps=operations, seed=st.integers(0, 2**32 - 1), k=st.integers(0, 15))
def test_a_copy_follows_adds_and_removes(
    steps: list[tuple[str, list[int]]], seed: int, k: int
) -> None:
    rng = np.random.default_rng(seed)
    copy = VectorCopy.empty(D)
    table: dict[int, Floats] = {}
    for operation, chosen in steps:
        keys = np.array(chosen, dtype=np.int64)
        before = copy
        if operation == "add":
            rows = unit(rng, keys.size)
            copy = copy.added(keys, rows)
            table.update(zip(chosen, rows, strict=True))
        else:
            copy = copy.removed(keys)
            for key in chosen:
                table.pop(key, None)
        assert copy.keys.tolist() == sorted(table)
        assert before is copy or before.keys is not copy.keys  # never changed in place
        for position, key in enumerate(copy.keys.tolist()):
            np.testing.assert_array_equal(copy.vectors[position], table[key])

    query = unit(rng, 1)[0]
    for allowed in (None, np.arange(0, 41, 2, dtype=np.int64), np.empty(0, dtype=np.int64)):
        keys, sims = copy.search(query, k, allowed)
        candidates = set(table) if allowed is None else set(table) & set(allowed.tolist())
        true = {key: float(table[key] @ query) for key in candidates}
        # The best k (ties within rounding may come in either order), best first.
        assert keys.size == min(k, len(candidates)) == np.unique(keys).size
        assert set(keys.tolist()) <= candidates
        np.testing.assert_allclose(sims, [true[key] for key in keys.tolist()], atol=1e-5)
        assert (np.diff(sims) <= 1e-6).all()
        left = [true[key] for key in candidates - set(keys.tolist())]
        if keys.size and left:
            assert max(left) <= float(sims[-1]) + 1e-5
        assert keys.dtype == np.int64 and sims.dtype == np.float32
