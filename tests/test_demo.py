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
    assert "1. Bob prefers Go for backend services  [preference, user]" in afternoon
    assert "2." not in afternoon
    assert "1. Alice's dog is called Rex" in out
    assert "1. Bob is debugging retries in the billing service (ticket INC-20931)" in out
    assert "history v1: Alice works at Google" in out
    assert "history v2: Alice works at Anthropic" in out
    assert 'search "where does she work?": Alice works at Anthropic' in out
    assert re.search(r"as of \d\d:\d\d:\d\d\.\d+ UTC: Alice works at Google\n", out)
    assert "as of now: Alice works at Anthropic" in out
    assert "6 memories: 5 current, 1 superseded" in out
    # Every step says how long it took.
    steps = re.findall(r"^\d\. .* \.+ [\d.]+ m?s$", out, flags=re.MULTILINE)
    assert len(steps) == 7
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
