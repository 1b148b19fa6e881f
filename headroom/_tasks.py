"""Concurrent calls that fail like one call: the first error, as itself.

An anyio task group wraps its children's errors in an ExceptionGroup. Where the calls are
parts of one operation (the two halves of a search, the lanes of one embedding batch), the
caller expects the error a single call would raise (``EmbedderUnavailableError``, not a
group holding it); :func:`run_together` gives it that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

__all__ = ["run_together"]


async def run_together(*calls: Callable[[], Awaitable[None]]) -> None:
    """Run ``calls`` concurrently; the first to fail cancels the others and its error is
    raised as itself (not an ExceptionGroup)."""
    failures: list[Exception] = []

    async def guarded(call: Callable[[], Awaitable[None]], scope: anyio.CancelScope) -> None:
        try:
            await call()
        except Exception as exc:
            failures.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as group:
        for call in calls:
            group.start_soon(guarded, call, group.cancel_scope)
    if failures:
        raise failures[0]
