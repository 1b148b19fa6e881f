from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # aiosqlite builds asyncio futures: asyncio is the supported loop.
    return "asyncio"
