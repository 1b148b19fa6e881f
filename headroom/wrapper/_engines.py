"""The memories wrapped clients open, shared per database file.

A database can be open once per process (the engine holds an exclusive lock on it), yet an
application routinely wraps several clients over the default database: one per user, or a
new one per request. So clients that open the same file share one engine, counted: the last
:func:`release` closes it. An engine belongs to the event loop that opened it (its SQLite
connection answers on that loop); a client on another loop asking for the same file gets a
:class:`ConfigError` that says so, rather than two loops driving one connection.

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
from pathlib import Path

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
_open: dict[Path | str, _Entry] = {}
_exit_hook_installed = False


def _key(config: MemoryConfig) -> Path | str:
    return config.db_url if config.db_url is not None else config.path.resolve()


async def acquire(config: MemoryConfig, embedder: Embedder | None) -> HierarchicalMemory:
    """The engine for ``config``'s database, opened on the running loop or shared."""
    loop = asyncio.get_running_loop()
    key = _key(config)
    with _lock:
        entry = _open.get(key)
        opener = entry is None
        if entry is None:
            entry = _open[key] = _Entry(config, embedder, loop)
        if entry.loop is not loop:
            if not entry.loop.is_closed():
                raise ConfigError(
                    f"{config.location} is already open on another event loop in this process "
                    "(a sync client's while this one is async, or the other way round); "
                    "use one kind of client per database"
                )
            # Its loop is gone (an async client left open across two asyncio.run calls):
            # nothing else can be using the engine, so this loop adopts it.
            entry.loop = loop
        if entry.config != config or entry.embedder is not embedder:
            raise ConfigError(
                f"{config.location} is already open with another configuration or embedder"
            )
        entry.users += 1
    if opener:
        try:
            entry.engine = await HierarchicalMemory.create(config, embedder=embedder)
        except BaseException as exc:
            entry.error = exc
            with _lock:
                _open.pop(key, None)
            raise
        finally:
            entry.ready.set()
        if _sync.in_portal_thread():
            entry.exit_handle = _sync.on_shutdown(partial(_close_at_shutdown, key, entry))
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
        key = _key(engine.config)
        entry = _open.get(key)
        if entry is None or entry.engine is not engine:
            return
        entry.users -= 1
        if entry.users > 0:
            return
        del _open[key]
    if entry.exit_handle is not None:
        entry.exit_handle.cancel()
    await engine.aclose()


async def _close_at_shutdown(key: Path | str, entry: _Entry) -> None:
    """headroom's loop is stopping: forget the engine (a new loop opens it afresh), close it."""
    with _lock:
        if _open.get(key) is entry:
            del _open[key]
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
            (key, entry)
            for key, entry in _open.items()
            if entry.engine is not None
            and entry.exit_handle is None
            and not entry.loop.is_running()
        ]
        for key, _ in forgotten:
            del _open[key]
    for key, entry in forgotten:
        assert entry.engine is not None
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
