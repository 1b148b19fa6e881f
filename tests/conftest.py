from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # asyncio is the supported loop (the wrapper and the sync portal run on it).
    return "asyncio"
