"""headroom._sync: one background loop for sync callers, from scripts and running loops alike."""

from __future__ import annotations

import asyncio
import threading

import anyio
import anyio.lowlevel
import pytest

from headroom import _sync


async def _thread_name() -> str:
    await anyio.lowlevel.checkpoint()
    return threading.current_thread().name


def test_one_shared_loop_from_any_thread_and_inside_a_running_loop() -> None:
    names = {_sync.run(_thread_name)}

    async def inside_a_loop() -> str:  # a Jupyter cell, a sync route of an async framework
        return _sync.run(_thread_name)

    names.add(asyncio.run(inside_a_loop()))
    worker: list[str] = []
    thread = threading.Thread(target=lambda: worker.append(_sync.run(_thread_name)))
    thread.start()
    thread.join()
    names.update(worker)
    assert names == {"headroom-loop"}


def test_errors_come_back_to_the_caller() -> None:
    async def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        _sync.run(fail)


def test_calling_from_the_loop_thread_itself_is_refused() -> None:
    async def reenter() -> None:
        _sync.run(_thread_name)

    with pytest.raises(RuntimeError, match="own event loop thread"):
        _sync.run(reenter)


def test_shutdown_runs_the_cleanups_newest_first_and_a_new_loop_starts_after() -> None:
    ran: list[str] = []

    def cleanup(name: str) -> _sync.ShutdownHandle:
        async def run() -> None:
            ran.append(name)

        return _sync.on_shutdown(run)

    cleanup("first")
    cleanup("cancelled").cancel()
    cleanup("second")
    _sync.get_portal()
    _sync.shutdown()
    _sync.shutdown()  # twice is fine
    assert ran == ["second", "first"]
    assert _sync.run(_thread_name) == "headroom-loop"
