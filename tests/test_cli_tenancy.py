"""The CLI keeps users apart: the crafted import, and the id commands with --user.

Run in-process through ``main``, as tests/test_cli.py does (the hashing embedder injected).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from headroom.cli import ExitCode
from tests.fakes import HashingEmbedder
from tests.test_cli import Cli


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEADROOM_DB", "HEADROOM_USER", "HEADROOM_EMBEDDER", "HEADROOM_EMBEDDER_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "memory.db", capsys, HashingEmbedder())


def test_a_crafted_import_cannot_delete_another_users_memory(cli: Cli, tmp_path: Path) -> None:
    # The attack, as a shell would run it: export Bob's memories, point one at Alice's
    # memory under a new id, import it as Bob's, delete it.
    secret = cli.json("add", "Alice PIN 4321", "-u", "alice")
    cli.json("add", "bob note", "-u", "bob")
    assert cli("export", "-u", "bob") == 0
    record = json.loads(cli.out)
    crafted = dict(record, id=str(uuid.uuid4()), supersedes=secret["id"])
    dump = tmp_path / "b.jsonl"
    dump.write_text(json.dumps(crafted) + "\n", encoding="utf-8")
    assert cli("import", str(dump), "-u", "bob") == ExitCode.USAGE
    assert "record 0" in cli.err and "a memory of another user" in cli.err
    assert "Traceback" not in cli.err
    assert cli("delete", crafted["id"], "-u", "bob") == ExitCode.NOT_FOUND  # never imported
    assert cli.json("show", secret["id"])["content"] == "Alice PIN 4321"
    assert len(cli.json("list", "-u", "bob")) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "ID"],
        ["history", "ID"],
        ["supersede", "ID", "owned by bob"],
        ["rollback", "ID"],
        ["delete", "ID"],
    ],
)
def test_id_commands_with_a_user_reach_only_that_users_memories(cli: Cli, argv: list[str]) -> None:
    first = cli.json("add", "Alice PIN 4321", "-u", "alice")
    head = cli.json("supersede", first["id"], "Alice PIN 9999", "-u", "alice")
    unknown = str(uuid.uuid4())
    for memory_id in (first["id"], unknown):
        args = [memory_id if a == "ID" else a for a in argv]
        assert cli(*args, "-u", "bob") == ExitCode.NOT_FOUND
        assert f"memory '{memory_id}' is not a memory of user 'bob' (or does not exist)" in cli.err
    assert [m["content"] for m in cli.json("history", first["id"], "-u", "alice")] == [
        "Alice PIN 4321",
        "Alice PIN 9999",
    ]
    own = head["id"] if argv[0] == "supersede" else first["id"]
    assert cli(*[own if a == "ID" else a for a in argv], "-u", "alice") == 0  # the owner
