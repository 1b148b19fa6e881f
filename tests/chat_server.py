"""An OpenAI-compatible chat completions server on 127.0.0.1, for tests. Answers from a script.

Real SDK clients (``openai``, ``groq``) talk to it through ``base_url``, so the wrapper is
tested through the same HTTP, parsing and streaming code paths it meets in production::

    with ChatServer() as server:
        server.reply(Reply("Hi!", chunks=["Hi", "!<mem", "ory>{...}</memory>"]))
        client = OpenAI(base_url=server.url, api_key="test", max_retries=0)
        ...
        server.requests[-1].messages  # what the model was sent

Paths: ``.../chat/completions`` (POST) and ``.../models`` (GET) under any prefix, so both
``/v1`` (OpenAI) and ``/openai/v1`` (Groq) work. Requests queue up scripted replies in order;
with none queued, :attr:`ChatServer.default` answers.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ChatServer", "Received", "Reply", "tool_call"]


@dataclass
class Reply:
    """One scripted answer.

    ``content`` is the assistant text (None for a tool-call answer). When streamed, it is sent
    in one chunk, or in ``chunks`` if given (``content`` is then their concatenation).
    ``extra_choices`` adds choices 1..n with these texts. ``status`` >= 400 sends an OpenAI
    error body instead. ``cut`` drops the connection mid-stream, after ``chunks``, with no
    finish chunk; ``stream_error`` sends an error event there instead. ``pause_after`` holds
    the stream after that many content chunks until ``resume`` is set (10 s at most), to
    check that chunks reach the caller as they arrive.
    """

    content: str | None = "ok"
    chunks: Sequence[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    extra_choices: Sequence[str] = ()
    finish_reason: str | None = None
    status: int = 200
    error_message: str = "scripted error"
    cut: bool = False
    stream_error: str | None = None
    pause_after: int | None = None
    resume: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.chunks is not None:
            self.content = "".join(self.chunks)


@dataclass(frozen=True)
class Received:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body.get("messages", [])
        return messages

    def text_of(self, role: str) -> str:
        """All text of the messages with this role, joined (list content included)."""
        out = []
        for message in self.messages:
            if message.get("role") != role:
                continue
            content = message.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.extend(p.get("text", "") for p in content if p.get("type") == "text")
        return "\n".join(out)


def tool_call(name: str = "get_weather", arguments: str = '{"city": "Paris"}') -> dict[str, Any]:
    """A tool call as it appears in a response message."""
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


class ChatServer:
    """The server, running in a background thread until :meth:`close`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.default: Callable[[Received], Reply] = lambda _request: Reply()
        self.paused = threading.Event()  # set while a reply waits for ``resume``
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one interval
            name="chat-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def root(self) -> str:
        """``http://127.0.0.1:<port>``: the base_url for Groq (it adds ``/openai/v1``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The base_url for OpenAI clients."""
        return f"{self.root}/v1"

    def reply(self, *replies: Reply | str) -> None:
        """Queue answers for the next requests, in order (a str is a plain text reply)."""
        with self._lock:
            self._replies.extend(Reply(r) if isinstance(r, str) else r for r in replies)

    @property
    def last(self) -> Received:
        return self.requests[-1]

    def chat_requests(self) -> list[Received]:
        return [r for r in self.requests if urlsplit(r.path).path.endswith("/chat/completions")]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _next_reply(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
        return self.default(request)


def _handler_for(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            if not urlsplit(self.path).path.rstrip("/").endswith("/models"):
                self._json(404, {"error": {"message": "not found", "type": "not_found"}})
                return
            server.requests.append(Received("GET", self.path, dict(self.headers), {}))
            models = [{"id": "test-model", "object": "model", "created": 0, "owned_by": "test"}]
            self._json(200, {"object": "list", "data": models})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not urlsplit(self.path).path.endswith("/chat/completions"):
                self._json(404, {"error": {"message": "not found", "type": "not_found"}})
                return
            reply = server._next_reply(Received("POST", self.path, dict(self.headers), body))
            if reply.status >= 400:
                error = {
                    "message": reply.error_message,
                    "type": "invalid_request_error",
                    "code": "scripted",
                }
                self._json(reply.status, {"error": error})
            elif body.get("stream"):
                self._stream(reply, body)
            else:
                self._json(200, _completion(reply, body))

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            model = body.get("model", "test-model")

            def event(choices: list[dict[str, Any]], **extra: Any) -> None:
                chunk = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": choices,
                    **extra,
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            event([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])
            if reply.tool_calls:
                calls = [{"index": i, **call} for i, call in enumerate(reply.tool_calls)]
                tool_delta = {"content": None, "tool_calls": calls}
                event([{"index": 0, "delta": tool_delta, "finish_reason": None}])
            pieces = _pieces(reply)
            for number, piece in enumerate(pieces):
                if number == reply.pause_after:
                    server.paused.set()
                    reply.resume.wait(10)
                    server.paused.clear()
                event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
                for index, text in enumerate(reply.extra_choices, start=1):
                    if number == 0:  # the other choices arrive whole, interleaved
                        delta = {"role": "assistant", "content": text}
                        event([{"index": index, "delta": delta, "finish_reason": None}])
            if reply.stream_error is not None:
                error = {"error": {"message": reply.stream_error, "type": "server_error"}}
                self.wfile.write(f"data: {json.dumps(error)}\n\n".encode())
                self.wfile.flush()
                return
            if reply.cut:
                return
            finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
            for index in range(1 + len(reply.extra_choices)):
                event([{"index": index, "delta": {}, "finish_reason": finish}])
            if (body.get("stream_options") or {}).get("include_usage"):
                event([], usage=_USAGE)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


_USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def _pieces(reply: Reply) -> list[str]:
    if reply.chunks is not None:
        return list(reply.chunks)
    return [] if reply.content is None else [reply.content]


def _completion(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    choices = [{"index": 0, "message": message, "finish_reason": finish}]
    for index, text in enumerate(reply.extra_choices, start=1):
        choices.append(
            {
                "index": index,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        )
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "test-model"),
        "choices": choices,
        "usage": _USAGE,
    }
