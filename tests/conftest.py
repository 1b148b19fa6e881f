from __future__ import annotations

import pytest

from tests.backends import (
    backend,
    backend_config,
    new_config,
    postgres_config,
    postgres_server,
)

__all__ = ["backend", "backend_config", "new_config", "postgres_config", "postgres_server"]


@pytest.fixture
def anyio_backend() -> str:
    # asyncio is the supported loop (the wrapper and the sync portal run on it).
    return "asyncio"
