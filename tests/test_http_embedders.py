"""The OpenAI and Ollama embedders against a real loopback server that misbehaves on cue.

Every failure maps to its documented error, retries honour Retry-After, and the API key never
shows up anywhere a user or a log collector could read it.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from headroom.embedders import CachedEmbedder, OllamaEmbedder, OpenAIEmbedder, create_embedder
from headroom.embedders._http import RetryPolicy, parse_retry_after
from headroom.embedders.base import Embedder
from headroom.errors import (
    ConfigError,
    DimensionMismatchError,
    EmbedderAuthError,
    EmbedderError,
    EmbedderModelNotFoundError,
    EmbedderResponseError,
    EmbedderUnavailableError,
    InvalidEmbeddingError,
)
from headroom.memory.config import MemoryConfig
from tests.embedding_servers import EmbeddingServer, Fault, running_server

pytestmark = pytest.mark.anyio

SECRET = "sk-test-Zq8XwV3nR7tK2mL9pQ4s"
TEXTS = ["The cat sits on the mat.", "A kitten is resting on a rug.", "Revenue grew."]
BOTH = pytest.mark.parametrize("kind", ["openai", "ollama"])


@pytest.fixture(scope="module")
def module_server() -> Iterator[EmbeddingServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def server(module_server: EmbeddingServer) -> EmbeddingServer:
    module_server.reset()
    return module_server


@asynccontextmanager
async def open_embedder(
    kind: str, server: EmbeddingServer, *, max_retries: int = 3, timeout: float = 5.0
) -> AsyncIterator[Embedder]:
    embedder: OpenAIEmbedder | OllamaEmbedder
    if kind == "openai":
        embedder = OpenAIEmbedder(
            "text-embedding-3-small",
            base_url=server.openai_url,
            api_key=SECRET,
            dimensions=384,
            max_retries=max_retries,
            request_timeout=timeout,
            backoff=0.01,
        )
    else:
        embedder = OllamaEmbedder(
            "all-minilm",
            base_url=server.url,
            max_retries=max_retries,
            request_timeout=timeout,
            backoff=0.01,
        )
    async with embedder:
        yield embedder


# -- retries -------------------------------------------------------------------------------


@BOTH
async def test_429_is_retried_after_the_wait_it_asks_for(
    kind: str, server: EmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Fault(status=429, headers={"Retry-After": "0.2"}, body={"error": "slow down"}))
    async with open_embedder(kind, server) as embedder:
        started = time.monotonic()
        vectors = await embedder.embed(TEXTS)
        assert time.monotonic() - started >= 0.2
    assert vectors.shape == (3, 384)
    assert len(server.requests) == 2
    assert "answered 429: slow down; retry 1 of 3 in 0.20s" in caplog.text


@BOTH
async def test_5xx_dropped_connections_and_timeouts_are_retried(
    kind: str, server: EmbeddingServer
) -> None:
    server.script(
        Fault(status=500, headers={"Retry-After": "0"}),
        Fault(status=503, headers={"Retry-After": "0"}),
        Fault(drop=True),
        # Far past the timeout, which leaves the answers that follow time to come on a loaded
        # machine: a tight timeout made the successful attempt time out too, now and then.
        Fault(delay=30.0),
    )
    async with open_embedder(kind, server, max_retries=4, timeout=2.0) as embedder:
        vectors = await embedder.embed(TEXTS)
    assert len(server.requests) == 5
    assert vectors.shape == (3, 384)


@BOTH
async def test_retries_run_out(kind: str, server: EmbeddingServer) -> None:
    server.script(*[Fault(status=502, headers={"Retry-After": "0.01"})] * 3)
    async with open_embedder(kind, server, max_retries=2) as embedder:
        with pytest.raises(EmbedderUnavailableError, match=r"502.*gave up after 3 attempts"):
            await embedder.embed(TEXTS)
    assert len(server.requests) == 3


@BOTH
async def test_a_timeout_is_unavailable_and_chains_the_httpx_error(
    kind: str, server: EmbeddingServer
) -> None:
    server.script(Fault(delay=0.5))
    async with open_embedder(kind, server, max_retries=0, timeout=0.1) as embedder:
        with pytest.raises(EmbedderUnavailableError, match=r"timed out after 0\.1s") as caught:
            await embedder.embed(TEXTS)
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


async def test_a_server_asking_for_too_long_a_wait_is_unavailable(
    server: EmbeddingServer,
) -> None:
    server.script(Fault(status=429, headers={"Retry-After": "3600"}))
    async with open_embedder("openai", server) as embedder:
        with pytest.raises(EmbedderUnavailableError, match="asked to wait 3600s"):
            await embedder.embed(TEXTS)
    assert len(server.requests) == 1


async def test_an_http_date_retry_after(server: EmbeddingServer) -> None:
    past = format_datetime(datetime.now(timezone.utc) - timedelta(seconds=5), usegmt=True)
    server.script(Fault(status=503, headers={"Retry-After": past}))
    async with open_embedder("openai", server) as embedder:
        await embedder.embed(TEXTS)
    assert len(server.requests) == 2


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.05") == 0.05
    assert parse_retry_after(later, now=now.timestamp()) == 30.0
    assert parse_retry_after(format_datetime(now, usegmt=True), now=now.timestamp() + 9) == 0.0
    for junk in (None, "", "soon", "nan"):
        assert parse_retry_after(junk) is None


def test_backoff_has_full_jitter_under_a_doubling_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    for attempt, cap in ((0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0), (9, 3.0)):
        delays = [policy.delay(attempt, None) for _ in range(200)]
        assert all(d is not None and 0 <= d <= cap for d in delays)
        assert max(d for d in delays if d is not None) > cap / 2  # spread, not a constant
    assert policy.delay(0, 7.0) == 7.0
    assert policy.delay(0, 61.0) is None


# -- failures that are not retried ----------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (Fault(raw=b"{not json"), EmbedderResponseError, "not JSON"),
        (Fault(status=200, body={"unexpected": []}), EmbedderResponseError, "answered without"),
        (Fault(dimension=100), DimensionMismatchError, "dimension 100, expected 384"),
        (Fault(nan=True), InvalidEmbeddingError, "NaN"),
        (Fault(status=401, body={"error": "who are you"}), EmbedderAuthError, "who are you"),
        (Fault(status=403), EmbedderAuthError, "403"),
        (Fault(status=400, body={"error": "input too long"}), EmbedderResponseError, "too long"),
    ],
)
async def test_each_failure_maps_to_its_error(
    kind: str, fault: Fault, error: type[EmbedderError], message: str, server: EmbeddingServer
) -> None:
    server.script(fault)
    async with open_embedder(kind, server) as embedder:
        with pytest.raises(error, match=message):
            await embedder.embed(TEXTS)
    assert len(server.requests) == 1  # not retried


async def test_openai_wrong_indices_are_a_response_error(server: EmbeddingServer) -> None:
    data = [{"index": 0, "embedding": [1.0] * 384}, {"index": 0, "embedding": [1.0] * 384}]
    server.script(Fault(status=200, body={"data": data}))
    async with open_embedder("openai", server) as embedder:
        with pytest.raises(EmbedderResponseError, match="indices"):
            await embedder.embed(TEXTS[:2])


async def test_openai_unknown_model(server: EmbeddingServer) -> None:
    async with OpenAIEmbedder(
        "text-embedding-3-large", base_url=server.openai_url, api_key="k"
    ) as embedder:
        with pytest.raises(EmbedderModelNotFoundError, match="text-embedding-3-large"):
            await embedder.embed(TEXTS)
    with pytest.raises(EmbedderModelNotFoundError, match="no-such-model"):
        await OpenAIEmbedder.create("no-such-model", base_url=server.openai_url, api_key="k")


async def test_a_404_without_a_model_message_suggests_the_base_url(
    server: EmbeddingServer,
) -> None:
    async with OpenAIEmbedder("minilm-test", base_url=server.url, native_dimension=384) as e:
        with pytest.raises(EmbedderModelNotFoundError, match="base URL"):
            await e.embed(TEXTS)  # forgot the /v1


async def test_unreachable_and_misconfigured_servers_are_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    async with OllamaEmbedder(
        base_url=f"http://127.0.0.1:{port}", max_retries=1, backoff=0.01
    ) as embedder:
        with pytest.raises(EmbedderUnavailableError, match=r"unreachable.*2 attempts") as caught:
            await embedder.embed(TEXTS)
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
    async with OpenAIEmbedder(base_url="ftp://127.0.0.1/v1", api_key="k") as embedder:
        with pytest.raises(EmbedderUnavailableError, match="UnsupportedProtocol"):
            await embedder.embed(TEXTS)


# -- Ollama ---------------------------------------------------------------------------------


async def test_ollama_model_not_pulled(server: EmbeddingServer) -> None:
    async with OllamaEmbedder("mxbai-embed-large", base_url=server.url) as embedder:
        with pytest.raises(EmbedderModelNotFoundError, match="ollama pull mxbai-embed-large"):
            await embedder.embed(TEXTS)
    with pytest.raises(EmbedderModelNotFoundError, match="ollama pull my-embedder"):
        await OllamaEmbedder.create("my-embedder", base_url=server.url)


async def test_old_ollama_falls_back_to_one_prompt_at_a_time(server: EmbeddingServer) -> None:
    async with OllamaEmbedder("all-minilm", base_url=server.url) as modern:
        expected = await modern.embed(TEXTS * 3)
    server.reset()
    server.legacy_ollama = True
    async with OllamaEmbedder("all-minilm", base_url=server.url, concurrency=2) as old:
        np.testing.assert_allclose(await old.embed(TEXTS * 3), expected, atol=1e-5)
        assert "legacy" in repr(old)
        await old.embed(["again"])
    paths = [r.path for r in server.requests]
    assert paths.count("/api/embed") == 1  # probed once, then remembered
    assert paths.count("/api/embeddings") == 10
    assert server.max_in_flight <= 2


async def test_a_405_also_means_old_ollama(server: EmbeddingServer) -> None:
    server.script(Fault(status=405, body=b"Method Not Allowed"))
    async with OllamaEmbedder("all-minilm", base_url=server.url) as embedder:
        assert (await embedder.embed(TEXTS)).shape == (3, 384)
    assert [r.path for r in server.requests] == ["/api/embed"] + ["/api/embeddings"] * 3


async def test_old_ollama_model_not_pulled(server: EmbeddingServer) -> None:
    server.legacy_ollama = True
    async with OllamaEmbedder("nomic-embed-text", base_url=server.url) as embedder:
        with pytest.raises(EmbedderModelNotFoundError, match="ollama pull nomic-embed-text"):
            await embedder.embed(TEXTS)


async def test_ollama_probes_an_unknown_models_dimension(server: EmbeddingServer) -> None:
    with pytest.raises(ConfigError, match="create"):
        OllamaEmbedder("minilm-test", base_url=server.url)
    async with await OllamaEmbedder.create("minilm-test", base_url=server.url) as embedder:
        assert embedder.dimension == 384
    assert len(server.requests) == 1


# -- OpenAI: batching, dimensions, Azure, configuration ------------------------------------


async def test_batches_are_split_and_bounded(server: EmbeddingServer) -> None:
    texts = [f"text number {i}" for i in range(10)]
    server.script(*[Fault(delay=0.1)] * 4)
    async with OpenAIEmbedder(
        "minilm-test",
        base_url=server.openai_url,
        api_key="k",
        native_dimension=384,
        batch_size=3,
        concurrency=2,
    ) as embedder:
        split = await embedder.embed(texts)
    assert sorted(r.batch_size for r in server.requests) == [1, 3, 3, 3]
    assert server.max_in_flight == 2
    async with OllamaEmbedder("all-minilm", base_url=server.url) as whole:
        np.testing.assert_allclose(split, await whole.embed(texts), atol=1e-5)


async def test_dimensions_is_sent_only_when_it_changes_something(
    server: EmbeddingServer,
) -> None:
    async with OpenAIEmbedder(
        "text-embedding-3-small", base_url=server.openai_url, api_key="k", dimensions=256
    ) as short:
        vectors = await short.embed(TEXTS)
    assert short.dimension == 256 and vectors.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert server.requests[-1].body["dimensions"] == 256
    assert server.requests[-1].body["encoding_format"] == "float"
    async with await OpenAIEmbedder.create(
        "minilm-test", base_url=server.openai_url, api_key="k"
    ) as native:
        await native.embed(TEXTS)
    assert "dimensions" not in server.requests[-1].body
    with pytest.raises(ConfigError, match="at most 1536"):
        OpenAIEmbedder("text-embedding-3-small", api_key="k", dimensions=4096)


async def test_create_embedder_from_config(server: EmbeddingServer, tmp_path: Path) -> None:
    config = MemoryConfig(
        db_path=tmp_path / "m.db",
        embedder_backend="openai",
        embedder_model="text-embedding-3-small",
        vector_dimension=256,
        openai_api_key="k",
        openai_base_url=server.openai_url,
    )
    embedder = await create_embedder(config)
    assert isinstance(embedder, CachedEmbedder) and embedder.dimension == 256
    await embedder.embed(TEXTS)
    await embedder.aclose()
    assert server.requests[-1].body["dimensions"] == 256
    ollama = config.with_changes(
        embedder_backend="ollama",
        embedder_model="minilm-test",
        vector_dimension=None,
        ollama_base_url=server.url,
        cache_enabled=False,
    )
    embedder = await create_embedder(ollama)
    assert isinstance(embedder, OllamaEmbedder) and embedder.dimension == 384
    await embedder.aclose()
    with pytest.raises(DimensionMismatchError, match=r"384, but vector_dimension is 512"):
        await create_embedder(ollama.with_changes(vector_dimension=512))


async def test_azure_uses_the_api_key_header_and_api_version(server: EmbeddingServer) -> None:
    async with OpenAIEmbedder(
        "text-embedding-3-small",
        base_url=f"{server.url}/openai/deployments/embed-small",
        api_key=SECRET,
        dimensions=384,
        azure_api_version="2024-06-01",
    ) as embedder:
        assert "azure" in repr(embedder)
        await embedder.embed(TEXTS)
    (request,) = server.requests
    assert request.path == "/openai/deployments/embed-small/embeddings"
    assert request.query == {"api-version": ["2024-06-01"]}
    assert request.headers["api-key"] == SECRET
    assert "authorization" not in request.headers
    host = OpenAIEmbedder(
        base_url="https://mine.openai.azure.com/openai/deployments/d", api_key="k"
    )
    assert "azure" in repr(host)
    await host.aclose()


async def test_key_and_base_url_from_the_environment(
    server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
    async with OpenAIEmbedder("text-embedding-3-small", dimensions=384) as embedder:
        await embedder.embed(TEXTS)
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIEmbedder()


# -- the key stays secret -------------------------------------------------------------------


async def test_the_key_never_appears_in_reprs_errors_or_logs(
    server: EmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    server.api_key = "sk-the-right-one"
    errors: list[BaseException] = []
    embedder = OpenAIEmbedder(
        "text-embedding-3-small",
        base_url=server.openai_url,
        api_key=SECRET,
        dimensions=384,
        max_retries=3,
        backoff=0.01,
    )
    async with embedder:
        # The server echoes the wrong key it got, as some proxies do.
        with pytest.raises(EmbedderAuthError) as auth:
            await embedder.embed(TEXTS)
        errors.append(auth.value)
        server.api_key = None
        echo = {"error": {"message": f"upstream rejected {SECRET}"}}
        server.script(*[Fault(status=500, headers={"Retry-After": "0"}, body=echo)] * 4)
        with pytest.raises(EmbedderUnavailableError) as down:
            await embedder.embed(TEXTS)
        errors.append(down.value)
        texts = [repr(embedder), str(embedder), caplog.text]
    for error in errors:
        while error is not None:
            texts += [str(error), repr(error)]
            error = error.__cause__ or error.__context__  # type: ignore[assignment]
    assert "upstream rejected ***" in caplog.text  # the retries were logged, scrubbed
    for text in texts:
        assert SECRET not in text
        assert SECRET[-8:] not in text


async def test_an_injected_transport_carries_the_requests() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        texts = json.loads(request.content)["input"]
        data = [{"index": i, "embedding": [1.0, float(i)]} for i in range(len(texts))]
        return httpx.Response(200, json={"data": data[::-1]})

    async with OpenAIEmbedder(
        "custom", api_key=SECRET, native_dimension=2, transport=httpx.MockTransport(handler)
    ) as embedder:
        vectors = await embedder.embed(["a", "b"])
    assert str(seen[0].url) == "https://api.openai.com/v1/embeddings"
    np.testing.assert_allclose(vectors[1], np.array([1.0, 1.0]) / np.sqrt(2), atol=1e-6)
