"""LazyEmbedder: an embedder made on its first use.

A memory opened read-only to list or export what it holds never needs a model; one opened to
search loads it at the first search. The model's name and dimension are known beforehand (the
database's record is checked against them when it opens).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio

from headroom.embedders.base import Embedder, Vectors
from headroom.errors import ClosedError, DimensionMismatchError

__all__ = ["LazyEmbedder"]


class LazyEmbedder:
    """Makes the real embedder with ``make`` on the first :meth:`embed`."""

    def __init__(
        self, make: Callable[[], Awaitable[Embedder]], *, model_name: str, dimension: int
    ) -> None:
        self._make = make
        self._model_name = model_name
        self._dimension = dimension
        self._inner: Embedder | None = None
        self._lock = anyio.Lock()
        self._closed = False

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def loaded(self) -> bool:
        """Whether the real embedder has been made."""
        return self._inner is not None

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if self._closed:
            raise ClosedError("this embedder is closed")
        inner = self._inner
        if inner is None:
            async with self._lock:
                if self._inner is None:
                    made = await self._make()
                    if (made.model_name, made.dimension) != (self._model_name, self._dimension):
                        await made.aclose()
                        raise DimensionMismatchError(
                            f"the embedder made {made.model_name!r} ({made.dimension} "
                            f"dimensions), not {self._model_name!r} ({self._dimension})"
                        )
                    self._inner = made
                inner = self._inner
        return await inner.embed(texts)

    async def aclose(self) -> None:
        self._closed = True
        if self._inner is not None:
            await self._inner.aclose()

    def __repr__(self) -> str:
        state = "loaded" if self._inner is not None else "not loaded"
        return f"<LazyEmbedder {self._model_name} dimension={self._dimension} {state}>"
