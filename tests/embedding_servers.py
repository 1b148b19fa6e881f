"""Real loopback HTTP servers that speak the OpenAI and Ollama embedding protocols.

One :class:`EmbeddingServer` listens on an ephemeral 127.0.0.1 port, on its own event loop in
a background thread, and embeds with the bundled ONNX model, so similarities are real. Tests
script failures one request at a time with :meth:`EmbeddingServer.script` and read back what
the clients sent in :attr:`EmbeddingServer.requests`.

Routes:

- ``POST /v1/embeddings`` and Azure's ``/openai/deployments/NAME/embeddings``: OpenAI's
  protocol, ``dimensions`` honoured by truncating and renormalising (as text-embedding-3
  models do).
- ``POST /api/embed``: Ollama's batch protocol (absent when ``legacy_ollama`` is set).
- ``POST /api/embeddings``: Ollama's legacy one-prompt protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from headroom.embedders.onnx import OnnxEmbedder

__all__ = ["EmbeddingServer", "Fault", "Recorded", "running_server"]

_AZURE_PATH = re.compile(r"/openai/deployments/[^/]+/embeddings")
SERVED_MODELS = frozenset({"minilm-test", "all-minilm", "text-embedding-3-small"})
"""Model names the server answers for (all are the bundled all-MiniLM-L6-v2, 384 wide)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """What the server does instead of answering one request normally.

    ``status`` with ``body``/``headers``: answer that. ``delay``: wait first (then answer
    normally unless other fields say otherwise). ``raw``: send these bytes as a 200 body.
    ``dimension``: cut vectors to this length. ``nan``: put a NaN in each vector.
    ``drop``: close the connection without answering.
    """

    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None
    dimension: int | None = None
    nan: bool = False
    drop: bool = False


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the server saw it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    @property
    def batch_size(self) -> int:
        """Texts in the request (a legacy Ollama request carries one ``prompt``)."""
        if not isinstance(self.body, dict):
            return 0
        texts = self.body.get("input", [self.body["prompt"]] if "prompt" in self.body else [])
        return len(texts) if isinstance(texts, list) else 1


class EmbeddingServer:
    """A scriptable OpenAI + Ollama embeddings server on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        """When set, requests must carry it (``Authorization: Bearer`` or ``api-key``)."""
        self.legacy_ollama = False
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._embedder: OnnxEmbedder | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()  # set by reset(): delayed requests stop waiting
        self._idle = asyncio.Event()  # set whenever no request is in flight
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=60)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def reset(self) -> None:
        """Forget recorded requests and pending faults; back to a modern, keyless server.

        A request still held by a ``delay`` fault (its client long gone) is let go first, so
        the next test's ``in_flight`` counts only its own requests.
        """
        asyncio.run_coroutine_threadsafe(self._release_delayed(), self._loop).result(timeout=30)
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.max_in_flight = 0
        self.api_key = None
        self.legacy_ollama = False

    def script(self, *faults: Fault) -> None:
        """Apply these to the next requests, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    # -- the server's own loop -------------------------------------------------------------

    async def _start(self) -> None:
        self._embedder = await OnnxEmbedder.create()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _release_delayed(self) -> None:
        self._wake.set()
        if self.in_flight:
            await self._idle.wait()
        self._wake = asyncio.Event()

    async def _stop(self) -> None:
        assert self._server is not None and self._embedder is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        await self._embedder.aclose()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away (a timeout, a closed pool): nothing to answer
        except asyncio.CancelledError:
            # Only stop() cancels handlers. Ending normally keeps Python 3.11's stream
            # callback from logging the cancelled task as an error.
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request on a kept-alive connection; False when the connection is done."""
        line = await reader.readline()
        if not line:
            return False
        _, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        url = urlsplit(target)
        with self._lock:
            self.requests.append(Recorded(url.path, parse_qs(url.query), headers, body))
            fault = self._faults.popleft() if self._faults else Fault()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._idle.clear()
        try:
            if fault.delay:
                try:
                    await asyncio.wait_for(self._wake.wait(), fault.delay)
                    return False  # released by reset(): the test is over, answer nothing
                except asyncio.TimeoutError:
                    pass
            if fault.drop:
                return False
            try:
                status, payload, extra = await self._answer(url.path, headers, body, fault)
            except (AttributeError, KeyError, TypeError) as exc:  # a request we cannot read
                status, payload, extra = 400, {"error": f"bad request: {exc!r}"}, {}
        finally:
            with self._lock:
                self.in_flight -= 1
                idle = self.in_flight == 0
            if idle:
                self._idle.set()
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(data)}"]
        head += ["Content-Type: application/json", "Connection: keep-alive"]
        head += [f"{k}: {v}" for k, v in extra.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()
        return True

    async def _answer(
        self, path: str, headers: dict[str, str], body: Any, fault: Fault
    ) -> tuple[int, Any, dict[str, str]]:
        if fault.status is not None:
            return fault.status, fault.body if fault.body is not None else {}, fault.headers
        if fault.raw is not None:
            return 200, fault.raw, {}
        if self.api_key is not None:
            sent = headers.get("api-key") or headers.get("authorization", "").removeprefix(
                "Bearer "
            )
            if sent != self.api_key:
                # Echoes the key it got, as some proxies do: the client must scrub it.
                message = f"Incorrect API key provided: {sent}"
                return 401, {"error": {"message": message, "code": "invalid_api_key"}}, {}
        if path == "/v1/embeddings" or _AZURE_PATH.fullmatch(path):
            return await self._openai(body, fault)
        if path == "/api/embed" and not self.legacy_ollama:
            return await self._ollama(body, fault, batch=True)
        if path == "/api/embeddings":
            return await self._ollama(body, fault, batch=False)
        return 404, b"404 page not found", {}

    async def _openai(self, body: Any, fault: Fault) -> tuple[int, Any, dict[str, str]]:
        model = body.get("model")
        if model not in SERVED_MODELS:
            message = f"The model `{model}` does not exist or you do not have access to it."
            error = {"message": message, "type": "invalid_request_error", "code": "model_not_found"}
            return 404, {"error": error}, {}
        texts = body["input"]
        vectors = await self._vectors(texts, body.get("dimensions"), fault)
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        data.reverse()  # clients must order by `index`, not by position
        usage = {"prompt_tokens": 0, "total_tokens": 0}
        return 200, {"object": "list", "data": data, "model": model, "usage": usage}, {}

    async def _ollama(
        self, body: Any, fault: Fault, *, batch: bool
    ) -> tuple[int, Any, dict[str, str]]:
        model = body.get("model")
        if model not in SERVED_MODELS:
            return 404, {"error": f'model "{model}" not found, try pulling it first'}, {}
        if batch:
            return (
                200,
                {"model": model, "embeddings": await self._vectors(body["input"], None, fault)},
                {},
            )
        (vector,) = await self._vectors([body["prompt"]], None, fault)
        return 200, {"embedding": vector}, {}

    async def _vectors(
        self, texts: list[str], dimensions: int | None, fault: Fault
    ) -> list[list[float]]:
        assert self._embedder is not None
        vectors = await self._embedder.embed(texts)
        if dimensions is not None:
            vectors = vectors[:, :dimensions]
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if fault.dimension is not None:
            vectors = vectors[:, : fault.dimension]
        rows: list[list[float]] = vectors.tolist()
        if fault.nan:
            for row in rows:
                row[0] = math.nan
        return rows


@contextlib.contextmanager
def running_server(*, api_key: str | None = None) -> Iterator[EmbeddingServer]:
    """An :class:`EmbeddingServer`, started, stopped on exit."""
    server = EmbeddingServer(api_key=api_key)
    server.start()
    try:
        yield server
    finally:
        server.stop()
