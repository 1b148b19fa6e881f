"""The MCP server over an open engine, on the official SDK's low-level server.

The low-level server, not the decorator API: the tools' JSON schemas are written out (with
enums and ranges a model can follow), and every argument is checked by headroom, so a bad one
comes back as a tool error carrying headroom's own message, never as the SDK's validation
text or a crashed request.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import mcp.types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

from headroom import __version__
from headroom.errors import HeadroomError
from headroom.integrations.mcp._arguments import Arguments
from headroom.integrations.mcp._context import ToolContext
from headroom.integrations.mcp._tools import TOOLS
from headroom.memory import HierarchicalMemory

__all__ = ["build_server", "serve_http", "serve_stdio"]

logger = logging.getLogger("headroom.mcp")

_INSTRUCTIONS = (
    "A persistent memory of one user, kept across conversations. Call recall before "
    "answering anything that may depend on what you were told before; call remember for "
    "each new lasting fact, preference or decision; call update (not remember) when "
    "something remembered has changed, and forget when asked to."
)


def build_server(memory: HierarchicalMemory, context: ToolContext) -> Server[Any]:
    """An MCP server whose tools act on ``memory`` as ``context`` (fixed for its lifetime)."""
    tools = {tool.name: tool for tool in TOOLS}

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=tool.name,
                    description=tool.description,
                    input_schema=tool.input_schema(context.per_call_ids),
                    annotations=types.ToolAnnotations(
                        read_only_hint=tool.read_only,
                        destructive_hint=tool.name == "forget",
                        idempotent_hint=tool.read_only,
                        open_world_hint=False,
                    ),
                )
                for tool in TOOLS
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = tools.get(params.name)
        if tool is None:
            return _error(f"no tool named {params.name!r}; the tools are: {', '.join(tools)}")
        try:
            args = Arguments(tool.name, params.arguments, tool.accepted(context.per_call_ids))
            result = await tool.handler(memory, context.for_call(args.values), args)
        except HeadroomError as exc:
            logger.info("tool %s refused: %s", tool.name, exc)
            return _error(str(exc))
        except Exception as exc:  # a bug of ours must not take the connection down
            logger.exception("tool %s failed", tool.name)
            return _error(f"headroom failed unexpectedly: {type(exc).__name__}: {exc}")
        text = json.dumps(result, ensure_ascii=False)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=result
        )

    return Server(
        "headroom",
        version=__version__,
        title="headroom memory",
        instructions=_INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one client over this process's stdin and stdout, until stdin closes."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: one the system picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/mcp"


async def serve_http(server: Server[Any], sock: socket.socket) -> None:
    """Serve streamable HTTP at ``/mcp`` on a listening socket, until SIGINT or SIGTERM."""
    import uvicorn

    host = sock.getsockname()[0]
    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    with _signals_end_serving():
        await uvicorn.Server(config).serve(sockets=[sock])


@contextmanager
def _signals_end_serving() -> Iterator[None]:
    """uvicorn stops gracefully on SIGINT/SIGTERM and then re-raises the signal to the handler
    it found; with this no-op handler in place the re-raise returns, so the caller goes on to
    close the memory (saving its index) and exits 0 instead of dying mid-cleanup."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ignore: Callable[[int, Any], None] = lambda number, frame: None  # noqa: E731
    previous = {sig: signal.signal(sig, ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
