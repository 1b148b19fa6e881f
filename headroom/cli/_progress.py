"""A progress bar on stderr, drawn only when stderr is a terminal.

Piped or redirected output (a script, CI, a log file) gets no carriage-return noise: the bar
is silent there and the command's result line says what was done.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TextIO

import anyio

__all__ = ["ProgressBar", "spinner"]

_REDRAW_EVERY = 0.1  # seconds: smooth enough, and cheap when updates come per item
_BAR_WIDTH = 30


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream
        return False


class ProgressBar:
    """``label [#####-----]  42%  420/1000  1.3s`` redrawn in place; ``close()`` ends the line."""

    def __init__(self, label: str, total: int, stream: TextIO, *, enabled: bool | None = None):
        self._label = label
        self._total = max(total, 0)
        self._stream = stream
        self._enabled = _is_tty(stream) if enabled is None else enabled
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._done = 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    def update(self, done: int, total: int | None = None) -> None:
        self._done = done
        if total is not None:
            self._total = total
        now = time.monotonic()
        if now - self._last_draw >= _REDRAW_EVERY or done >= self._total:
            self._last_draw = now
            self._draw()

    def render(self) -> str:
        elapsed = time.monotonic() - self._start
        if self._total <= 0:
            return f"{self._label}  {self._done}  {elapsed:.1f}s"
        fraction = min(self._done / self._total, 1.0)
        filled = round(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        return f"{self._label} [{bar}] {fraction:4.0%}  {self._done}/{self._total}  {elapsed:.1f}s"

    def _draw(self) -> None:
        if self._enabled:
            self._stream.write("\r\x1b[2K" + self.render())
            self._stream.flush()

    def close(self) -> None:
        if self._enabled:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()


_FRAMES = "|/-\\"


@asynccontextmanager
async def spinner(label: str, stream: TextIO) -> AsyncIterator[None]:
    """For work that reports no progress: a spinner and the elapsed time while it runs."""
    if not _is_tty(stream):
        yield
        return
    start = time.monotonic()

    async def spin() -> None:
        frame = 0
        while True:
            elapsed = time.monotonic() - start
            stream.write(f"\r\x1b[2K{label} {_FRAMES[frame % len(_FRAMES)]} {elapsed:.1f}s")
            stream.flush()
            frame += 1
            await anyio.sleep(_REDRAW_EVERY)

    async with anyio.create_task_group() as group:
        group.start_soon(spin)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
            stream.write(f"\r\x1b[2K{label} done in {time.monotonic() - start:.1f}s\n")
            stream.flush()
