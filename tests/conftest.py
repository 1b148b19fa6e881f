from __future__ import annotations

import pytest

from tests.backends import backend, backend_config

__all__ = ["backend", "backend_config"]


@pytest.fixture
def anyio_backend() -> str:
    # asyncio is the supported loop (the wrapper and the sync portal run on it).
    return "asyncio"
