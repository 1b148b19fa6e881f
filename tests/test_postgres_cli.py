"""Everything above storage on a PostgreSQL database: the CLI (``--db`` takes a URL), export
from one database and import into another, the demo (with the real local model), and the
wrapper remembering across calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from headroom.cli import ExitCode, main
from headroom.memory import MemoryConfig
from headroom.wrapper import with_memory
from tests.chat_server import ChatServer
from tests.fakes import HashingEmbedder
from tests.postgres_server import PostgresServer
from tests.wrapper_support import block, context_of


@pytest.fixture
def urls(postgres_server: PostgresServer) -> Any:
    names = [postgres_server.create_database() for _ in range(2)]
    yield [postgres_server.url(name) for name in names]
    for name in names:
        postgres_server.drop_database(name)


def _run(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> Any:
    capsys.readouterr()
    code = main(["--db", url, *argv, "--json"], embedder=HashingEmbedder())
    out, err = capsys.readouterr()
    assert code == ExitCode.OK, err
    return json.loads(out) if out.strip() else None


def test_the_commands_work_on_a_url(
    urls: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = urls
    added = _run(capsys, source, "add", "Works at Google", "--user", "ann")
    _run(capsys, source, "add", "Likes green tea", "--user", "ann", "--session", "s1")
    newer = _run(capsys, source, "supersede", added["id"], "Works at Anthropic", "--user", "ann")
    hits = _run(capsys, source, "search", "where does she work", "--user", "ann")
    assert hits[0]["memory"]["content"] == "Works at Anthropic"
    history = _run(capsys, source, "history", newer["id"], "--user", "ann")
    assert [m["content"] for m in history] == ["Works at Google", "Works at Anthropic"]
    stats = _run(capsys, source, "stats", "--user", "ann")
    assert stats["total"] == 3 and stats["database"] == source
    assert stats["bytes_on_disk"] is None
    exported = _run(capsys, source, "export")
    dump = tmp_path / "export.json"
    dump.write_text(json.dumps(exported), encoding="utf-8")
    _run(capsys, target, "import", str(dump))
    assert _run(capsys, target, "export") == exported


def test_the_demo_runs_on_a_url(urls: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--db", urls[0], "--no-chat"]) == 0
    out = capsys.readouterr().out
    assert f"database: {urls[0]} (kept)" in out
    code = main(["--db", urls[0], "stats", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["total"] > 0


def test_the_wrapper_remembers_through_postgres(postgres_config: MemoryConfig) -> None:
    with ChatServer() as server:
        client = with_memory(
            openai.OpenAI(base_url=server.url, api_key="test", max_retries=0),
            config=postgres_config,
            embedder=HashingEmbedder(),
            user_id="alice",
            min_similarity=None,
        )
        try:
            server.reply("Noted. " + block("Alice works at Google as an engineer"))
            ask = client.chat.completions.create
            ask(model="m", messages=[{"role": "user", "content": "I work at Google"}])
            server.reply("At Google.")
            ask(model="m", messages=[{"role": "user", "content": "Where do I work?"}])
            assert "Alice works at Google as an engineer" in context_of(server.last)
        finally:
            client.close()
