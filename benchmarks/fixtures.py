"""Corpora with their embeddings, and memories filled with them.

Corpus vectors up to 100k come from the real model (cached on disk: embedding 100k synthetic
sentences takes a few minutes once). Beyond what was embedded, :func:`synthetic_vectors` makes
unit vectors near the real ones (a real vector plus Gaussian noise), so a 1M-memory index has
the clustered geometry of real embeddings without an hour of inference. Reports say which
numbers rest on such vectors.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import numpy as np
import numpy.typing as npt

from benchmarks.corpus import memory_texts
from benchmarks.embedding_cache import DiskCachedEmbedder, EmbeddingStore, LookupEmbedder
from benchmarks.progress import Progress
from headroom.embedders.base import Embedder
from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory

__all__ = [
    "Corpus",
    "Layout",
    "fill",
    "open_memory",
    "real_corpus",
    "synthetic_vectors",
    "user_of",
]

Floats = npt.NDArray[np.float32]
_EMBED_CHUNK = 2048
FILL_BATCH = 2000


@dataclass(frozen=True, slots=True)
class Corpus:
    texts: list[str]
    vectors: Floats

    def __len__(self) -> int:
        return len(self.texts)


async def real_corpus(count: int, embedder: Embedder, *, seed: int = 0) -> Corpus:
    """The first ``count`` memories of corpus ``seed`` and their real embeddings (cached)."""
    texts = list(memory_texts(0, count, seed=seed))
    store = EmbeddingStore.for_model(embedder.model_name, embedder.dimension)
    cached = DiskCachedEmbedder(embedder, store)
    out = np.empty((count, embedder.dimension), dtype=np.float32)
    progress = Progress(f"corpus embeddings (cached in {store.path.name})", count)
    try:
        for start in range(0, count, _EMBED_CHUNK):
            chunk = texts[start : start + _EMBED_CHUNK]
            out[start : start + len(chunk)] = await cached.embed(chunk)
            progress.advance(len(chunk))
    finally:
        progress.done()
        store.close()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return Corpus(texts, np.ascontiguousarray(out / norms, dtype=np.float32))


def synthetic_vectors(base: Floats, start: int, stop: int, *, noise: float = 0.5) -> Floats:
    """Unit vectors for rows ``[start, stop)``: ``base[i % len(base)]`` plus Gaussian noise.

    ``noise`` is the norm of the perturbation relative to the (unit) base vector: 0.5 keeps a
    cosine of about 0.9 to it. Deterministic in ``start``.
    """
    rows = np.arange(start, stop) % len(base)
    rng = np.random.default_rng(start)
    dim = base.shape[1]
    jitter = rng.standard_normal((stop - start, dim)).astype(np.float32) * (noise / dim**0.5)
    out = base[rows] + jitter
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return np.ascontiguousarray(out, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Layout:
    """How memories are spread over users: all to one user, or round-robin over ``users``."""

    name: str
    users: int

    @property
    def selective(self) -> bool:
        return self.users > 1


def user_of(index: int, layout: Layout) -> str:
    return f"user{index % layout.users:04d}"


async def open_memory(path: Path, embedder: Embedder, **settings: object) -> HierarchicalMemory:
    """A memory at ``path`` using ``embedder`` (wrapped in the LRU cache, as for any user)."""
    config = MemoryConfig(db_path=path).with_changes(**settings)
    return await HierarchicalMemory.create(config, embedder=embedder)


async def settle(*, window: float = 0.25, idle: float = 0.05, limit: float = 120.0) -> float:
    """Wait until this process is idle: under ``idle`` of a core used over a ``window`` (an
    engine's background work after a fill, merging new vectors into the graph and saving it,
    done), so what is timed next is a settled store. Seconds waited, at most ``limit``."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        cpu = time.process_time()
        await anyio.sleep(window)
        if time.process_time() - cpu < idle * window:
            break
    return time.perf_counter() - started


async def fill(
    memory: HierarchicalMemory,
    lookup: LookupEmbedder,
    texts: Sequence[str],
    vectors: Floats,
    layout: Layout,
    *,
    offset: int = 0,
    label: str = "filling",
) -> float:
    """Add ``texts`` as memories ``offset...`` with precomputed ``vectors``; seconds taken.

    ``memory`` must embed through ``lookup``: each add_many batch is preceded by teaching
    ``lookup`` that batch's vectors, so the timing covers SQLite, FTS5 and HNSW, not the model.
    """
    progress = Progress(label, len(texts))
    started = time.perf_counter()
    for start in range(0, len(texts), FILL_BATCH):
        chunk = texts[start : start + FILL_BATCH]
        lookup.replace(dict(zip(chunk, vectors[start : start + len(chunk)], strict=True)))
        await memory.add_many(
            [
                NewMemory(content=text, user_id=user_of(offset + start + i, layout))
                for i, text in enumerate(chunk)
            ]
        )
        progress.advance(len(chunk))
    progress.done()
    return time.perf_counter() - started
