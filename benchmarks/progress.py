"""Progress lines on stderr: a label, a count, a rate and an estimate of the time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "log"]


def log(message: str, *, stream: TextIO | None = None) -> None:
    """One line on stderr (or ``stream``), flushed."""
    print(message, file=stream or sys.stderr, flush=True)


class Progress:
    """Reports ``done / total`` at most every ``every`` seconds, and once at the end."""

    def __init__(self, label: str, total: int, *, every: float = 5.0) -> None:
        self.label = label
        self.total = total
        self.count = 0
        self._every = every
        self._started = time.perf_counter()
        self._last = self._started
        self._finished = False

    def advance(self, count: int = 1) -> None:
        self.count += count
        now = time.perf_counter()
        if now - self._last >= self._every:
            self._last = now
            log(self._line(now))

    def done(self) -> None:
        if not self._finished:
            self._finished = True
            log(self._line(time.perf_counter()) + " done")

    def _line(self, now: float) -> str:
        elapsed = now - self._started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.count) / rate if rate > 0 else float("nan")
        return (
            f"  {self.label}: {self.count:,}/{self.total:,} "
            f"({rate:,.0f}/s, {elapsed:.0f} s elapsed, ~{left:.0f} s left)"
        )
