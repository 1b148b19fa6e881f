"""CachedEmbedder: an LRU cache of vectors in front of any embedder.

Agents repeat themselves: the same query, the same boilerplate memory. A hit costs a dict
lookup and a 1.5 KB copy instead of a model run or an HTTP round trip.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from headroom.embedders.base import Embedder, Vectors, validate_vectors
from headroom.errors import ClosedError, ConfigError

__all__ = ["CachedEmbedder"]


class CachedEmbedder:
    """Wraps ``inner`` with a least-recently-used cache of up to ``max_size`` vectors.

    Vectors are keyed by ``(model_name, text)``. Only the texts not in the cache go to
    ``inner``, in one batch, each distinct text once. Callers get fresh arrays: changing one
    cannot change the cache. :meth:`aclose` closes ``inner`` too.
    """

    def __init__(self, inner: Embedder, max_size: int = 1000) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ConfigError(f"max_size must be a positive int, got {max_size!r}")
        self._inner = inner
        self._max_size = max_size
        self._entries: OrderedDict[tuple[str, str], Vectors] = OrderedDict()
        self._closed = False
        self.hits = 0
        """Texts answered without asking ``inner`` (cached, or repeated within a batch)."""
        self.misses = 0
        """Distinct texts sent to ``inner``."""

    @property
    def inner(self) -> Embedder:
        return self._inner

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def max_size(self) -> int:
        return self._max_size

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every cached vector (the counters stay)."""
        self._entries.clear()

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if self._closed:
            raise ClosedError("this CachedEmbedder is closed")
        model, dimension = self._inner.model_name, self._inner.dimension
        out = np.empty((len(texts), dimension), dtype=np.float32)
        pending: dict[str, list[int]] = {}  # text -> rows wanting it, in first-seen order
        entries = self._entries
        for row, text in enumerate(texts):
            vector = entries.get((model, text))
            if vector is None:
                pending.setdefault(text, []).append(row)
            else:
                entries.move_to_end((model, text))
                out[row] = vector
        if pending:
            missing = list(pending)
            vectors = validate_vectors(await self._inner.embed(missing), len(missing), dimension)
            for text, vector in zip(missing, vectors, strict=True):
                out[pending[text]] = vector
                self._store((model, text), vector)
        self.misses += len(pending)
        self.hits += len(texts) - len(pending)
        return out

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._entries.clear()
        await self._inner.aclose()

    async def __aenter__(self) -> CachedEmbedder:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<CachedEmbedder {len(self._entries)}/{self._max_size} hits={self.hits} "
            f"misses={self.misses} of {self._inner!r}>"
        )

    def _store(self, key: tuple[str, str], vector: Vectors) -> None:
        # A private read-only copy: a row view would keep the whole batch alive.
        stored = vector.copy()
        stored.flags.writeable = False
        self._entries[key] = stored
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)
