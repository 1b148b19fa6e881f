"""One suite every embedder passes: the local model, both HTTP backends, the cache, the fake.

The HTTP backends talk to a real loopback server (tests/embedding_servers.py) that embeds with
the bundled model, so they are checked end to end, JSON and sockets included.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import numpy as np
import pytest

import headroom.embedders
from headroom.embedders import (
    CachedEmbedder,
    Embedder,
    OllamaEmbedder,
    OnnxEmbedder,
    OpenAIEmbedder,
    embed_one,
)
from headroom.errors import ClosedError
from tests.embedding_servers import EmbeddingServer, running_server
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.anyio

TEXTS = [
    "The user's favourite colour is green.",
    "Meeting with the design team moved to Thursday at 3pm.",
    "",
    "Ünïcödé, emoji 🎉 and CJK 漢字 survive tokenisation.",
    "Prefers window seats on long flights.",
]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddingServer]:
    with running_server() as server:
        yield server


async def _onnx(server: EmbeddingServer) -> Embedder:
    return OnnxEmbedder()  # lazy: the first embed loads the model


async def _openai(server: EmbeddingServer) -> Embedder:
    return await OpenAIEmbedder.create("minilm-test", base_url=server.openai_url, api_key="k")


async def _ollama(server: EmbeddingServer) -> Embedder:
    return OllamaEmbedder("all-minilm", base_url=server.url)


async def _cached(server: EmbeddingServer) -> Embedder:
    return CachedEmbedder(OnnxEmbedder(), max_size=3)  # small: evictions happen in the suite


async def _hashing(server: EmbeddingServer) -> Embedder:
    return HashingEmbedder(dimension=64)


FACTORIES: dict[str, Callable[[EmbeddingServer], Awaitable[Embedder]]] = {
    "onnx": _onnx,
    "openai": _openai,
    "ollama": _ollama,
    "cached": _cached,
    "hashing": _hashing,
}


@pytest.fixture(params=sorted(FACTORIES))
async def embedder(
    request: pytest.FixtureRequest, server: EmbeddingServer
) -> AsyncIterator[Embedder]:
    server.reset()
    made = await FACTORIES[request.param](server)
    yield made
    await made.aclose()


async def test_satisfies_the_protocol(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert isinstance(embedder.model_name, str) and embedder.model_name
    assert isinstance(embedder.dimension, int) and embedder.dimension > 0


async def test_shape_dtype_and_unit_norm(embedder: Embedder) -> None:
    vectors = await embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dimension)
    assert vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


async def test_empty_input_gives_zero_rows(embedder: Embedder) -> None:
    vectors = await embedder.embed([])
    assert vectors.shape == (0, embedder.dimension)
    assert vectors.dtype == np.float32


async def test_deterministic_and_order_preserved(embedder: Embedder) -> None:
    first = await embedder.embed(TEXTS)
    again = await embedder.embed(TEXTS)
    np.testing.assert_allclose(first, again, atol=1e-6)
    backwards = await embedder.embed(TEXTS[::-1])
    np.testing.assert_allclose(backwards[::-1], first, atol=1e-5)


async def test_a_batch_equals_its_texts_one_by_one(embedder: Embedder) -> None:
    batch = await embedder.embed(TEXTS)
    singles = np.stack([await embed_one(embedder, text) for text in TEXTS])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


async def test_duplicates_in_a_batch_get_equal_rows(embedder: Embedder) -> None:
    vectors = await embedder.embed(["same text", "other", "same text"])
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)


async def test_returned_arrays_are_the_callers_own(embedder: Embedder) -> None:
    vectors = await embedder.embed(TEXTS[:2])
    expected = vectors.copy()
    vectors[:] = 0
    np.testing.assert_allclose(await embedder.embed(TEXTS[:2]), expected, atol=1e-6)


async def test_aclose_is_idempotent_and_use_after_close_raises(embedder: Embedder) -> None:
    await embedder.embed(["warm up"])
    await embedder.aclose()
    await embedder.aclose()
    with pytest.raises(ClosedError):
        await embedder.embed(["too late"])


def test_public_surface_is_exactly_all() -> None:
    names = headroom.embedders.__all__
    assert sorted(names) == sorted(set(names))
    for name in names:
        assert getattr(headroom.embedders, name) is not None
    assert set(dir(headroom.embedders)) == set(names)


def test_importing_the_package_loads_no_backend() -> None:
    code = (
        "import sys, headroom.embedders\n"
        "print([m for m in ('onnxruntime', 'tokenizers', 'httpx', 'usearch') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
