"""OpenAIEmbedder: any OpenAI-compatible ``POST /embeddings`` endpoint, Azure OpenAI included.

Azure is recognised by a base URL on ``*.openai.azure.com`` or by an explicit
``azure_api_version``: it then authenticates with an ``api-key`` header and adds
``?api-version=`` to every request, as Azure requires; the base URL is the deployment's
(``https://NAME.openai.azure.com/openai/deployments/DEPLOYMENT``). Everything else gets
``Authorization: Bearer``, which OpenAI and the compatible servers (vLLM, LM Studio,
llama.cpp, LiteLLM, ...) accept.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from headroom.embedders._http import HttpEmbedder, JsonClient, RetryPolicy, probe_dimension
from headroom.embedders.models import known_dimension
from headroom.errors import ConfigError, EmbedderResponseError

if TYPE_CHECKING:
    from headroom.embedders.settings import EmbedderSettings

__all__ = ["OpenAIEmbedder"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
DEFAULT_BATCH_SIZE = 2048
"""OpenAI's limit on inputs per request."""
DEFAULT_CONCURRENCY = 4


class OpenAIEmbedder(HttpEmbedder):
    """Embeddings from an OpenAI-compatible server.

    ``api_key`` and ``base_url`` default to ``$OPENAI_API_KEY`` and ``$OPENAI_BASE_URL`` (then
    ``https://api.openai.com/v1``); a key is required only by api.openai.com itself. For Azure
    ``$AZURE_OPENAI_API_KEY`` and ``$OPENAI_API_VERSION`` are read too. ``dimensions`` asks the
    server for shorter vectors (text-embedding-3 models); it is sent only when it differs from
    the model's native dimension. For a model headroom does not know, pass its
    ``native_dimension`` or build the embedder with :meth:`create`, which asks the server.

    Timeouts, connection failures, 429 and 5xx are retried up to ``max_retries`` times, after
    the wait a ``Retry-After`` header asks for, else a random wait of up to ``backoff``
    seconds that doubles with each attempt (at most 20 s). Inputs go in requests of up to
    ``batch_size`` texts, ``concurrency`` requests at a time. ``transport`` replaces httpx's
    network transport (an ``httpx.MockTransport`` in tests, say).
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        azure_api_version: str | None = None,
        request_timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.25,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        native_dimension: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        native = native_dimension or known_dimension("openai", model)
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise ConfigError(f"dimensions must be a positive int, got {dimensions!r}")
        if dimensions is not None and native is not None and dimensions > native:
            raise ConfigError(f"{model} makes at most {native} dimensions, not {dimensions}")
        dimension = dimensions or native
        if dimension is None:
            raise ConfigError(
                f"the dimension of {model!r} is not known: build the embedder with "
                "`await OpenAIEmbedder.create(...)`, which asks the server once"
            )
        for name, value in (("batch_size", batch_size), ("concurrency", concurrency)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        base = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        azure, headers, params, key = _auth(base, api_key, azure_api_version)
        self._model = model
        self._dimension = dimension
        self._base_url = base
        self._azure = azure
        # Sent only when it changes something: servers without the parameter reject it.
        self._send_dimensions = dimensions is not None and dimensions != native
        self._batch_size = batch_size
        self._client = JsonClient(
            service=f"{'Azure OpenAI' if azure else 'OpenAI'} at {base}",
            base_url=base,
            headers=headers,
            params=params,
            timeout=request_timeout,
            policy=RetryPolicy(max_retries=max_retries, base_delay=backoff),
            concurrency=concurrency,
            secrets=[key] if key else [],
            model_hint=f"check the model name {model!r} (embedder_model)",
            transport=transport,
        )

    @classmethod
    async def create(
        cls,
        model: str = "text-embedding-3-small",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        azure_api_version: str | None = None,
        request_timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.25,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> OpenAIEmbedder:
        """The embedder; for a model of unknown dimension the server is asked for one vector."""

        def build(native_dimension: int | None) -> OpenAIEmbedder:
            return cls(
                model,
                api_key=api_key,
                base_url=base_url,
                dimensions=dimensions,
                azure_api_version=azure_api_version,
                request_timeout=request_timeout,
                max_retries=max_retries,
                backoff=backoff,
                batch_size=batch_size,
                concurrency=concurrency,
                native_dimension=native_dimension,
            )

        if dimensions is not None or known_dimension("openai", model) is not None:
            return build(None)
        # The probe goes through the normal request path with a placeholder dimension: the
        # raw rows are read before any width check.
        probe = build(1)
        try:
            width = await probe_dimension(probe._request, probe._client.service)
        finally:
            await probe.aclose()
        return build(width)

    @classmethod
    async def from_config(cls, config: EmbedderSettings) -> OpenAIEmbedder:
        """The embedder ``config`` describes; ``vector_dimension`` becomes ``dimensions``."""
        model = config.model
        native = known_dimension("openai", model)
        wanted = config.vector_dimension
        shorter = wanted if model.startswith("text-embedding-3") and wanted != native else None
        return await cls.create(
            model,
            api_key=config.openai_api_key,
            base_url=config.openai_base_url,
            dimensions=shorter,
            request_timeout=config.embedder_timeout,
            max_retries=config.embedder_max_retries,
        )

    def __repr__(self) -> str:
        kind = "azure " if self._azure else ""
        return f"<OpenAIEmbedder {kind}{self._model} dimension={self._dimension} {self._base_url}>"

    async def _request(self, texts: list[str]) -> list[object]:
        """The ``embedding`` of each ``data`` item, in input order, unchecked."""
        payload: dict[str, object] = {
            "model": self._model,
            "input": texts,
            "encoding_format": "float",
        }
        if self._send_dimensions:
            payload["dimensions"] = self._dimension
        reply = await self._client.post("embeddings", payload)
        data = reply.body.get("data") if isinstance(reply.body, dict) else None
        service = self._client.service
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise EmbedderResponseError(f"{service} answered without a list of `data` objects")
        indices = [item.get("index") for item in data]
        if sorted(i for i in indices if isinstance(i, int)) != list(range(len(texts))):
            raise EmbedderResponseError(
                f"{service} answered indices {indices[:10]} for {len(texts)} texts"
            )
        # The API does not promise order; `index` says which input each vector belongs to.
        ordered = sorted(data, key=lambda item: int(item["index"]))
        return [item.get("embedding") for item in ordered]


def _auth(
    base: str, api_key: str | None, azure_api_version: str | None
) -> tuple[bool, dict[str, str], dict[str, str] | None, str | None]:
    """Whether ``base`` is Azure, the auth headers, the query parameters, and the key."""
    host = urlsplit(base).hostname or ""
    azure = azure_api_version is not None or host.endswith(".openai.azure.com")
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if azure:
        key = key or os.environ.get("AZURE_OPENAI_API_KEY")
    if not key and host == "api.openai.com":
        raise ConfigError(
            "no OpenAI API key: set MemoryConfig(openai_api_key=...) or $OPENAI_API_KEY"
        )
    if not azure:
        return False, ({"Authorization": f"Bearer {key}"} if key else {}), None, key
    version = azure_api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION
    return True, ({"api-key": key} if key else {}), {"api-version": version}, key
