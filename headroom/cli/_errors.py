"""Exit codes, and the message and hint a person sees for each kind of failure.

Every failure ends as one ``headroom: error: ...`` line on stderr (plus a ``hint:`` line when
there is something to do about it) and a documented exit code; never a traceback.
"""

from __future__ import annotations

import enum

from headroom import errors

__all__ = ["CliError", "ExitCode", "describe"]


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1
    """The operation failed: storage, embedder, a bad file to import, ..."""
    USAGE = 2
    """The command line is wrong: unknown option, missing argument, invalid value."""
    NOT_FOUND = 3
    """No memory with that id, or no database at that path."""
    CONFLICT = 4
    """The memory is no longer current, or the ids to import are already stored."""
    LOCKED = 5
    """Another process kept the database locked (busy) past the timeout; try again."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT, as shells report it)."""


class CliError(Exception):
    """A failure the CLI itself detects, with its exit code and an optional hint."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.hint = hint


_EMBEDDER_FLAGS = (
    "open the database with the embedder it was built with: --embedder BACKEND "
    "--embedder-model NAME (or HEADROOM_EMBEDDER / HEADROOM_EMBEDDER_MODEL); to switch "
    "it to another embedder, `headroom reembed --to BACKEND`"
)

# Most specific first: the first class the error is an instance of wins.
_TABLE: tuple[tuple[type[errors.HeadroomError], ExitCode, str | None], ...] = (
    (errors.NotFoundError, ExitCode.NOT_FOUND, "list the ids with `headroom list --all`"),
    (
        errors.SupersededError,
        ExitCode.CONFLICT,
        "act on the current version; `headroom history ID` shows the chain",
    ),
    (
        errors.DatabaseLockedError,
        ExitCode.LOCKED,
        "another program held a long write on the database; try again in a moment",
    ),
    (errors.MissingDatabaseError, ExitCode.NOT_FOUND, "check --db or $HEADROOM_DB"),
    (
        errors.ReadOnlyError,
        ExitCode.ERROR,
        "the database (or its folder) is read-only here: copy it somewhere writable",
    ),
    (errors.DiskFullError, ExitCode.ERROR, "free some space on that disk, then try again"),
    (
        errors.CorruptDatabaseError,
        ExitCode.ERROR,
        "headroom never overwrites it; restore a backup or import an export into a new --db",
    ),
    (errors.SchemaVersionError, ExitCode.ERROR, "upgrade headroom: pip install -U headroom"),
    (errors.DimensionMismatchError, ExitCode.ERROR, _EMBEDDER_FLAGS),
    (
        errors.EmbedderAuthError,
        ExitCode.ERROR,
        "check the API key (OPENAI_API_KEY for the openai embedder)",
    ),
    (
        errors.EmbedderModelNotFoundError,
        ExitCode.ERROR,
        "check --embedder-model; for Ollama, `ollama pull MODEL` first",
    ),
    (
        errors.EmbedderUnavailableError,
        ExitCode.ERROR,
        "is the embedding server running and reachable? (OPENAI_BASE_URL, or Ollama on "
        "localhost:11434)",
    ),
    (errors.ValidationError, ExitCode.USAGE, None),
    (errors.ConfigError, ExitCode.USAGE, None),
)


def describe(exc: errors.HeadroomError) -> tuple[ExitCode, str, str | None]:
    """The exit code, message and hint for an engine error."""
    for kind, code, hint in _TABLE:
        if isinstance(exc, kind):
            return code, str(exc), hint
    return ExitCode.ERROR, str(exc), None
