"""Large batches in steps, so that no stretch of work holds the event loop for long.

A batch of any size is checked whole before anything is written (all or nothing), off the
loop when it is large, then embedded and committed :data:`WRITE_CHUNK` memories at a time:
each step is one embedding call and one transaction, and between steps the loop serves
everything else (searches, other writes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread

__all__ = ["INLINE_LIMIT", "WRITE_CHUNK", "Progress", "off_loop", "slices", "whole_groups"]

_T = TypeVar("_T")
_R = TypeVar("_R")

WRITE_CHUNK = 512
"""Memories embedded and committed per step. Measured: a step's work on the loop (building
the rows, updating the scope catalog) stays in single-digit milliseconds at this size."""

INLINE_LIMIT = 1_000
"""Pure work over at most this many items runs on the loop (a thread hop costs more than the
work); over more, in a worker thread, where it holds the loop for at most the interpreter's
thread switch interval at a time."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a long operation is: ``done`` of ``total`` memories."""

    done: int
    total: int


async def off_loop(size: int, work: Callable[[], _R]) -> _R:
    """``work()``, a pure function over a batch of ``size`` items, off the loop when large."""
    if size <= INLINE_LIMIT:
        return work()
    return await anyio.to_thread.run_sync(work)


def slices(items: Sequence[_T], size: int = WRITE_CHUNK) -> Iterator[Sequence[_T]]:
    """``items`` in consecutive chunks of ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def whole_groups(groups: Sequence[Sequence[_T]], size: int = WRITE_CHUNK) -> Iterator[list[_T]]:
    """The items of ``groups``, in order, in chunks of about ``size``; a group is never split
    (a supersession chain is committed whole), so a chunk may hold a longer group alone."""
    chunk: list[_T] = []
    for group in groups:
        if chunk and len(chunk) + len(group) > size:
            yield chunk
            chunk = []
        chunk.extend(group)
    if chunk:
        yield chunk
