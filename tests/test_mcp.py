"""``headroom mcp``: the real command in a subprocess, driven by the official MCP client.

Over stdio (as Claude Desktop, Cursor or VS Code start it) and over streamable HTTP on a
port the system picks. Real SQLite files in tmp_path and the real local model.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import anyio
import pytest
from mcp import Client

from headroom.memory import HierarchicalMemory, MemoryConfig
from tests.mcp_support import data, error_text, http_server, stdio_params

pytestmark = pytest.mark.anyio

TOOL_NAMES = ["remember", "recall", "list", "history", "update", "forget"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@asynccontextmanager
async def stdio_client(db: Path, *args: str) -> AsyncIterator[Client]:
    async with Client(stdio_params(db, *args)) as client:
        yield client


async def test_lists_six_tools_whose_schemas_take_no_user(db: Path) -> None:
    async with stdio_client(db, "--user", "alice") as client:
        tools = (await client.list_tools()).tools
    assert [tool.name for tool in tools] == TOOL_NAMES
    for tool in tools:
        assert tool.description and len(tool.description) > 20
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert not {"user_id", "session_id", "agent_id"} & set(schema["properties"])
        assert set(schema["required"]) <= set(schema["properties"])
    by_name = {tool.name: tool for tool in tools}
    remember = by_name["remember"].input_schema["properties"]
    assert remember["category"]["enum"] == [
        "preference",
        "fact",
        "context",
        "entity",
        "decision",
        "insight",
    ]
    assert by_name["recall"].annotations is not None
    assert by_name["recall"].annotations.read_only_hint is True
    assert by_name["forget"].annotations is not None
    assert by_name["forget"].annotations.destructive_hint is True


async def test_every_tool_over_stdio(db: Path) -> None:
    async with stdio_client(db, "--user", "alice") as client:
        added = data(
            await client.call_tool(
                "remember",
                {"content": "Alice prefers Go for backend services", "category": "preference"},
            )
        )["memory"]
        assert added["category"] == "preference" and added["scope"] == "user"
        data(await client.call_tool("remember", {"content": "Alice lives in Lisbon"}))

        hits = data(await client.call_tool("recall", {"query": "which language for APIs?"}))
        assert hits["memories"][0]["content"] == "Alice prefers Go for backend services"
        assert -1 <= hits["memories"][0]["similarity"] <= 1

        new = data(
            await client.call_tool(
                "update", {"memory_id": added["id"], "content": "Alice prefers Rust now"}
            )
        )["memory"]
        assert new["supersedes"] == added["id"] and new["category"] == "preference"

        versions = data(await client.call_tool("history", {"memory_id": added["id"]}))
        assert [v["content"] for v in versions["versions"]] == [
            "Alice prefers Go for backend services",
            "Alice prefers Rust now",
        ]
        assert [v["is_current"] for v in versions["versions"]] == [False, True]

        listed = data(await client.call_tool("list", {}))["memories"]
        assert [m["content"] for m in listed] == ["Alice prefers Rust now", "Alice lives in Lisbon"]
        newest = data(await client.call_tool("list", {"limit": 1}))["memories"]
        assert [m["content"] for m in newest] == ["Alice prefers Rust now"]
        second = data(await client.call_tool("list", {"limit": 1, "offset": 1}))["memories"]
        assert [m["content"] for m in second] == ["Alice lives in Lisbon"]
        day_before = datetime.fromisoformat(added["created_at"]) - timedelta(days=1)
        earlier = data(await client.call_tool("list", {"as_of": day_before.isoformat()}))
        assert earlier["memories"] == []  # nothing was current the day before

        gone = data(await client.call_tool("forget", {"memory_id": new["id"]}))
        assert gone["versions_deleted"] == 2
        listed = data(await client.call_tool("list", {}))["memories"]
        assert [m["content"] for m in listed] == ["Alice lives in Lisbon"]


BAD_CALLS: list[tuple[str, dict[str, object], str]] = [
    ("remember", {"content": "x", "category": "gossip"}, "unknown category 'gossip'"),
    ("remember", {"content": "x", "importance": 2}, "importance must be in [0, 1]"),
    ("remember", {"content": "x", "importance": "high"}, "importance must be a number"),
    ("remember", {"content": "   "}, "content must not be empty"),
    ("remember", {"content": "x", "user_id": "bob"}, "the user is fixed"),
    ("remember", {"content": "x", "scope": "session"}, "needs a session id"),
    ("remember", {"content": "x", "scope": "planet"}, "unknown scope 'planet'"),
    ("remember", {}, "remember needs 'content'"),
    ("recall", {"query": "x", "top_k": 0}, "top_k must be a positive int"),
    ("recall", {"query": "x", "session_id": "s1"}, "recall does not take 'session_id'"),
    ("list", {"as_of": "yesterday"}, "as_of is not an ISO 8601 time"),
    ("list", {"limit": -1}, "must not be negative"),
    ("list", {"limit": "ten"}, "limit must be a whole number"),
    ("history", {"memory_id": "nope"}, "malformed memory id 'nope'"),
    ("forget", {"memory_id": "00000000-0000-4000-8000-000000000000"}, "no memory with id"),
    ("teleport", {}, "no tool named 'teleport'"),
]


async def test_bad_input_is_a_tool_error_with_headroom_message(db: Path) -> None:
    async with stdio_client(db, "--user", "alice") as client:
        for tool, arguments, message in BAD_CALLS:
            result = await client.call_tool(tool, arguments)
            assert result.is_error, (tool, arguments, result)
            assert message in error_text(result), (tool, arguments, error_text(result))
        # The server is still there, and nothing was stored.
        assert data(await client.call_tool("list", {}))["memories"] == []


async def test_update_of_an_old_version_names_the_current_one(db: Path) -> None:
    async with stdio_client(db, "--user", "alice") as client:
        old = data(await client.call_tool("remember", {"content": "Alice works at Google"}))
        old_id = old["memory"]["id"]
        new = data(
            await client.call_tool(
                "update", {"memory_id": old_id, "content": "Alice works at Anthropic"}
            )
        )
        again = await client.call_tool("update", {"memory_id": old_id, "content": "Alice rests"})
        assert again.is_error
        assert new["memory"]["id"] in error_text(again) and "no longer current" in error_text(again)


async def _add(db: Path, content: str, **ids: str) -> str:
    async with await HierarchicalMemory.create(MemoryConfig(db_path=db)) as memory:
        return (await memory.add(content, **ids)).id  # type: ignore[arg-type]


async def test_a_model_never_reaches_another_users_or_sessions_memories(db: Path) -> None:
    bob = await _add(db, "Bob's salary is 100k", user_id="bob")
    other_session = await _add(db, "Alice's notes of Monday", user_id="alice", session_id="mon")
    async with stdio_client(db, "--user", "alice", "--session", "tue") as client:
        for memory_id in (bob, other_session):
            for tool, extra in (("history", {}), ("forget", {}), ("update", {"content": "x"})):
                result = await client.call_tool(tool, {"memory_id": memory_id, **extra})
                assert result.is_error and error_text(result) == f"no memory with id {memory_id!r}"
        found = data(await client.call_tool("recall", {"query": "salary notes Monday"}))
        assert found["memories"] == []
        assert data(await client.call_tool("list", {"limit": 0}))["memories"] == []
    async with await HierarchicalMemory.create(MemoryConfig(db_path=db)) as memory:
        assert (await memory.get(bob)).content == "Bob's salary is 100k"  # untouched
        assert (await memory.get(other_session)).is_current


async def test_scopes_follow_the_servers_ids(db: Path) -> None:
    async with stdio_client(db, "--user", "alice", "--session", "s1", "--agent", "coder") as c:
        made = {
            category: data(await c.call_tool("remember", {"content": text, "category": category}))
            for category, text in (
                ("preference", "Alice likes tabs"),
                ("context", "We are refactoring the parser"),
                ("decision", "Use a hand-written lexer"),
            )
        }
        pinned = data(
            await c.call_tool("remember", {"content": "Standup at ten", "scope": "session"})
        )
    assert {k: v["memory"]["scope"] for k, v in made.items()} == {
        "preference": "user",
        "context": "session",
        "decision": "agent",
    }
    assert pinned["memory"]["scope"] == "session"
    async with stdio_client(db, "--user", "alice", "--session", "s2") as client:
        listed = data(await client.call_tool("list", {}))["memories"]
    assert [m["content"] for m in listed] == ["Alice likes tabs"]  # s2 sees the user level only


async def test_per_call_ids_narrow_within_the_user(db: Path) -> None:
    async with stdio_client(db, "--user", "alice", "--per-call-ids") as client:
        schema = (await client.list_tools()).tools[0].input_schema
        assert {"session_id", "agent_id"} <= set(schema["properties"])
        assert "user_id" not in schema["properties"]
        draft = {"content": "Draft due Friday", "category": "context", "session_id": "a"}
        data(await client.call_tool("remember", draft))
        seen_in_a = data(await client.call_tool("list", {"session_id": "a"}))["memories"]
        seen_in_b = data(await client.call_tool("list", {"session_id": "b"}))["memories"]
        refused = await client.call_tool("list", {"user_id": "bob"})
    assert [m["content"] for m in seen_in_a] == ["Draft due Friday"]
    assert seen_in_b == [] and refused.is_error


async def test_stdio_server_stops_when_the_host_closes_it(db: Path) -> None:
    # Leaving the client closes stdin; the server closes the memory and exits, releasing the
    # database for the next process.
    async with stdio_client(db, "--user", "alice") as client:
        data(await client.call_tool("remember", {"content": "Alice is left-handed"}))
    async with await HierarchicalMemory.create(MemoryConfig(db_path=db)) as memory:
        assert [m.content for m in await memory.query()] == ["Alice is left-handed"]


async def test_missing_user_is_a_usage_error(db: Path) -> None:
    result = await anyio.run_process([*_command(), "mcp", "--db", str(db)], check=False, stdin=None)
    assert result.returncode == 2
    assert b"needs a user" in result.stderr


def _command() -> list[str]:
    from tests.mcp_support import HEADROOM

    return [HEADROOM]


# -- HTTP ----------------------------------------------------------------------------------------


@pytest.fixture
def two_dbs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    yield tmp_path / "alice.db", tmp_path / "bob.db"


async def test_every_tool_over_http(db: Path) -> None:
    with http_server(db, "--user", "alice") as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        async with Client(url) as client:
            assert [t.name for t in (await client.list_tools()).tools] == TOOL_NAMES
            added = data(await client.call_tool("remember", {"content": "Alice runs marathons"}))
            found = data(await client.call_tool("recall", {"query": "sport"}))
            bad = await client.call_tool("remember", {"content": "x", "category": "gossip"})
        assert found["memories"][0]["id"] == added["memory"]["id"]
        assert bad.is_error and "unknown category" in error_text(bad)
        async with Client(url) as again:  # a second client session, same server and memory
            assert len(data(await again.call_tool("list", {}))["memories"]) == 1


async def _two_users_see_nothing_of_each_other(alice_db: Path, bob_db: Path) -> None:
    with (
        http_server(alice_db, "--user", "alice") as alice_url,
        http_server(bob_db, "--user", "bob") as bob_url,
    ):
        async with Client(alice_url) as alice, Client(bob_url) as bob:
            mine = data(await alice.call_tool("remember", {"content": "Alice's PIN is 4321"}))
            data(await bob.call_tool("remember", {"content": "Bob's PIN is 9876"}))
            bob_found = data(await bob.call_tool("recall", {"query": "PIN", "top_k": 10}))
            bob_list = data(await bob.call_tool("list", {"limit": 0}))
            stolen = await bob.call_tool("history", {"memory_id": mine["memory"]["id"]})
            alice_found = data(await alice.call_tool("recall", {"query": "PIN"}))
    assert [m["content"] for m in bob_found["memories"]] == ["Bob's PIN is 9876"]
    assert [m["content"] for m in bob_list["memories"]] == ["Bob's PIN is 9876"]
    assert stolen.is_error and "no memory with id" in error_text(stolen)
    assert [m["content"] for m in alice_found["memories"]] == ["Alice's PIN is 4321"]


async def test_two_servers_for_two_users_see_nothing_of_each_other(
    two_dbs: tuple[Path, Path],
) -> None:
    await _two_users_see_nothing_of_each_other(*two_dbs)


async def test_two_servers_for_two_users_on_one_database(db: Path) -> None:
    await _two_users_see_nothing_of_each_other(db, db)


async def test_http_server_stops_cleanly_on_sigterm(db: Path) -> None:
    # http_server() sends SIGTERM on exit and asserts exit status 0: the memory was closed.
    with http_server(db, "--user", "alice") as url:
        async with Client(url) as client:
            data(await client.call_tool("remember", {"content": "Alice owns a cat"}))
    async with await HierarchicalMemory.create(MemoryConfig(db_path=db)) as memory:
        assert len(await memory.query()) == 1


def test_python_is_this_environments() -> None:
    from tests.mcp_support import HEADROOM

    assert Path(HEADROOM).parent == Path(sys.executable).parent


def test_without_the_mcp_extra_the_command_says_what_to_install(db: Path) -> None:
    import subprocess

    hide = (
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'mcp':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from headroom.cli import main\n"
        f"sys.exit(main(['mcp', '--user', 'alice', '--db', {str(db)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "pip install 'headroom[mcp]'" in result.stderr and "Traceback" not in result.stderr
    assert not db.exists()
