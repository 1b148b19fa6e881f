"""run_together: concurrent calls that fail like one call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from headroom._tasks import run_together

pytestmark = pytest.mark.anyio


async def test_every_call_runs_to_its_end() -> None:
    done: list[int] = []

    def call(n: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await anyio.sleep(0.001 * n)
            done.append(n)

        return run

    await run_together(call(3), call(1), call(2))
    assert sorted(done) == [1, 2, 3]


async def test_the_first_failure_is_raised_as_itself_and_stops_the_others() -> None:
    finished: list[str] = []

    async def fails() -> None:
        raise KeyError("boom")

    async def waits() -> None:
        await anyio.sleep(30)  # cancelled long before
        finished.append("waits")

    with anyio.fail_after(10), pytest.raises(KeyError, match="boom"):
        await run_together(waits, fails)
    assert finished == []
