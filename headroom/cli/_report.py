"""The demo's printout: numbered steps, each headed by how long it took."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Report", "duration"]


class Report:
    """Prints each step's lines under a header that carries the step's duration."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._number = 0
        self._lines: list[str] = []

    def line(self, text: str = "") -> None:
        self._lines.append(text)

    def say(self, text: str = "") -> None:
        self._out.write(text + "\n")
        self._out.flush()

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        # Buffered so the header, printed first, can show how long the step took.
        self._number += 1
        self._lines = []
        start = time.perf_counter()
        yield
        took = duration(time.perf_counter() - start)
        header = f"{self._number}. {title} "
        self.say(f"\n{header}{'.' * max(3, 68 - len(header))} {took}")
        for text in self._lines:
            self.say(f"   {text}")


def duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"
