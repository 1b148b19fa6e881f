"""Re-embedding: every memory's vector made anew by another embedder, swapped in atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio

from headroom.domain import MemoryFilter
from headroom.embedders.base import Embedder, normalize, validate_vectors
from headroom.storage.base import EmbedderRecord, MemoryStore, Vector

__all__ = ["REEMBED_BATCH", "ReembedProgress", "reembed_store"]

REEMBED_BATCH = 256


@dataclass(frozen=True, slots=True)
class ReembedProgress:
    """Reported to the ``progress`` callback of :meth:`HierarchicalMemory.reembed`."""

    done: int
    total: int


async def reembed_store(
    store: MemoryStore,
    embedder: Embedder,
    writes: anyio.Lock,
    progress: Callable[[ReembedProgress], object] | None,
) -> None:
    """Embed every stored memory with ``embedder``, then switch the store to it in one step.

    The bulk is embedded while the memory keeps serving; then, holding ``writes`` (so no
    write of this engine slips in between), what was added meanwhile, and the switch.
    """
    vectors: dict[int, Vector] = {}
    last = 0
    total = (await store.stats(MemoryFilter(include_superseded=True))).total

    async def embed_pending() -> None:
        nonlocal last
        while batch := await store.contents(last, REEMBED_BATCH):
            made = await embedder.embed([content for _, content in batch])
            checked = normalize(validate_vectors(made, len(batch), embedder.dimension))
            for (key, _), vector in zip(batch, checked, strict=True):
                vectors[key] = vector
            last = batch[-1][0]
            if progress is not None:
                progress(ReembedProgress(len(vectors), max(total, len(vectors))))

    await embed_pending()
    async with writes:
        await embed_pending()
        await store.replace_embeddings(
            vectors, EmbedderRecord(embedder.model_name, embedder.dimension)
        )
