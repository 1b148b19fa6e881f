"""``headroom mcp``: a memory server for agent hosts, on the official MCP SDK.

Six tools (remember, recall, list, history, update, forget) over one open engine, for one
user fixed when the server starts (optionally one session and agent too). Needs the ``mcp``
extra: ``pip install 'headroom[mcp]'``. See ``docs/integrations-mcp.md``.
"""

from headroom._imports import require

require("mcp", extra="mcp")

from headroom.integrations.mcp._context import ToolContext  # noqa: E402
from headroom.integrations.mcp._server import (  # noqa: E402
    build_server,
    listen,
    serve_http,
    serve_stdio,
    url_of,
)
from headroom.integrations.mcp._tools import TOOLS  # noqa: E402

__all__ = ["TOOLS", "ToolContext", "build_server", "listen", "serve_http", "serve_stdio", "url_of"]
