"""What the HTTP embedders share: one JSON POST with retries, and the map of failures to errors.

Retried: timeouts, connection failures, 429 and 5xx, with exponential backoff and full jitter,
or exactly the wait a ``Retry-After`` header asks for. Not retried: 401/403
(:class:`EmbedderAuthError`), a missing model (:class:`EmbedderModelNotFoundError`), any
other 4xx and unreadable bodies (:class:`EmbedderResponseError`). Every httpx exception is
translated here; secrets are scrubbed from every message built from a server's words.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NoReturn, TypeVar

import anyio
import httpx
import numpy as np

from headroom.embedders.base import Vectors, normalize, validate_vectors
from headroom.errors import (
    ClosedError,
    EmbedderAuthError,
    EmbedderError,
    EmbedderModelNotFoundError,
    EmbedderResponseError,
    EmbedderUnavailableError,
)

__all__ = [
    "JsonClient",
    "Reply",
    "RetryPolicy",
    "embed_in_batches",
    "model_missing",
    "parse_retry_after",
    "probe_dimension",
    "run_all",
    "vectors_from",
]

logger = logging.getLogger("headroom.embedders")

_MODEL_MISSING = re.compile(
    r"model\b.*\b(not found|does not exist|doesn't exist|not exist|unknown)|unknown model",
    re.IGNORECASE,
)
# Failures worth another attempt: the request may well succeed a moment later.
_RETRY_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Everything else httpx raises; not all of it derives from HTTPError.
_FATAL_EXCEPTIONS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to wait before trying a failed request again."""

    max_retries: int = 5
    base_delay: float = 0.25
    """The first backoff ceiling; it doubles with each attempt, up to ``max_delay``."""
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    """A server asking for a longer wait than this is treated as down rather than obeyed."""

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``; None when waiting is pointless."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        # Full jitter: clients that failed together do not retry together.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass(frozen=True, slots=True)
class Reply:
    """A response the caller asked to see: its status, JSON body (None if not JSON) and text."""

    status: int
    body: object
    text: str


class JsonClient:
    """POSTs JSON to one server with bounded concurrency and retries; every failure translated.

    ``service`` names the server in messages ("OpenAI at https://..."). ``secrets`` are
    replaced by ``***`` in every message. ``model_hint`` ends the message of a missing-model
    error (what the user should do). ``transport`` replaces httpx's network transport (an
    ``httpx.MockTransport`` in tests, a custom proxy or retry layer in applications).
    """

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        policy: RetryPolicy,
        concurrency: int,
        params: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        model_hint: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        self._policy = policy
        self._timeout = timeout
        self._secrets = tuple(s for s in secrets if s)
        self._model_hint = model_hint
        self._limit = anyio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=dict(headers),
            params=dict(params or {}),
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency),
            transport=transport,
        )
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def post(
        self, path: str, payload: Mapping[str, object], *, accept: Collection[int] = ()
    ) -> Reply:
        """The reply to a POST of ``payload`` to ``path``, retried as the policy says.

        Returns 2xx replies (whose body must be JSON) and replies whose status is in
        ``accept``; raises the translated error for everything else.
        """
        if self._closed:
            raise ClosedError(f"the client of {self.service} is closed")
        # The permit is kept through the backoff: when a server is rate limiting, sending it
        # fewer requests is the point.
        async with self._limit:
            attempt = 0
            while True:
                retry_after: float | None = None
                cause: Exception | None = None
                try:
                    response = await self._client.post(path.lstrip("/"), json=payload)
                except _RETRY_EXCEPTIONS as exc:
                    failure, cause = self._describe(exc), exc
                except _FATAL_EXCEPTIONS as exc:
                    # Misconfiguration (a bad URL, an unsupported scheme) or a transport misusing
                    # httpx (stream and cookie errors): retrying cannot help.
                    raise EmbedderUnavailableError(
                        self._redact(f"{self.service}: {self._describe(exc)}")
                    ) from exc
                else:
                    status = response.status_code
                    if 200 <= status < 300 or status in accept:
                        return self._reply(response)
                    if status != 429 and status < 500:
                        self._raise_for(response)
                    failure = f"answered {status}: {error_message(self._reply(response))}"
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                delay = self._policy.delay(attempt, retry_after)
                if attempt >= self._policy.max_retries or delay is None:
                    tried = f"{attempt + 1} attempt{'s' if attempt else ''}"
                    wait = "" if delay is not None else f"; it asked to wait {retry_after:g}s"
                    raise EmbedderUnavailableError(
                        self._redact(f"{self.service} {failure}; gave up after {tried}{wait}")
                    ) from cause
                logger.warning(
                    "%s",
                    self._redact(
                        f"{self.service} {failure}; retry {attempt + 1} of "
                        f"{self._policy.max_retries} in {delay:.2f}s"
                    ),
                )
                await anyio.sleep(delay)
                attempt += 1

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.aclose()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(
                f"the HTTP client of {self.service} was never closed; "
                "call `await embedder.aclose()`",
                ResourceWarning,
                stacklevel=1,
                source=self,
            )

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out after {self._timeout:g}s ({type(exc).__name__})"
        if isinstance(exc, httpx.ConnectError):
            return f"is unreachable ({exc or type(exc).__name__})"
        return f"failed: {type(exc).__name__}: {exc}"

    def _reply(self, response: httpx.Response) -> Reply:
        try:
            body: object = response.json()
        except ValueError as exc:
            if 200 <= response.status_code < 300:
                raise EmbedderResponseError(
                    self._redact(
                        f"{self.service} answered {response.status_code} with a body that is "
                        f"not JSON: {response.text[:200]!r}"
                    )
                ) from exc
            body = None
        return Reply(response.status_code, body, response.text)

    def _raise_for(self, response: httpx.Response) -> NoReturn:
        raise self.error_for(self._reply(response))

    def error_for(self, reply: Reply) -> EmbedderError:
        """The error a non-retryable failed reply means."""
        what = self._redact(f"{self.service} answered {reply.status}: {error_message(reply)}")
        if reply.status in (401, 403):
            return EmbedderAuthError(f"{what} (check the API key)")
        if model_missing(reply):
            hint = f"; {self._model_hint}" if self._model_hint else ""
            return EmbedderModelNotFoundError(what + hint)
        if reply.status == 404:
            # Without a word about the model, a 404 more often means a wrong base URL.
            return EmbedderModelNotFoundError(
                f"{what} (the model is unknown, or the base URL is not the API's root)"
            )
        return EmbedderResponseError(what)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def error_message(reply: Reply) -> str:
    """The server's own explanation: OpenAI's ``error.message``, Ollama's ``error``, or text."""
    body = reply.body
    if isinstance(body, dict):
        error = body.get("error", body.get("detail"))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:500]
    return reply.text[:200].strip() or "(empty body)"


def model_missing(reply: Reply) -> bool:
    """Whether a failed reply says the model does not exist (404 alone may mean no endpoint)."""
    body = reply.body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("code") == "model_not_found":
        return True
    return bool(_MODEL_MISSING.search(error_message(reply)))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def vectors_from(rows: object, count: int, dimension: int, service: str) -> Vectors:
    """The unit vectors in a parsed response's list of rows, validated."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise EmbedderResponseError(f"{service} answered something other than lists of numbers")
    if len(rows) != count:
        raise EmbedderResponseError(f"{service} answered {len(rows)} vectors for {count} texts")
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise EmbedderResponseError(f"{service} answered vectors of mixed lengths {sorted(widths)}")
    try:
        array = np.array(rows, dtype=np.float32) if rows else np.zeros((0, dimension), np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbedderResponseError(f"{service} answered non-numeric vectors") from exc
    return normalize(validate_vectors(array, count, dimension))


async def probe_dimension(
    request: Callable[[list[str]], Awaitable[list[object]]], service: str
) -> int:
    """The width of the one vector ``request`` gets for a probe text (for unknown models)."""
    rows = await request(["dimension probe"])
    width = len(rows[0]) if rows and isinstance(rows[0], list) else 0
    if width < 1:
        raise EmbedderResponseError(f"{service} answered no usable vector for a probe text")
    return width


async def embed_in_batches(
    texts: Sequence[str],
    *,
    batch_size: int,
    dimension: int,
    service: str,
    request: Callable[[list[str]], Awaitable[list[object]]],
) -> Vectors:
    """Unit vectors of ``texts``, ``request`` getting up to ``batch_size`` texts at a time.

    The batches run concurrently; the client's semaphore bounds how many are in flight.
    """
    texts = list(texts)
    out = np.empty((len(texts), dimension), dtype=np.float32)

    async def one(start: int) -> None:
        chunk = texts[start : start + batch_size]
        rows = await request(chunk)
        out[start : start + len(chunk)] = vectors_from(rows, len(chunk), dimension, service)

    await run_all([partial(one, start) for start in range(0, len(texts), batch_size)])
    return out


async def run_all(jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
    """Run ``jobs`` concurrently; on the first failure cancel the rest and raise it as is.

    A bare task group would wrap the failure in an ExceptionGroup, which callers catching
    :class:`EmbedderError` would miss.
    """
    if len(jobs) == 1:
        await jobs[0]()
        return
    failures: list[Exception] = []
    async with anyio.create_task_group() as group:

        async def run(job: Callable[[], Awaitable[None]]) -> None:
            try:
                await job()
            except Exception as exc:
                failures.append(exc)
                group.cancel_scope.cancel()

        for job in jobs:
            group.start_soon(run, job)
    if failures:
        raise failures[0]


_E = TypeVar("_E", bound="HttpEmbedder")


class HttpEmbedder:
    """The Embedder plumbing the HTTP backends share around one :class:`JsonClient`.

    A subclass sets ``_model``, ``_dimension``, ``_base_url``, ``_batch_size`` and ``_client``
    in its constructor and implements :meth:`_request` for one batch.
    """

    _model: str
    _dimension: int
    _base_url: str
    _batch_size: int
    _client: JsonClient

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def base_url(self) -> str:
        return self._base_url

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if self._client.closed:
            raise ClosedError(f"this {type(self).__name__} is closed")
        return await embed_in_batches(
            texts,
            batch_size=self._batch_size,
            dimension=self._dimension,
            service=self._client.service,
            request=self._request,
        )

    async def _request(self, texts: list[str]) -> list[object]:
        """The raw vector of each text of one batch, in input order, unchecked."""
        raise NotImplementedError

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self: _E) -> _E:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
