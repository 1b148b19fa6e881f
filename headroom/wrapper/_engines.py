"""The memories wrapped clients open, shared per database, configuration and event loop.

An application routinely wraps several clients over the default database: one per user, or
a new one per request. Clients that open the same database with the same configuration and
embedder on the same event loop share one engine, counted: the last :func:`release` closes
it, so a new client per request costs no reopening. Any other client (another loop: a sync
client beside an async one; another configuration or embedder) opens an engine of its own:
engines over one database follow each other's writes, in one process as across processes.

Engines opened on headroom's background loop (by sync clients) are also closed when that
loop stops at exit; those of async clients that were never closed are closed at exit on a
fresh loop once theirs has stopped (with a ResourceWarning). Either way, a forgotten client
cannot keep the process alive: the engine's SQLite worker threads are not daemon threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from functools import partial

from headroom import _sync
from headroom.embedders.base import Embedder
from headroom.errors import ConfigError
from headroom.memory import HierarchicalMemory, MemoryConfig

__all__ = ["acquire", "release"]

logger = logging.getLogger("headroom.wrapper")

#: How long closing a forgotten engine at exit may take.
_EXIT_CLOSE_TIMEOUT = 10.0


@dataclass(eq=False)
class _Entry:
    config: MemoryConfig
    embedder: Embedder | None
    loop: asyncio.AbstractEventLoop
    users: int = 0
    engine: HierarchicalMemory | None = None
    error: BaseException | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    exit_handle: _sync.ShutdownHandle | None = None


_lock = threading.Lock()
_open: list[_Entry] = []
_exit_hook_installed = False


def _same(entry: _Entry, config: MemoryConfig, embedder: Embedder | None) -> bool:
    return entry.config == config and entry.embedder is embedder


async def acquire(config: MemoryConfig, embedder: Embedder | None) -> HierarchicalMemory:
    """An engine for ``config`` on the running loop: one this loop shares, or a new one."""
    loop = asyncio.get_running_loop()
    with _lock:
        entry = next(
            (e for e in _open if _same(e, config, embedder) and e.loop is loop),
            None,
        )
        if entry is None:
            # An async client left open across two asyncio.run calls: its loop is gone, so
            # nothing else can be using the engine, and this loop adopts it.
            entry = next(
                (e for e in _open if _same(e, config, embedder) and e.loop.is_closed()),
                None,
            )
            if entry is not None:
                entry.loop = loop
        opener = entry is None
        if entry is None:
            entry = _Entry(config, embedder, loop)
            _open.append(entry)
        entry.users += 1
    if opener:
        try:
            entry.engine = await HierarchicalMemory.create(config, embedder=embedder)
        except BaseException as exc:
            entry.error = exc
            with _lock:
                if entry in _open:
                    _open.remove(entry)
            raise
        finally:
            entry.ready.set()
        if _sync.in_portal_thread():
            entry.exit_handle = _sync.on_shutdown(partial(_close_at_shutdown, entry))
        else:
            _install_exit_hook()
    else:
        await entry.ready.wait()
        if entry.error is not None:
            raise ConfigError(f"opening {config.location} failed: {entry.error}") from entry.error
    assert entry.engine is not None
    return entry.engine


async def release(engine: HierarchicalMemory) -> None:
    """One user fewer; the last one closes the engine."""
    with _lock:
        entry = next((e for e in _open if e.engine is engine), None)
        if entry is None:
            return
        entry.users -= 1
        if entry.users > 0:
            return
        _open.remove(entry)
    if entry.exit_handle is not None:
        entry.exit_handle.cancel()
    await engine.aclose()


async def _close_at_shutdown(entry: _Entry) -> None:
    """headroom's loop is stopping: forget the engine (a new loop opens it afresh), close it."""
    with _lock:
        if entry in _open:
            _open.remove(entry)
    if entry.engine is not None:
        await entry.engine.aclose()


def _install_exit_hook() -> None:
    global _exit_hook_installed
    with _lock:
        if _exit_hook_installed:
            return
        _exit_hook_installed = True
    # As in headroom._sync: threading's hooks run before non-daemon threads are joined.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(_close_forgotten)


def _close_forgotten() -> None:
    """At exit: close the engines of async clients that were never closed.

    Only those whose loop has stopped: a loop still running (in another thread) owns its
    engine, and closing it from here would race with it.
    """
    with _lock:
        forgotten = [
            entry
            for entry in _open
            if entry.engine is not None
            and entry.exit_handle is None
            and not entry.loop.is_running()
        ]
        for entry in forgotten:
            _open.remove(entry)
    for entry in forgotten:
        assert entry.engine is not None
        key = entry.config.location
        warnings.warn(
            f"a with_memory client over {key} was never closed; its memory is closed at exit "
            "(use `async with` or `await client.close()`)",
            ResourceWarning,
            stacklevel=1,
        )
        try:
            asyncio.run(asyncio.wait_for(entry.engine.aclose(), _EXIT_CLOSE_TIMEOUT))
        except Exception:
            logger.warning("closing the memory %s at exit failed", key, exc_info=True)


def _after_fork_in_child() -> None:
    # The engines belong to the parent's threads and loops; a child opens its own.
    global _lock
    _lock = threading.Lock()
    _open.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
