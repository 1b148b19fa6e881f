"""asyncpg's exceptions, and the socket errors under them, as headroom errors.

Every call into asyncpg runs inside :func:`translate_errors`, which re-raises what asyncpg
(or the network beneath it) raises as a :class:`~headroom.errors.HeadroomError` chained to
the original. The server's SQLSTATE decides the class: a server that is down, restarting or
refusing connections is :class:`DatabaseUnavailableError` (retry later), a value PostgreSQL
cannot store is :class:`ValidationError`, damaged data :class:`CorruptDatabaseError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import asyncpg

from headroom.errors import (
    ClosedError,
    ConfigError,
    CorruptDatabaseError,
    DatabaseLockedError,
    DatabaseUnavailableError,
    DimensionMismatchError,
    HeadroomError,
    StorageError,
    ValidationError,
)
from headroom.storage.postgres.migrations import DIMENSION_CHECK

__all__ = ["translate", "translate_errors"]

_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300", "58030")
"""Connection failures (class 08), administrator or crash shutdown, the server starting up,
too many connections, an I/O error: the server is not there to answer, for now."""


def _postgres_error(exc: asyncpg.PostgresError, what: str, where: str) -> HeadroomError:
    state = str(exc.sqlstate or "")
    message = f"{what}: {exc}"
    if state.startswith(_UNAVAILABLE_STATES) or isinstance(exc, asyncpg.PostgresConnectionError):
        return DatabaseUnavailableError(f"{what}: {where} is unavailable ({exc})")
    if state.startswith("28"):
        return StorageError(f"{what}: {where} refused the credentials ({exc})")
    if state == "3D000":
        return StorageError(f"{what}: {exc}; create the database first (createdb)")
    if state == "42501":
        return StorageError(f"{what}: permission denied ({exc}); see docs/scaling-out.md")
    if state == "25006":
        return StorageError(f"{what}: {where} is read-only ({exc}); writes need the primary")
    if state in ("XX001", "XX002"):
        return CorruptDatabaseError(f"{what}: {where} reports damaged data ({exc})")
    if state in ("55P03", "40P01", "40001"):
        return DatabaseLockedError(f"{what}: {where} is busy ({exc}); retry")
    if getattr(exc, "constraint_name", None) == DIMENSION_CHECK or (
        "dimensions" in str(exc) and state.startswith("22")
    ):
        return DimensionMismatchError(f"{what}: {exc}")
    if state.startswith("22") or state == "23505":
        return ValidationError(f"{what}: a value cannot be stored ({exc})")
    return StorageError(message)


def translate(exc: BaseException, what: str, where: str) -> HeadroomError | None:
    """``exc`` as a headroom error, or None when it is not asyncpg's nor the network's."""
    if isinstance(exc, HeadroomError):
        return None
    if isinstance(exc, asyncpg.PostgresError):
        return _postgres_error(exc, what, where)
    if isinstance(exc, asyncpg.exceptions.ClientConfigurationError):
        return ConfigError(f"{what}: {exc}")
    if isinstance(exc, asyncpg.DataError):
        return ValidationError(f"{what}: a value cannot be stored ({exc})")
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc)
        if "pool is clos" in text:
            return ClosedError(f"{what}: the store is closed")
        if "connection is closed" in text or "connection was closed" in text:
            return DatabaseUnavailableError(f"{what}: the connection to {where} was lost")
        return StorageError(f"{what}: {exc}")
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return StorageError(f"{what}: {exc}")
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        # Refused, reset, unreachable, no such socket, name not resolved, connect timeout.
        return DatabaseUnavailableError(
            f"{what}: cannot reach {where} ({exc or type(exc).__name__})"
        )
    if isinstance(exc, (OverflowError, UnicodeEncodeError)):
        return ValidationError(f"{what}: a value cannot be stored ({exc})")
    return None


@contextlib.contextmanager
def translate_errors(what: str, where: str) -> Iterator[None]:
    """Re-raise asyncpg and network errors as headroom errors, chained."""
    try:
        yield
    except Exception as exc:
        translated = translate(exc, what, where)
        if translated is None:
            raise
        raise translated from exc
