"""OllamaEmbedder: a local or remote Ollama server's ``/api/embed``.

Servers older than Ollama 0.3 have no ``/api/embed``; on a 404 that says nothing about the
model, or a 405, the embedder switches for good to the legacy ``/api/embeddings``, which takes
one text per request (sent with the same bounded concurrency).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import httpx

from headroom.embedders._http import (
    HttpEmbedder,
    JsonClient,
    Reply,
    RetryPolicy,
    model_missing,
    probe_dimension,
    run_all,
)
from headroom.embedders.models import known_dimension
from headroom.errors import ConfigError, EmbedderResponseError

if TYPE_CHECKING:
    from headroom.embedders.settings import EmbedderSettings

__all__ = ["OllamaEmbedder"]

DEFAULT_BASE_URL = "http://localhost:11434"
DEFAULT_BATCH_SIZE = 256
"""Texts per ``/api/embed`` request: big enough to keep the server busy, small enough to retry."""
DEFAULT_CONCURRENCY = 4
_ENDPOINT_MISSING = (404, 405)


class OllamaEmbedder(HttpEmbedder):
    """Embeddings from an Ollama server (``ollama pull MODEL`` first).

    For a model headroom does not know the dimension of, pass ``native_dimension`` or build the
    embedder with :meth:`create`, which asks the server for one vector.
    Retries, ``backoff``, ``batch_size``, ``concurrency`` and ``transport`` work as for
    :class:`~headroom.embedders.openai.OpenAIEmbedder`.
    """

    def __init__(
        self,
        model: str = "nomic-embed-text",
        *,
        base_url: str = DEFAULT_BASE_URL,
        request_timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.25,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        native_dimension: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        dimension = native_dimension or known_dimension("ollama", model)
        if dimension is None:
            raise ConfigError(
                f"the dimension of {model!r} is not known: build the embedder with "
                "`await OllamaEmbedder.create(...)`, which asks the server once"
            )
        for name, value in (("batch_size", batch_size), ("concurrency", concurrency)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        self._model = model
        self._dimension = dimension
        self._base_url = base_url.rstrip("/")
        self._batch_size = batch_size
        self._legacy = False
        self._client = JsonClient(
            service=f"Ollama at {self._base_url}",
            base_url=self._base_url,
            headers={},
            timeout=request_timeout,
            policy=RetryPolicy(max_retries=max_retries, base_delay=backoff),
            concurrency=concurrency,
            model_hint=f"run `ollama pull {model}` on that machine",
            transport=transport,
        )

    @classmethod
    async def create(
        cls,
        model: str = "nomic-embed-text",
        *,
        base_url: str = DEFAULT_BASE_URL,
        request_timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.25,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> OllamaEmbedder:
        """The embedder; for a model of unknown dimension the server is asked for one vector."""

        def build(native_dimension: int | None) -> OllamaEmbedder:
            return cls(
                model,
                base_url=base_url,
                request_timeout=request_timeout,
                max_retries=max_retries,
                backoff=backoff,
                batch_size=batch_size,
                concurrency=concurrency,
                native_dimension=native_dimension,
            )

        if known_dimension("ollama", model) is not None:
            return build(None)
        # A placeholder dimension: the probe's raw rows are read before any width check.
        probe = build(1)
        try:
            width = await probe_dimension(probe._request, probe._client.service)
        finally:
            await probe.aclose()
        return build(width)

    @classmethod
    async def from_config(cls, config: EmbedderSettings) -> OllamaEmbedder:
        """The embedder ``config`` describes (``ollama_base_url``, timeout and retries)."""
        return await cls.create(
            config.model,
            base_url=config.ollama_base_url,
            request_timeout=config.embedder_timeout,
            max_retries=config.embedder_max_retries,
        )

    def __repr__(self) -> str:
        legacy = " (legacy /api/embeddings)" if self._legacy else ""
        return (
            f"<OllamaEmbedder {self._model} dimension={self._dimension} {self._base_url}{legacy}>"
        )

    async def _request(self, texts: list[str]) -> list[object]:
        """One raw vector per text, in order, unchecked."""
        if not self._legacy:
            payload = {"model": self._model, "input": texts}
            reply = await self._client.post("api/embed", payload, accept=_ENDPOINT_MISSING)
            if reply.status not in _ENDPOINT_MISSING:
                return _field(reply, "embeddings", self._client.service)
            if reply.status == 404 and model_missing(reply):
                raise self._client.error_for(reply)
            self._legacy = True  # an old server: it will not grow /api/embed while we run
        rows: list[object] = [None] * len(texts)

        async def one(row: int) -> None:
            payload = {"model": self._model, "prompt": texts[row]}
            reply = await self._client.post("api/embeddings", payload)
            rows[row] = _field(reply, "embedding", self._client.service)

        # One request per text; the client's semaphore bounds how many run at once.
        await run_all([partial(one, row) for row in range(len(texts))])
        return rows


def _field(reply: Reply, name: str, service: str) -> list[object]:
    value = reply.body.get(name) if isinstance(reply.body, dict) else None
    if not isinstance(value, list):
        raise EmbedderResponseError(f"{service} answered without a list `{name}`")
    return value
