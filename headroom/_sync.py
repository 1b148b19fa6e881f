"""One background event loop for sync callers of the async core.

A sync ``OpenAI`` client, a script or a CLI command reaches :class:`HierarchicalMemory` through
one event loop running in a daemon thread (anyio's blocking portal), started on first use and
shared by everything in the process. It works from a plain script and from code that already
runs a loop (a Jupyter cell, a sync route of an async web framework), because the caller's
thread only waits for the portal's. ``asyncio.run`` per call would fail inside a running loop,
and would tie the engine's worker threads and locks to a loop that is gone after the call.

Resources opened on the portal (a memory) register an async cleanup with :func:`on_shutdown`.
The cleanups run before the interpreter joins non-daemon threads at exit, so a memory left open
is saved and closed rather than cut off, and never keeps the process alive.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["ShutdownHandle", "get_portal", "in_portal_thread", "on_shutdown", "run", "shutdown"]

logger = logging.getLogger("headroom")

_T = TypeVar("_T")

#: How long each cleanup may take at shutdown before it is abandoned.
_CLEANUP_TIMEOUT = 10.0

_lock = threading.RLock()
_portal: BlockingPortal | None = None
_portal_cm: contextlib.AbstractContextManager[BlockingPortal] | None = None
_portal_thread: threading.Thread | None = None
_cleanups: dict[int, Callable[[], Awaitable[None]]] = {}
_ids = itertools.count()
_exit_hook_installed = False


def get_portal() -> BlockingPortal:
    """The shared portal, started on first use (again after :func:`shutdown`)."""
    global _portal, _portal_cm, _portal_thread
    with _lock:
        if _portal is None:
            _install_exit_hook()
            cm = start_blocking_portal("asyncio", name="headroom-loop")
            portal = cm.__enter__()
            _portal_thread = portal.call(threading.current_thread)
            _portal, _portal_cm = portal, cm
        return _portal


def run(func: Callable[..., Awaitable[_T]], *args: Any) -> _T:
    """Run ``await func(*args)`` on the shared loop and return its result (or raise its error).

    Blocks the calling thread until it is done (inside a running loop, that loop waits too,
    as for any sync call). From the shared loop's own thread it would deadlock, so there it
    raises :class:`RuntimeError`.
    """
    portal = get_portal()
    if in_portal_thread():
        raise RuntimeError(
            "a sync headroom call was made from headroom's own event loop thread; "
            "use the async API there"
        )
    return portal.call(func, *args)


def in_portal_thread() -> bool:
    """Whether the caller runs on the shared loop's thread."""
    return _portal_thread is not None and threading.current_thread() is _portal_thread


class ShutdownHandle:
    """Returned by :func:`on_shutdown`; ``cancel()`` removes the cleanup (after running it
    yourself, typically)."""

    __slots__ = ("_key",)

    def __init__(self, key: int) -> None:
        self._key = key

    def cancel(self) -> None:
        with _lock:
            _cleanups.pop(self._key, None)


def on_shutdown(cleanup: Callable[[], Awaitable[None]]) -> ShutdownHandle:
    """Have ``await cleanup()`` run on the shared loop before it stops (at exit at the latest).

    Cleanups run newest first, like ``atexit``.
    """
    with _lock:
        key = next(_ids)
        _cleanups[key] = cleanup
        return ShutdownHandle(key)


def shutdown() -> None:
    """Run the pending cleanups and stop the shared loop. Safe to call twice; the next
    :func:`get_portal` starts a fresh loop."""
    global _portal, _portal_cm, _portal_thread
    with _lock:
        portal, cm = _portal, _portal_cm
        cleanups = list(reversed(_cleanups.values()))
        _cleanups.clear()
        _portal = _portal_cm = _portal_thread = None
    if portal is None or cm is None:
        return
    for cleanup in cleanups:
        try:
            portal.start_task_soon(cleanup).result(timeout=_CLEANUP_TIMEOUT)
        except Exception:
            logger.warning("a cleanup failed while headroom's event loop stopped", exc_info=True)
    cm.__exit__(None, None, None)


def _install_exit_hook() -> None:
    global _exit_hook_installed
    if _exit_hook_installed:
        return
    # threading's exit hooks run before non-daemon threads are joined; atexit's run after,
    # too late to close a memory cleanly. The hook is private API (used by
    # concurrent.futures since Python 3.9), so fall back to atexit if it ever goes away.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(shutdown)
    else:  # pragma: no cover - every supported Python has it
        atexit.register(shutdown)
    _exit_hook_installed = True


def _after_fork_in_child() -> None:
    # The loop thread does not exist in a forked child (and another thread may have held the
    # lock at the fork); start afresh there on first use.
    global _lock, _portal, _portal_cm, _portal_thread
    _lock = threading.RLock()
    _portal = _portal_cm = _portal_thread = None
    _cleanups.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
