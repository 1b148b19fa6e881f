"""What every command works with: its parsed arguments, its streams, and the open memory."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from headroom.cli._errors import CliError, ExitCode
from headroom.cli._format import dumps
from headroom.memory import HierarchicalMemory, MemoryConfig

if TYPE_CHECKING:
    from headroom.embedders import Embedder

__all__ = [
    "Invocation",
    "check_database_path",
    "database_config",
    "is_database_url",
    "open_memory",
    "terminal_width",
]

_FALLBACK_COLUMNS = 80


def terminal_width(stream: TextIO) -> int | None:
    """Columns of the terminal ``stream`` writes to (``$COLUMNS`` wins); None if not a terminal.

    Asked of the stream itself, not of ``sys.__stdout__`` as ``shutil.get_terminal_size``
    does, so that it is right for the stream the table goes to.
    """
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):  # a closed or exotic stream
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or _FALLBACK_COLUMNS
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return _FALLBACK_COLUMNS


@dataclass(frozen=True, slots=True)
class Invocation:
    """One run of one command: arguments and streams (injected, so tests run in-process)."""

    args: argparse.Namespace
    stdout: TextIO
    stderr: TextIO
    stdin: TextIO
    embedder: Embedder | None = None
    """Replaces the embedder --embedder describes (see :func:`headroom.cli.main`)."""

    @property
    def json(self) -> bool:
        return bool(self.args.json)

    @property
    def width(self) -> int | None:
        """The terminal's width for tables; None (never cut) when the output is piped."""
        return terminal_width(self.stdout)

    def emit(self, data: Any, text: str) -> None:
        """The result: ``data`` as JSON with --json, else ``text``."""
        self.stdout.write((dumps(data) if self.json else text) + "\n")

    def note(self, text: str) -> None:
        """Something for the person, not the result: stderr, so pipes carry only results."""
        self.stderr.write(text + "\n")

    def user(self) -> str:
        user: str | None = self.args.user
        if not user:
            raise CliError(
                f"`headroom {self.args.command}` needs a user",
                ExitCode.USAGE,
                "pass --user ID or set HEADROOM_USER",
            )
        return user

    def config(self) -> MemoryConfig:
        changes: dict[str, Any] = {"embedder_backend": self.args.embedder}
        if self.args.db is not None:
            changes.update(_database_fields(self.args.db))
        if self.args.embedder_model is not None:
            changes["embedder_model"] = self.args.embedder_model
        return MemoryConfig(**changes)


def is_database_url(db: str | Path) -> bool:
    """Whether --db names a PostgreSQL database rather than a file."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def _database_fields(db: str | Path) -> dict[str, Any]:
    if is_database_url(db):
        return {"db_url": str(db)}
    return {"db_path": db, "db_url": None}  # a file given explicitly beats $HEADROOM_DB_URL


def database_config(db: str | Path) -> MemoryConfig:
    """The config of the database --db names: a PostgreSQL URL or a file."""
    return MemoryConfig(**_database_fields(db))


def check_database_path(given: str | Path) -> Path:
    """The path, with ``~`` expanded; a directory is refused (SQLite says "unable to open")."""
    path = Path(given).expanduser()
    if path.is_dir():
        raise CliError(
            f"the database path {path} is a directory, not a database file",
            ExitCode.USAGE,
            f"pass the file's path, e.g. --db {path / 'memory.db'} (or set HEADROOM_DB)",
        )
    return path


@asynccontextmanager
async def open_memory(
    invocation: Invocation, *, create: bool = False, read_only: bool = False
) -> AsyncIterator[HierarchicalMemory]:
    """The memory at --db; a command that only reads never creates an empty database.

    ``read_only`` opens it without changing anything (and loads the model only if the
    command searches): it works while an application has the database open, and on a
    read-only file.
    """
    config = invocation.config()
    if config.db_url is None:
        check_database_path(config.path)
    if config.db_url is None and not create and not config.path.exists():
        raise CliError(
            f"no database at {config.path}",
            ExitCode.NOT_FOUND,
            "check --db or $HEADROOM_DB; `headroom add` or `headroom import` creates one",
        )
    memory = await HierarchicalMemory.create(
        config, embedder=invocation.embedder, read_only=read_only
    )
    async with memory:
        yield memory
