"""Helpers for the MCP tests: the installed ``headroom mcp`` over stdio and over HTTP.

Every server is the real command in its own process, reached through the official SDK's
client. An HTTP server listens on a port the system picks and prints its URL on stderr once
the memory is open; the tests read that line instead of waiting for a fixed time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcp import StdioServerParameters
from mcp.types import CallToolResult

__all__ = ["HEADROOM", "data", "error_text", "http_server", "stdio_params"]

HEADROOM = shutil.which("headroom", path=str(Path(sys.executable).parent)) or "headroom"
"""The console script this environment installed, as a host would run it."""


def stdio_params(db: Path, *args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    """``headroom mcp --db DB ARGS...`` as a host's configuration would start it."""
    return StdioServerParameters(
        command=HEADROOM, args=["mcp", "--db", str(db), *args], env=env or {}
    )


@contextmanager
def http_server(db: Path, *args: str) -> Iterator[str]:
    """``headroom mcp --http 127.0.0.1:0`` in a subprocess; yields its URL, stops it after."""
    process = subprocess.Popen(
        [HEADROOM, "mcp", "--db", str(db), "--http", "127.0.0.1:0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        lines: list[str] = []
        while True:  # blocks until the server says where it listens, or exits
            line = process.stderr.readline()
            if not line:
                raise AssertionError(f"headroom mcp exited first: {''.join(lines)}")
            lines.append(line)
            if " at http://" in line:
                yield line.rsplit(" at ", 1)[1].strip()
                break
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            process.stderr.close()
    assert process.returncode == 0, f"exit {process.returncode}: {''.join(lines)}"


def data(result: CallToolResult) -> dict[str, Any]:
    """A successful call's JSON result (its text and structured forms must agree)."""
    assert not result.is_error, error_text(result)
    text = result.content[0].text  # type: ignore[union-attr]
    parsed: dict[str, Any] = json.loads(text)
    assert parsed == result.structured_content
    return parsed


def error_text(result: CallToolResult) -> str:
    """A failed call's message."""
    return "\n".join(getattr(block, "text", "") for block in result.content)
