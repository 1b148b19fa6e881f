"""headroom, mem0 and Chroma behind one small synchronous interface, one local embedder.

Every engine embeds through the same function: headroom's bundled all-MiniLM-L6-v2 on
onnxruntime (one thread), behind the on-disk cache of the benchmarks for LongMemEval turns.
mem0 and Chroma are imported lazily (they exist only in the bench-peers environment).
mem0 runs with its local FAISS store and ``add(..., infer=False)``: no LLM is called; its
embedder is replaced by ours after construction (mem0 has no "bring your own function" hook,
and its own local providers would download a model).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import anyio.from_thread

from headroom.embedders.base import Embedder
from headroom.memory import HierarchicalMemory, MemoryConfig, NewMemory

__all__ = ["ENGINES", "Engine", "Portal", "SyncEmbed", "open_engine"]

Meta = dict[str, Any]
SyncEmbed = Callable[[Sequence[str]], list[list[float]]]


class Engine(Protocol):
    name: str

    def add(self, text: str, user: str, meta: Meta) -> None: ...

    def add_batch(self, texts: Sequence[str], user: str, metas: Sequence[Meta]) -> None: ...

    def fill(self, texts: Sequence[str], user: str, metas: Sequence[Meta]) -> None:
        """Store many memories the fastest way the engine offers (its batch call)."""
        ...

    def search(self, query: str, user: str, k: int) -> list[Meta]: ...

    def close(self) -> None: ...


class Portal:
    """Runs headroom's async calls on one background event loop (anyio's BlockingPortal)."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        manager: AbstractContextManager[Any] = anyio.from_thread.start_blocking_portal()
        self.portal: Any = self._stack.enter_context(manager)

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        return self.portal.call(func, *args)

    def close(self) -> None:
        self._stack.close()


class HeadroomEngine:
    name = "headroom"

    def __init__(self, folder: Path, embedder: Embedder, portal: Portal) -> None:
        self._portal = portal
        config = MemoryConfig(db_path=folder / "headroom.db")
        self._memory: HierarchicalMemory = portal.call(
            lambda: HierarchicalMemory.create(config, embedder=embedder)
        )

    def add(self, text: str, user: str, meta: Meta) -> None:
        self._portal.call(lambda: self._memory.add(text, user_id=user, metadata=meta))

    def add_batch(self, texts: Sequence[str], user: str, metas: Sequence[Meta]) -> None:
        items = [
            NewMemory(content=t, user_id=user, metadata=m)
            for t, m in zip(texts, metas, strict=True)
        ]
        self._portal.call(lambda: self._memory.add_many(items))

    fill = add_batch

    def search(self, query: str, user: str, k: int) -> list[Meta]:
        hits = self._portal.call(lambda: self._memory.search(query, user_id=user, top_k=k))
        return [dict(h.memory.metadata) for h in hits]

    def close(self) -> None:
        self._portal.call(self._memory.aclose)


class _Mem0Embedder:
    """mem0's embedder interface (``embed(text, memory_action)``) over our function."""

    def __init__(self, embed: SyncEmbed) -> None:
        self._embed = embed

    def embed(self, text: str, memory_action: str | None = None) -> list[float]:
        return self._embed([text])[0]


class Mem0Engine:
    name = "mem0"

    def __init__(self, folder: Path, embed: SyncEmbed, dimension: int) -> None:
        os.environ.setdefault("MEM0_TELEMETRY", "False")
        os.environ.setdefault("OPENAI_API_KEY", "unused-no-llm-is-called")
        mem0: Any = importlib.import_module("mem0")
        config = {
            "vector_store": {
                "provider": "faiss",
                "config": {
                    "collection_name": "bench",
                    "path": str(folder / "faiss"),
                    "embedding_model_dims": dimension,
                    "distance_strategy": "cosine",
                },
            },
            "history_db_path": str(folder / "mem0-history.db"),
        }
        self._memory: Any = mem0.Memory.from_config(config)
        self._embed_many = embed
        self._memory.embedding_model = _Mem0Embedder(embed)

    def add(self, text: str, user: str, meta: Meta) -> None:
        self._memory.add(text, user_id=user, metadata=meta, infer=False)

    def add_batch(self, texts: Sequence[str], user: str, metas: Sequence[Meta]) -> None:
        for text, meta in zip(texts, metas, strict=True):  # mem0 has no batch add
            self.add(text, user, meta)

    def fill(self, texts: Sequence[str], user: str, metas: Sequence[Meta]) -> None:
        # mem0 has no batch add, and each add saves the whole FAISS index and document store:
        # one batch insert into its vector store, with the payload its add(infer=False) writes.
        lemmatize: Any = importlib.import_module("mem0.utils.lemmatization").lemmatize_for_bm25
        now = datetime.now(timezone.utc).isoformat()
        payloads = [
            {
                **meta,
                "user_id": user,
                "role": "user",
                "data": text,
                "hash": hashlib.md5(text.encode()).hexdigest(),
                "created_at": now,
                "updated_at": now,
                "text_lemmatized": lemmatize(text),
            }
            for text, meta in zip(texts, metas, strict=True)
        ]
        vectors = self._embed_many(texts)
        ids = [str(uuid.uuid4()) for _ in texts]
        self._memory.vector_store.insert(vectors=vectors, payloads=payloads, ids=ids)

    def search(self, query: str, user: str, k: int) -> list[Meta]:
        try:  # mem0 >= 2: entity ids go in filters; the default 0.1 threshold would drop hits
            found = self._memory.search(query, top_k=k, filters={"user_id": user}, threshold=0.0)
        except TypeError:  # mem0 1.x
            found = self._memory.search(query, user_id=user, limit=k)
        results = found["results"] if isinstance(found, dict) else found
        return [dict(r.get("metadata") or {}) for r in results]

    def close(self) -> None:
        closer = getattr(self._memory, "close", None)
        if callable(closer):
            closer()


class ChromaEngine:
    name = "chroma"

    def __init__(self, folder: Path, embed: SyncEmbed) -> None:
        chromadb: Any = importlib.import_module("chromadb")
        settings: Any = importlib.import_module("chromadb.config").Settings(
            anonymized_telemetry=False
        )
        self._client: Any = chromadb.PersistentClient(
            path=str(folder / "chroma"), settings=settings
        )

        class OurEmbedding(chromadb.EmbeddingFunction):  # type: ignore[misc]
            def __init__(self) -> None:
                pass

            def __call__(self, input: Sequence[str]) -> list[list[float]]:
                return embed(list(input))

            @staticmethod
            def name() -> str:
                return "headroom-minilm"

        self._collection: Any = self._client.create_collection(
            "bench", embedding_function=OurEmbedding(), metadata={"hnsw:space": "cosine"}
        )
        self._next = 0

    def _ids(self, count: int) -> list[str]:
        ids = [str(self._next + i) for i in range(count)]
        self._next += count
        return ids

    def add(self, text: str, user: str, meta: Meta) -> None:
        self.add_batch([text], user, [meta])

    def add_batch(self, texts: Sequence[str], user: str, metas: Sequence[Meta]) -> None:
        self._collection.add(
            ids=self._ids(len(texts)),
            documents=list(texts),
            metadatas=[{**m, "user_id": user} for m in metas],
        )

    fill = add_batch

    def search(self, query: str, user: str, k: int) -> list[Meta]:
        found = self._collection.query(query_texts=[query], n_results=k, where={"user_id": user})
        return [dict(m) for m in found["metadatas"][0]]

    def close(self) -> None:
        return None


ENGINES = ("headroom", "mem0", "chroma")


def open_engine(
    name: str, embedder: Embedder, portal: Portal, folder: Path | None = None
) -> Engine:
    """A fresh engine in ``folder`` (a new temporary folder when None)."""
    folder = folder or Path(tempfile.mkdtemp(prefix=f"peer-{name}-"))

    def embed(texts: Sequence[str]) -> list[list[float]]:
        vectors = portal.call(embedder.embed, list(texts))
        rows: list[list[float]] = vectors.tolist()
        return rows

    if name == "headroom":
        return HeadroomEngine(folder, embedder, portal)
    if name == "mem0":
        return Mem0Engine(folder, embed, embedder.dimension)
    if name == "chroma":
        return ChromaEngine(folder, embed)
    raise ValueError(f"unknown engine {name!r}")
