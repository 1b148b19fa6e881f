"""Every error headroom raises, under one root.

::

    HeadroomError
    ├── ConfigError(ValueError)               a MemoryConfig or argument that cannot work
    ├── ValidationError(ValueError)           bad input to an operation; nothing was stored
    ├── NotFoundError(KeyError)               no memory with that id
    ├── SupersededError                       the memory is no longer current (names the head)
    ├── ClosedError(RuntimeError)             the resource was used after aclose()
    ├── DependencyError(ImportError)          a dependency is missing (says what to install)
    ├── StorageError                          the database or an index failed
    │   ├── DatabaseLockedError               the database stayed busy past the timeout
    │   ├── DatabaseUnavailableError          the database server cannot be reached (retry later)
    │   ├── CorruptDatabaseError              the database file is unreadable (never overwritten)
    │   ├── SchemaVersionError                the database was written by a newer headroom
    │   ├── MissingDatabaseError(FileNotFoundError)  no database there (nothing was created)
    │   ├── ReadOnlyError                     a write to a memory opened read-only
    │   └── DiskFullError                     no room left on the disk (nothing was stored)
    ├── EmbedderError                         an embedder failed
    │   ├── DimensionMismatchError(ValueError) vectors of another model or dimension
    │   ├── InvalidEmbeddingError(ValueError) NaN, infinite, zero or misshapen vectors
    │   ├── EmbedderUnavailableError          server unreachable, timed out or retries exhausted
    │   ├── EmbedderAuthError                 the server refused the credentials
    │   ├── EmbedderModelNotFoundError        the server does not know the model
    │   └── EmbedderResponseError             the server answered something unreadable
    └── MemoryBlockError(ValueError)          a <memory> block could not be parsed (wrapper, strict)

Backend exceptions (sqlite3, asyncpg, httpx, onnxruntime, usearch) are translated where they
are raised and chained with ``raise ... from exc``; none escapes untranslated.
"""

from __future__ import annotations

__all__ = [
    "ClosedError",
    "ConfigError",
    "CorruptDatabaseError",
    "DatabaseLockedError",
    "DatabaseUnavailableError",
    "DependencyError",
    "DiskFullError",
    "DimensionMismatchError",
    "EmbedderAuthError",
    "EmbedderError",
    "EmbedderModelNotFoundError",
    "EmbedderResponseError",
    "EmbedderUnavailableError",
    "HeadroomError",
    "InvalidEmbeddingError",
    "MemoryBlockError",
    "MissingDatabaseError",
    "NotFoundError",
    "ReadOnlyError",
    "SchemaVersionError",
    "StorageError",
    "SupersededError",
    "ValidationError",
]


class HeadroomError(Exception):
    """The root of every error headroom raises."""


class ConfigError(HeadroomError, ValueError):
    """A configuration value or argument combination that cannot work."""


class ValidationError(HeadroomError, ValueError):
    """Bad input to an operation. Nothing was stored."""


class NotFoundError(HeadroomError, KeyError):
    """No memory with the given id."""

    def __init__(self, memory_id: str) -> None:
        super().__init__(memory_id)
        self.memory_id = memory_id

    def __str__(self) -> str:
        return f"no memory with id {self.memory_id!r}"


class SupersededError(HeadroomError):
    """The memory was already superseded; only the head of a chain can be superseded."""

    def __init__(self, memory_id: str, head_id: str) -> None:
        super().__init__(memory_id, head_id)
        self.memory_id = memory_id
        self.head_id = head_id

    def __str__(self) -> str:
        return (
            f"memory {self.memory_id!r} is no longer current; "
            f"the current version is {self.head_id!r}"
        )


class ClosedError(HeadroomError, RuntimeError):
    """The resource was used after ``aclose()``."""


class DependencyError(HeadroomError, ImportError):
    """An optional dependency is missing; the message says what to install."""


class StorageError(HeadroomError):
    """The database or an index failed."""


class DatabaseLockedError(StorageError):
    """The database stayed locked by another writer for longer than the busy timeout."""


class DatabaseUnavailableError(StorageError):
    """The database server cannot be reached: down, restarting, or refusing connections.

    Nothing of the failed operation was acknowledged; the engine reconnects by itself once
    the server is back, so the operation can be retried.
    """


class CorruptDatabaseError(StorageError):
    """The database file is unreadable. headroom never overwrites it."""


class SchemaVersionError(StorageError):
    """The database was written by a newer version of headroom."""


class MissingDatabaseError(StorageError, FileNotFoundError):
    """No database at the path (a read-only opening never creates one)."""


class ReadOnlyError(StorageError):
    """A write to a memory opened read-only."""


class DiskFullError(StorageError):
    """The disk holding the database or its index is full. Nothing of the operation was stored."""


class EmbedderError(HeadroomError):
    """An embedder failed."""


class DimensionMismatchError(EmbedderError, ValueError):
    """Vectors of another model or dimension than the database holds."""


class InvalidEmbeddingError(EmbedderError, ValueError):
    """An embedder returned NaN, infinite, all-zero or misshapen vectors."""


class EmbedderUnavailableError(EmbedderError):
    """The embedding server could not be reached, timed out, or kept failing after retries."""


class EmbedderAuthError(EmbedderError):
    """The embedding server refused the credentials."""


class EmbedderModelNotFoundError(EmbedderError):
    """The embedding server does not know the model (for Ollama: it is not pulled)."""


class EmbedderResponseError(EmbedderError):
    """The embedding server answered with something that is not a valid response."""


class MemoryBlockError(HeadroomError, ValueError):
    """A ``<memory>`` block in a model's answer could not be parsed."""
