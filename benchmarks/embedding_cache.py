"""Embeddings kept on disk between benchmark runs, and embedders that replay them.

Embedding LongMemEval's ~47,000 distinct turns with the int8 MiniLM takes tens of minutes on
two cores; the harness pays that once. :class:`DiskCachedEmbedder` wraps any embedder and keeps
each text's vector in a SQLite file under ``benchmarks/.cache`` (one file per model and
dimension, keyed by a digest of the text). :class:`LookupEmbedder` answers only from vectors it
was given, so a timing can exclude the model entirely.

Neither is used where a number claims to include the embedding.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.to_thread
import numpy as np
import numpy.typing as npt

from headroom.embedders.base import Embedder
from headroom.embedders.models import MINILM_L6_V2

__all__ = [
    "CACHE_DIR",
    "cache_dir",
    "DiskCachedEmbedder",
    "EmbeddingStore",
    "LookupEmbedder",
    "digest",
]

Floats = npt.NDArray[np.float32]

CACHE_DIR = Path(__file__).resolve().parent / ".cache"


def cache_dir() -> Path:
    """``$HEADROOM_BENCH_CACHE`` if set (the smoke test points it at a tmp dir), else .cache."""
    override = os.environ.get("HEADROOM_BENCH_CACHE")
    return Path(override) if override else CACHE_DIR


_CHUNK = 500  # digests per IN (...) list


def digest(text: str) -> bytes:
    """A 16-byte key of ``text``."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingStore:
    """A SQLite file of ``digest -> float32 vector`` for one model. Synchronous; small calls.

    Several processes may fill one store at once (WAL mode, a generous busy timeout).
    """

    def __init__(self, path: Path, dimension: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.dimension = dimension
        self._conn = sqlite3.connect(path, timeout=60.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (digest BLOB PRIMARY KEY, vector BLOB NOT NULL)"
            " WITHOUT ROWID"
        )
        self._conn.commit()

    @classmethod
    def for_model(cls, model_name: str, dimension: int, root: Path | None = None) -> EmbeddingStore:
        root = cache_dir() if root is None else root
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name)
        if model_name == MINILM_L6_V2.name:
            # The bundled model keeps its name across new model files: key by the file too.
            safe += f"-{MINILM_L6_V2.onnx_sha256[:12]}"
        return cls(root / f"embeddings-{safe}-{dimension}.sqlite", dimension)

    def get(self, keys: Sequence[bytes]) -> dict[bytes, Floats]:
        found: dict[bytes, Floats] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT digest, vector FROM vectors WHERE digest IN ({marks})", chunk
            ).fetchall()
            for key, blob in rows:
                found[bytes(key)] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        return found

    def put(self, items: Iterable[tuple[bytes, Floats]]) -> None:
        rows = [(key, np.asarray(v, dtype="<f4").tobytes()) for key, v in items]
        self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
        self._conn.commit()

    def count(self) -> int:
        row = self._conn.execute("SELECT count(*) FROM vectors").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()


class DiskCachedEmbedder:
    """An embedder answering from an :class:`EmbeddingStore`, embedding only what it lacks."""

    def __init__(self, inner: Embedder, store: EmbeddingStore) -> None:
        if store.dimension != inner.dimension:
            raise ValueError("the store and the embedder disagree on the dimension")
        self._inner = inner
        self._store = store
        self.hits = 0
        self.misses = 0

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    async def embed(self, texts: Sequence[str]) -> Floats:
        keys = [digest(t) for t in texts]
        found = await anyio.to_thread.run_sync(self._store.get, keys)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            vectors = await self._inner.embed([by_key[k] for k in missing])
            fresh = dict(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
            await anyio.to_thread.run_sync(self._store.put, fresh.items())
            found.update(fresh)
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._store.close)


class LookupEmbedder:
    """Answers from precomputed vectors only; an unknown text is an error.

    Lets a timing of the write or search path leave the model out. ``fallback`` (optional)
    embeds texts not in the table, e.g. real queries against a synthetic corpus.
    """

    def __init__(
        self,
        vectors: Mapping[str, Floats],
        *,
        model_name: str,
        dimension: int,
        fallback: Embedder | None = None,
    ) -> None:
        self._vectors = dict(vectors)
        self._model_name = model_name
        self._dimension = dimension
        self._fallback = fallback

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self._dimension

    def update(self, vectors: Mapping[str, Floats]) -> None:
        """Know these vectors too."""
        self._vectors.update(vectors)

    def replace(self, vectors: Mapping[str, Floats]) -> None:
        """Know only these vectors (keeps a 1M-memory build from holding every vector twice)."""
        self._vectors = dict(vectors)

    async def embed(self, texts: Sequence[str]) -> Floats:
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        unknown: list[int] = []
        for row, text in enumerate(texts):
            vector = self._vectors.get(text)
            if vector is None:
                unknown.append(row)
            else:
                out[row] = vector
        if unknown:
            if self._fallback is None:
                raise KeyError(f"LookupEmbedder has no vector for {texts[unknown[0]]!r}")
            out[unknown] = await self._fallback.embed([texts[i] for i in unknown])
        return out

    async def aclose(self) -> None:
        return None
