"""ExactIndex: brute-force cosine search over an in-memory numpy matrix, for the tests.

The oracle the usearch graph of the SQLite backend is tested against (both satisfy
:class:`KeyedVectorIndex`, the contract of a graph searched with an explicit allowed key set).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, TypeVar

import anyio
import anyio.to_thread
import numpy as np
import numpy.typing as npt

from headroom.errors import ClosedError, ConfigError
from headroom.storage.base import Keys
from headroom.storage.sqlite.vector_plan import (
    check_allowed,
    check_k,
    check_keys,
    check_query,
    check_vectors,
    empty_result,
    is_member,
    similarities,
    top_k,
)

__all__ = ["ExactIndex", "KeyedVectorIndex"]

_T = TypeVar("_T")
_MIN_CAPACITY = 64


class KeyedVectorIndex(Protocol):
    """Nearest-neighbour search over unit vectors under keys, exact about ``allowed``."""

    @property
    def dimension(self) -> int: ...

    def __len__(self) -> int: ...

    async def add(self, keys: Keys, vectors: npt.NDArray[np.float32]) -> None: ...

    async def remove(self, keys: Keys) -> None: ...

    async def search(
        self, query: npt.NDArray[np.float32], k: int, allowed: Keys | None = None
    ) -> tuple[Keys, npt.NDArray[np.float32]]: ...

    async def keys(self) -> Keys: ...

    async def save(self) -> None: ...

    async def aclose(self) -> None: ...


class ExactIndex:
    """Exact nearest neighbours by dot product over a growable contiguous matrix.

    Rows ``[0, len)`` of ``_matrix`` are live; ``_keys[row]`` names each row and ``_rows``
    maps back. Removal moves the last row into the hole, so the live rows stay contiguous and
    a search is one matrix-vector product. All work runs in a worker thread, one call at a
    time per index, so a search never sees a half-applied mutation.
    """

    def __init__(self, dimension: int) -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ConfigError(f"dimension must be a positive integer, not {dimension!r}")
        self._dimension = dimension
        self._matrix = np.empty((_MIN_CAPACITY, dimension), dtype=np.float32)
        self._keys: Keys = np.empty(_MIN_CAPACITY, dtype=np.int64)
        self._rows: dict[int, int] = {}
        self._limiter = anyio.CapacityLimiter(1)
        self._closed = False

    @property
    def dimension(self) -> int:
        return self._dimension

    def __len__(self) -> int:
        self._check_open()
        return len(self._rows)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._rows)} vectors"
        return f"<ExactIndex dimension={self._dimension} {state}>"

    async def __aenter__(self) -> ExactIndex:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def add(self, keys: Keys, vectors: npt.NDArray[np.float32]) -> None:
        await self._run(lambda: self._add(keys, vectors))

    async def remove(self, keys: Keys) -> None:
        await self._run(lambda: self._remove(keys))

    async def search(
        self, query: npt.NDArray[np.float32], k: int, allowed: Keys | None = None
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        return await self._run(lambda: self._search(query, k, allowed))

    async def keys(self) -> Keys:
        return await self._run(lambda: np.sort(self._keys[: len(self._rows)]))

    async def save(self) -> None:
        """Nothing to persist; kept so every backend has the same surface."""
        self._check_open()

    async def aclose(self) -> None:
        """Release the matrix. Idempotent; waits for a running call to finish."""
        if self._closed:
            return
        async with self._limiter:
            if self._closed:  # a concurrent aclose() got the limiter first
                return
            self._closed = True
            self._matrix = np.empty((0, self._dimension), dtype=np.float32)
            self._keys = np.empty(0, dtype=np.int64)
            self._rows = {}

    # -- worker-thread side ------------------------------------------------------------

    async def _run(self, func: Callable[[], _T]) -> _T:
        self._check_open()
        return await anyio.to_thread.run_sync(self._guarded(func), limiter=self._limiter)

    def _guarded(self, func: Callable[[], _T]) -> Callable[[], _T]:
        def call() -> _T:
            self._check_open()  # aclose may have won the race for the limiter
            return func()

        return call

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this ExactIndex is closed")

    def _add(self, keys: Keys, vectors: npt.NDArray[np.float32]) -> None:
        checked_keys = check_keys(keys)
        checked = check_vectors(vectors, checked_keys.size, self._dimension)
        size = len(self._rows)
        self._reserve(size + checked_keys.size)
        for key, vector in zip(checked_keys.tolist(), checked, strict=True):
            row = self._rows.get(key)
            if row is None:  # a new key goes at the end; a known one is replaced in place
                row = size
                size += 1
                self._rows[key] = row
                self._keys[row] = key
            self._matrix[row] = vector

    def _remove(self, keys: Keys) -> None:
        for key in check_keys(keys).tolist():
            row = self._rows.pop(key, None)
            if row is None:
                continue
            last = len(self._rows)  # the old last row, now past the end
            if row != last:
                moved = int(self._keys[last])
                self._matrix[row] = self._matrix[last]
                self._keys[row] = moved
                self._rows[moved] = row

    def _search(
        self, query: npt.NDArray[np.float32], k: int, allowed: Keys | None
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        checked_query = check_query(query, self._dimension)
        wanted = check_k(k)
        allowed_keys = None if allowed is None else check_allowed(allowed)
        size = len(self._rows)
        if wanted == 0 or size == 0:
            return empty_result()
        keys = self._keys[:size]
        matrix = self._matrix[:size]
        if allowed_keys is not None:
            rows = np.flatnonzero(is_member(allowed_keys, keys))
            if rows.size == 0:
                return empty_result()
            keys, matrix = keys[rows], matrix[rows]
        return top_k(keys, similarities(matrix, checked_query), wanted)

    def _reserve(self, needed: int) -> None:
        capacity = self._keys.size
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2, _MIN_CAPACITY)
        size = len(self._rows)
        matrix = np.empty((capacity, self._dimension), dtype=np.float32)
        matrix[:size] = self._matrix[:size]
        keys = np.empty(capacity, dtype=np.int64)
        keys[:size] = self._keys[:size]
        self._matrix, self._keys = matrix, keys
