"""MemoryConfig: every setting of the engine, validated on construction."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from headroom.errors import ConfigError

__all__ = ["EmbedderBackend", "MemoryConfig", "default_db_path", "default_db_url"]

#: The URL schemes that select the PostgreSQL backend.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_db_path() -> Path:
    """``$HEADROOM_DB`` if set, else ``~/.headroom/memory.db``."""
    env = os.environ.get("HEADROOM_DB")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".headroom" / "memory.db"


def default_db_url() -> str | None:
    """``$HEADROOM_DB_URL`` if set (a PostgreSQL URL), else None: the SQLite file."""
    return os.environ.get("HEADROOM_DB_URL") or None


class EmbedderBackend(str, enum.Enum):
    """Which embedder turns text into vectors."""

    LOCAL = "local"
    """all-MiniLM-L6-v2 (or any ONNX export) on this machine; the default."""
    OPENAI = "openai"
    """Any OpenAI-compatible ``/embeddings`` endpoint."""
    OLLAMA = "ollama"
    """An Ollama server's ``/api/embed``."""

    def __str__(self) -> str:
        return self.value


_DEFAULT_MODEL = {
    EmbedderBackend.LOCAL: "all-MiniLM-L6-v2",
    EmbedderBackend.OPENAI: "text-embedding-3-small",
    EmbedderBackend.OLLAMA: "nomic-embed-text",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryConfig:
    """Settings of a :class:`~headroom.memory.HierarchicalMemory`.

    ``vector_dimension`` defaults to the model's own dimension (384 for all-MiniLM-L6-v2); set
    it only to ask an OpenAI text-embedding-3 model for shorter vectors. ``embedder_model``
    defaults to the backend's usual model. ``db_url`` (a PostgreSQL URL) selects the PostgreSQL
    backend instead of the SQLite file at ``db_path``. Invalid values raise :class:`ConfigError`.
    """

    db_path: Path | str = field(default_factory=default_db_path)
    db_url: str | None = field(default_factory=default_db_url, repr=False)
    db_pool_size: int = 10
    db_statement_cache_size: int = 100
    vector_dimension: int | None = None
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 50
    cache_enabled: bool = True
    cache_max_size: int = 1000
    embedder_backend: EmbedderBackend | str = EmbedderBackend.LOCAL
    embedder_model: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    ollama_base_url: str = "http://localhost:11434"
    embedder_timeout: float = 30.0
    embedder_max_retries: int = 5
    embedder_threads: int = 2
    # = embedders.settings.DEFAULT_EMBEDDER_THREADS (not imported: config stays light).
    max_content_chars: int = 20_000
    max_metadata_bytes: int = 65_536
    max_query_chars: int = 4_000
    max_memories_per_answer: int = 20
    vector_weight: float = 1.0
    text_weight: float = 1.0
    exact_search_threshold: int = 2_048
    # = storage.sqlite.vector_plan.DEFAULT_EXACT_THRESHOLD (not imported: config stays light).
    # Beyond it the index plans HNSW or gathering by cost; 20,000 made a one-user search of 10,000
    # memories gather every vector (69 ms measured vs 3.7 ms; docs/performance.md).

    def __post_init__(self) -> None:
        object.__setattr__(self, "db_path", Path(self.db_path).expanduser())
        if self.db_url is not None:
            # Never echoed: a URL may carry a password.
            if not isinstance(self.db_url, str):
                raise ConfigError(f"db_url must be a string, got {type(self.db_url).__name__}")
            if not self.db_url.startswith(POSTGRES_SCHEMES):
                raise ConfigError(
                    "db_url must be a PostgreSQL URL: postgresql://user@host:5432/database"
                )
        try:
            backend = EmbedderBackend(self.embedder_backend)
        except ValueError:
            choices = ", ".join(b.value for b in EmbedderBackend)
            raise ConfigError(
                f"unknown embedder_backend {self.embedder_backend!r}; expected one of: {choices}"
            ) from None
        object.__setattr__(self, "embedder_backend", backend)
        if self.embedder_model is None:
            object.__setattr__(self, "embedder_model", _DEFAULT_MODEL[backend])
        elif not isinstance(self.embedder_model, str) or not self.embedder_model.strip():
            raise ConfigError("embedder_model must be a non-empty string")
        if self.vector_dimension is None:
            from headroom.embedders.models import known_dimension

            object.__setattr__(self, "vector_dimension", known_dimension(backend.value, self.model))
        _positive_int("vector_dimension", self.vector_dimension, allow_none=True)
        _positive_int("hnsw_m", self.hnsw_m)
        _positive_int("hnsw_ef_construction", self.hnsw_ef_construction)
        _positive_int("hnsw_ef_search", self.hnsw_ef_search)
        _positive_int("cache_max_size", self.cache_max_size)
        _positive_int("embedder_max_retries", self.embedder_max_retries, allow_zero=True)
        _positive_int("embedder_threads", self.embedder_threads)
        _positive_int("max_content_chars", self.max_content_chars)
        _positive_int("max_metadata_bytes", self.max_metadata_bytes)
        _positive_int("max_query_chars", self.max_query_chars)
        _positive_int("max_memories_per_answer", self.max_memories_per_answer, allow_zero=True)
        _positive_int("exact_search_threshold", self.exact_search_threshold, allow_zero=True)
        _positive_int("db_pool_size", self.db_pool_size)
        _positive_int("db_statement_cache_size", self.db_statement_cache_size, allow_zero=True)
        if not isinstance(self.cache_enabled, bool):
            raise ConfigError(f"cache_enabled must be a bool, got {self.cache_enabled!r}")
        for name in ("embedder_timeout",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        for name in ("vector_weight", "text_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{name} must be a non-negative number, got {value!r}")
        if self.vector_weight == 0 and self.text_weight == 0:
            raise ConfigError("vector_weight and text_weight cannot both be 0")
        if not str(self.ollama_base_url).startswith(("http://", "https://")):
            raise ConfigError(
                f"ollama_base_url must be an http(s) URL, got {self.ollama_base_url!r}"
            )
        if self.openai_base_url is not None and not str(self.openai_base_url).startswith(
            ("http://", "https://")
        ):
            raise ConfigError(
                f"openai_base_url must be an http(s) URL, got {self.openai_base_url!r}"
            )

    @property
    def path(self) -> Path:
        """``db_path`` as a :class:`~pathlib.Path`."""
        return Path(self.db_path)

    @property
    def location(self) -> str:
        """Where the memories live, for messages: the file, or the URL without its password."""
        if self.db_url is not None:
            from headroom._urls import redact

            return redact(self.db_url)
        return str(self.path)

    @property
    def backend(self) -> EmbedderBackend:
        """``embedder_backend`` as an :class:`EmbedderBackend`."""
        return EmbedderBackend(self.embedder_backend)

    @property
    def model(self) -> str:
        """``embedder_model``, resolved to the backend's default when not given."""
        return str(self.embedder_model)

    def with_changes(self, **changes: object) -> MemoryConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _positive_int(
    name: str, value: object, *, allow_zero: bool = False, allow_none: bool = False
) -> None:
    if value is None and allow_none:
        return
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{name} must be {kind} int, got {value!r}")
