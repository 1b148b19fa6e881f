"""Every host snippet in docs/integrations-mcp.md starts a working server.

The JSON blocks are read from the page; each stdio entry's command is started as the host
would (``headroom`` resolved to this environment's script, its database moved into tmp_path)
and its tools are listed through the official client.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from headroom.cli._mcp import parse_address
from tests.mcp_support import HEADROOM

pytestmark = pytest.mark.anyio

PAGE = Path(__file__).resolve().parent.parent / "docs" / "integrations-mcp.md"
_JSON = re.compile(r"^```json\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _entries() -> list[dict[str, Any]]:
    found = []
    for block in _JSON.findall(PAGE.read_text(encoding="utf-8")):
        config = json.loads(block)
        servers = config.get("mcpServers") or config.get("servers")
        assert servers and list(servers) == ["headroom"], block
        found.append(servers["headroom"])
    return found


ENTRIES = _entries()


def test_the_page_has_every_host() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for host in ("Claude Desktop", "Cursor", "VS Code", "OpenAI Agents SDK"):
        assert f"**{host}" in text or f"**The {host}" in text, host
    assert len([e for e in ENTRIES if "command" in e]) == 3
    for entry in ENTRIES:
        if "url" in entry:
            assert entry["url"].endswith("/mcp")
    for match in re.findall(r"--http (\S+)`", text):
        parse_address(match)


@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if "command" in e], ids=lambda e: e["args"][-1]
)
async def test_the_snippet_starts_a_server(entry: dict[str, Any], tmp_path: Path) -> None:
    assert entry["command"] == "headroom" and entry["args"][0] == "mcp"
    env = {**entry.get("env", {}), "HEADROOM_DB": str(tmp_path / "memory.db")}
    params = StdioServerParameters(command=HEADROOM, args=entry["args"], env=env)
    async with Client(params) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
    assert names == ["remember", "recall", "list", "history", "update", "forget"]
    assert (tmp_path / "memory.db").exists()
