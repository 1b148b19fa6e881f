"""The demonstration runs offline to completion on the real engine and says what it shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from headroom.cli import main


@pytest.fixture(autouse=True)
def _no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # The chat part needs a real endpoint; with none configured the demo must say how to get
    # one and go on. Point Ollama's probe at a port nothing listens on.
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "HEADROOM_CHAT_MODEL", "HEADROOM_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")


def test_demo_runs_the_scenario_and_keeps_db_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"database: {db} (kept)" in out
    assert "embedder: all-MiniLM-L6-v2, 384 dimensions" in out
    # Bob's morning preference, recalled in his afternoon session; nothing else of his or
    # Alice's is visible there.
    afternoon = out.split("Bob's afternoon session")[1].split("\n\n")[0]
    # The hits are the lines numbered "   N. " (a step time such as "12.0 ms" is not one).
    hits = re.findall(r"^ +\d+\. (.*)  similarity -?\d\.\d\d$", afternoon, flags=re.MULTILINE)
    assert hits == ["Bob prefers Go for backend services  [preference, user]"]
    assert "1. Alice's dog is called Rex" in out
    assert "1. Bob is debugging retries in the billing service (ticket INC-20931)" in out
    assert "history v1: Alice works at Google" in out
    assert "history v2: Alice works at Anthropic" in out
    assert 'search "where does she work?": Alice works at Anthropic' in out
    assert re.search(r"as of \d\d:\d\d:\d\d\.\d+ UTC: Alice works at Google\n", out)
    assert "as of now: Alice works at Anthropic" in out
    assert "6 memories: 5 current, 1 superseded" in out
    # Every step says how long it took; the last one says how to enable the chat part.
    steps = re.findall(r"^\d\. .* \.+ [\d.]+ m?s$", out, flags=re.MULTILINE)
    assert len(steps) == 8
    assert "skipped: no OpenAI-compatible endpoint is configured" in out
    assert "OPENAI_API_KEY" in out and "ollama pull" in out
    assert re.search(r"\ndone in [\d.]+ m?s\n", out)
    assert db.exists()


def test_python_m_headroom_demo_on_a_temporary_db(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "headroom.demo", "--no-chat"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "(temporary; pass --db PATH to keep it)" in result.stdout
    assert "as of now: Alice works at Anthropic" in result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_demo_chats_through_with_memory_when_an_endpoint_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A scripted OpenAI-compatible server on 127.0.0.1 stands in for the endpoint; the demo
    # prints its name and answers as they are, so nothing pretends to be a real model.
    from tests.chat_server import ChatServer

    block = (
        '<memory>{"memories":[{"content":"Dana writes her data pipelines in Rust",'
        '"category":"preference","importance":0.8}]}</memory>'
    )
    with ChatServer() as server:
        server.reply(f"Nice to meet you, Dana! {block}", "Rust, as you prefer.")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        assert main(["demo", "--db", str(tmp_path / "demo.db")]) == 0
        chats = server.chat_requests()
    out = capsys.readouterr().out
    assert f"endpoint: {server.url} (OPENAI_BASE_URL), model test-model" in out
    assert "test-model" in out and "Nice to meet you, Dana!" in out and "<memory>" not in out
    assert "+ remembered: Dana writes her data pipelines in Rust  [preference, user]" in out
    assert "recalled: Dana writes her data pipelines in Rust" in out
    assert "Rust, as you prefer." in out
    # Tuesday's request carried Monday's memory, and no Monday history.
    assert len(chats) == 2
    tuesday = chats[1].text_of("user")
    assert "Dana writes her data pipelines in Rust" in tuesday
    assert "I write all my data pipelines in Rust" not in tuesday
    assert "Which language should I use for my new data pipeline?" in tuesday
