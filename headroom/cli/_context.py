"""What every command works with: its parsed arguments, its streams, and the open memory."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from headroom.cli._errors import CliError, ExitCode
from headroom.cli._format import dumps
from headroom.memory import HierarchicalMemory, MemoryConfig

if TYPE_CHECKING:
    from headroom.embedders.base import Embedder

__all__ = ["Invocation", "open_memory"]


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
        try:
            if self.stdout.isatty():
                return shutil.get_terminal_size().columns
        except (AttributeError, ValueError):
            pass
        return None

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
            changes["db_path"] = self.args.db
        if self.args.embedder_model is not None:
            changes["embedder_model"] = self.args.embedder_model
        return MemoryConfig(**changes)


@asynccontextmanager
async def open_memory(
    invocation: Invocation, *, create: bool = False
) -> AsyncIterator[HierarchicalMemory]:
    """The memory at --db; a command that only reads never creates an empty database."""
    config = invocation.config()
    if not create and not config.path.exists():
        raise CliError(
            f"no database at {config.path}",
            ExitCode.NOT_FOUND,
            "check --db or $HEADROOM_DB; `headroom add` or `headroom import` creates one",
        )
    memory = await HierarchicalMemory.create(config, embedder=invocation.embedder)
    async with memory:
        yield memory
