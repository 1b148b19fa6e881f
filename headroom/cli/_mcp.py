"""``headroom mcp``: serve one user's memories to an agent host over MCP (stdio or HTTP)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from headroom.cli._errors import CliError, ExitCode
from headroom.cli._parser import _id

if TYPE_CHECKING:
    from headroom.cli._context import Invocation

__all__ = ["add_parser", "parse_address", "run_mcp"]

_DESCRIPTION = """\
Serve --user's memories to an agent host (Claude Desktop, Cursor, VS Code, the OpenAI Agents
SDK, ...) over the Model Context Protocol: over stdin/stdout by default, or streamable HTTP at
http://HOST:PORT/mcp with --http. The user (and --session, --agent) are fixed here: no tool
can reach another user's memories. Needs: pip install 'headroom[mcp]'."""


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    p = commands.add_parser(
        "mcp",
        help="serve a user's memories to agent hosts over MCP (stdio or HTTP)",
        description=_DESCRIPTION,
        parents=[common],
    )
    p.add_argument(
        "--session",
        "-s",
        metavar="ID",
        type=_id,
        default=os.environ.get("HEADROOM_SESSION") or None,
        help="session id of every call (default: $HEADROOM_SESSION, else none)",
    )
    p.add_argument(
        "--agent",
        "-a",
        metavar="ID",
        type=_id,
        default=os.environ.get("HEADROOM_AGENT") or None,
        help="agent id of every call (default: $HEADROOM_AGENT, else none)",
    )
    p.add_argument(
        "--http",
        metavar="HOST:PORT",
        type=parse_address,
        help="serve streamable HTTP instead of stdio (HOST defaults to 127.0.0.1; port 0 "
        "picks a free one; the URL is printed on stderr)",
    )
    p.add_argument(
        "--per-call-ids",
        action="store_true",
        help="let tools take session_id and agent_id arguments (never a user id)",
    )


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT``; ``[::1]:PORT`` for IPv6."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not HOST:PORT: {text!r} (e.g. 127.0.0.1:8765, or :0 for any free port)"
        ) from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0 to 65535, got {number}")
    return host, number


async def run_mcp(invocation: Invocation) -> int:
    from headroom._imports import require

    require("mcp", extra="mcp")
    from headroom.cli._context import open_memory
    from headroom.integrations.mcp import (
        ToolContext,
        build_server,
        listen,
        serve_http,
        serve_stdio,
        url_of,
    )

    args = invocation.args
    context = ToolContext(
        invocation.user(), args.session, args.agent, per_call_ids=args.per_call_ids
    )
    sock = None
    if args.http is not None:
        host, port = args.http
        try:
            sock = listen(host, port)
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        async with open_memory(invocation, create=True) as memory:
            server = build_server(memory, context)
            who = f"user {context.user_id!r}"
            if sock is None:
                invocation.note(
                    f"headroom mcp: serving {who} over stdio ({memory.config.location})"
                )
                await serve_stdio(server)
            else:
                if sock.getsockname()[0] not in ("127.0.0.1", "::1"):
                    invocation.note(
                        "headroom mcp: warning: listening beyond this machine with no "
                        "authentication; anyone who reaches it can read these memories"
                    )
                invocation.note(f"headroom mcp: serving {who} at {url_of(sock)}")
                await serve_http(server, sock)
    finally:
        if sock is not None:
            sock.close()
    invocation.note("headroom mcp: stopped")
    return ExitCode.OK
