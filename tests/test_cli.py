"""The ``headroom`` command, run in-process through ``main`` and once as the installed script.

Real databases in tmp_path and the real local model: the CLI opens the engine with its
defaults, as a person's terminal would.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from headroom.cli import ExitCode, main
from headroom.cli._parser import build_parser
from headroom.cli._progress import ProgressBar
from headroom.embedders import Embedder
from tests.fakes import HashingEmbedder


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEADROOM_DB", "HEADROOM_USER", "HEADROOM_EMBEDDER", "HEADROOM_EMBEDDER_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


class Cli:
    """Runs ``main`` against one database, capturing what it prints.

    With the hashing embedder injected at the port (``main(embedder=...)``) each command costs
    milliseconds; the tests marked as using the real model pass ``embedder=None``.
    """

    def __init__(
        self, db: Path, capsys: pytest.CaptureFixture[str], embedder: Embedder | None
    ) -> None:
        self.db = db
        self._capsys = capsys
        self._embedder = embedder
        self.out = ""
        self.err = ""

    def __call__(self, *argv: str, db: Path | None = None) -> int:
        self._capsys.readouterr()
        code = main(["--db", str(db or self.db), *argv], embedder=self._embedder)
        self.out, self.err = self._capsys.readouterr()
        return code

    def json(self, *argv: str, db: Path | None = None) -> Any:
        code = self(*argv, "--json", db=db)
        assert code == 0, self.err
        return json.loads(self.out)


@pytest.fixture
def cli(db: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(db, capsys, HashingEmbedder())


@pytest.fixture
def real_cli(db: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The CLI as installed: the embedder from --embedder (the local ONNX model)."""
    return Cli(db, capsys, None)


def _add(cli: Cli, content: str, *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = cli.json("add", content, *extra)
    return data


# -- help and usage ----------------------------------------------------------------------------

COMMANDS = (
    "add search list show history supersede rollback delete clear stats export import reindex "
    "reembed demo chat mcp"
).split()


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert f"\n    {command} " in text, command
    assert "exit codes" in text and "HEADROOM_USER" in text
    for command in COMMANDS:
        assert main([command, "--help"]) == 0
        assert "--db" in capsys.readouterr().out


def test_parser_knows_exactly_the_documented_commands() -> None:
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    assert sorted(actions[0].choices) == sorted(COMMANDS)  # type: ignore[arg-type]


def test_usage_errors_exit_2(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == ExitCode.USAGE
    assert "a command is required" in capsys.readouterr().err
    assert cli("add", "no user given") == ExitCode.USAGE
    assert "needs a user" in cli.err and "HEADROOM_USER" in cli.err
    assert cli("add", "x", "--user", "u", "--category", "gossip") == ExitCode.USAGE
    assert cli("add", "x", "--user", "u", "--importance", "2") == ExitCode.USAGE
    assert cli("add", "x", "--user", "u", "--metadata", "[1]") == ExitCode.USAGE
    assert "JSON object" in cli.err
    assert cli("list", "--as-of", "yesterday-ish") == ExitCode.USAGE
    assert cli("frobnicate") == ExitCode.USAGE
    assert "Traceback" not in cli.err


def test_engine_validation_errors_are_usage_errors_without_traceback(cli: Cli) -> None:
    assert cli("add", "x" * 20_001, "--user", "u") == ExitCode.USAGE  # max_content_chars
    assert cli.err.startswith("headroom: error: content is 20001 characters; the limit is 20000")
    assert "Traceback" not in cli.err and "item 0" not in cli.err


@pytest.mark.parametrize("content", ["", "   ", "\n\t"])
def test_empty_content_is_refused_before_anything_opens(cli: Cli, content: str) -> None:
    assert cli("add", content, "--user", "u") == ExitCode.USAGE
    assert "argument content: must not be empty or only whitespace" in cli.err
    assert "item 0" not in cli.err and not cli.db.exists()
    m = _add(cli, "a fact", "-u", "u")
    assert cli("supersede", m["id"], content) == ExitCode.USAGE
    assert "must not be empty" in cli.err


# Every command, with its required arguments; the id is replaced by a real one.
_EVERY_COMMAND = {
    "add": ["add", "x"],
    "search": ["search", "x"],
    "list": ["list"],
    "show": ["show", "ID"],
    "history": ["history", "ID"],
    "supersede": ["supersede", "ID", "new text"],
    "rollback": ["rollback", "ID"],
    "delete": ["delete", "ID"],
    "clear": ["clear", "--yes"],
    "stats": ["stats"],
    "export": ["export"],
    "import": ["import", "-"],
    "reindex": ["reindex"],
    "reembed": ["reembed", "--to", "local"],
    "demo": ["demo", "--no-chat"],
    "chat": ["chat"],
    "mcp": ["mcp"],
}


def test_every_command_is_in_the_blank_user_table() -> None:
    assert sorted(_EVERY_COMMAND) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(_EVERY_COMMAND))
@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_blank_user_is_refused_by_every_command(cli: Cli, command: str, blank: str) -> None:
    # A blank --user read as "no user" would lift the guard of the id commands: show,
    # history, supersede, rollback and delete would act on any user's memory.
    m = _add(cli, "alice's secret", "-u", "alice")
    argv = [m["id"] if arg == "ID" else arg for arg in _EVERY_COMMAND[command]]
    assert cli(*argv, "--user", blank) == ExitCode.USAGE
    assert "argument --user/-u: must not be empty or only whitespace" in cli.err
    assert cli(*argv, f"--user={blank}") == ExitCode.USAGE
    assert cli.json("show", m["id"]) == m  # untouched


@pytest.mark.parametrize("command", ["show", "history", "supersede", "rollback", "delete"])
@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_headroom_user_is_refused(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: str, blank: str
) -> None:
    m = _add(cli, "alice's secret", "-u", "alice")
    cli.json("supersede", m["id"], "alice's newer secret")
    monkeypatch.setenv("HEADROOM_USER", blank)
    argv = [m["id"] if arg == "ID" else arg for arg in _EVERY_COMMAND[command]]
    assert cli(*argv) == ExitCode.USAGE
    assert "HEADROOM_USER is set but empty" in cli.err and "unset HEADROOM_USER" in cli.err
    monkeypatch.delenv("HEADROOM_USER")
    assert len(cli.json("history", m["id"])) == 2  # nothing changed


def test_blank_scope_ids_are_refused(cli: Cli) -> None:
    for option in ("--session", "--agent", "--turn"):
        assert cli("add", "x", "-u", "u", option, " ") == ExitCode.USAGE
        assert f"argument {option}" in cli.err and "must not be empty" in cli.err
    assert cli("show", " ") == ExitCode.USAGE


def test_db_pointing_at_a_directory(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv in (["list"], ["add", "x", "-u", "u"], ["demo", "--no-chat"]):
        assert cli(*argv, db=tmp_path) == ExitCode.USAGE, argv
        assert f"the database path {tmp_path} is a directory, not a database file" in cli.err
        assert f"--db {tmp_path / 'memory.db'}" in cli.err
    monkeypatch.setenv("HEADROOM_DB", str(tmp_path))
    assert main(["stats"], embedder=HashingEmbedder()) == ExitCode.USAGE
    assert list(tmp_path.iterdir()) == []  # nothing was created in it


@pytest.mark.parametrize("value", ["5", "-1.5", "nan", "high"])
def test_min_similarity_is_a_cosine(cli: Cli, value: str) -> None:
    _add(cli, "x", "-u", "u")
    assert cli("search", "x", "-u", "u", "--min-similarity", value) == ExitCode.USAGE
    assert "--min-similarity" in cli.err
    assert cli("search", "x", "-u", "u", "--min-similarity", "-1") == 0


def test_options_work_before_and_after_the_command(cli: Cli, db: Path) -> None:
    embedder = HashingEmbedder()
    assert main(["--db", str(db), "--user", "u", "add", "before"], embedder=embedder) == 0
    assert main(["add", "after", "--db", str(db), "--user", "u"], embedder=embedder) == 0
    listed = cli.json("list")
    assert [m["content"] for m in listed] == ["before", "after"]


def test_environment_defaults(cli: Cli, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_DB", str(db))
    monkeypatch.setenv("HEADROOM_USER", "envuser")
    assert main(["add", "from the environment", "--json"], embedder=HashingEmbedder()) == 0
    listed = cli.json("list")
    assert listed[0]["user_id"] == "envuser"


# -- the commands --------------------------------------------------------------------------------


def test_add_search_show_with_scopes(cli: Cli) -> None:
    go = _add(cli, "Bob prefers Go for backend services", "-u", "bob", "-c", "preference")
    _add(cli, "Bob is debugging the billing service", "-u", "bob", "--session", "morning")
    _add(cli, "Alice prefers Python", "-u", "alice")
    assert go["scope"] == "user" and go["category"] == "preference" and go["is_current"]

    hits = cli.json("search", "which language for the backend?", "-u", "bob", "-s", "afternoon")
    assert [h["memory"]["content"] for h in hits] == ["Bob prefers Go for backend services"]
    assert -1 <= hits[0]["similarity"] <= 1 and hits[0]["score"] > 0

    morning = cli.json("search", "billing", "-u", "bob", "-s", "morning")
    assert "Bob is debugging the billing service" in [h["memory"]["content"] for h in morning]

    assert cli("search", "which language?", "-u", "bob") == 0
    assert "Bob prefers Go" in cli.out and "SIMILARITY" in cli.out

    shown = cli.json("show", go["id"])
    assert shown == go
    assert cli("show", go["id"]) == 0 and "preference" in cli.out


def test_list_filters(cli: Cli) -> None:
    a = _add(cli, "user fact", "-u", "u", "-i", "0.9")
    _add(cli, "session note", "-u", "u", "-s", "s1", "-c", "context", "-i", "0.1")
    _add(cli, "agent note", "-u", "u", "-a", "planner", "-c", "decision")
    _add(cli, "someone else", "-u", "v")

    def contents(*argv: str) -> list[str]:
        return [m["content"] for m in cli.json("list", *argv)]

    assert contents() == ["user fact", "session note", "agent note", "someone else"]
    assert contents("-u", "u") == ["user fact", "session note", "agent note"]
    assert contents("--level", "session") == ["session note"]
    assert contents("--level", "agent", "--level", "session") == ["session note", "agent note"]
    assert contents("-c", "decision") == ["agent note"]
    assert contents("-s", "s1") == ["session note"]
    assert contents("--min-importance", "0.8") == ["user fact"]
    assert contents("--after", a["created_at"]) == ["session note", "agent note", "someone else"]
    assert contents("--limit", "1", "--offset", "1") == ["session note"]
    assert cli("list", "--limit", "2") == 0
    assert "--offset 2" in cli.err  # there may be more: say how to page
    assert cli("list", "-u", "nobody") == 0 and "no memories" in cli.out


def test_supersede_history_as_of_and_rollback(cli: Cli) -> None:
    old = _add(cli, "Alice works at Google", "-u", "alice", "-m", '{"source": "hr"}')
    new = cli.json("supersede", old["id"], "Alice works at Anthropic")
    assert new["supersedes"] == old["id"] and new["metadata"] == {"source": "hr"}

    history = cli.json("history", old["id"])
    assert [v["content"] for v in history] == ["Alice works at Google", "Alice works at Anthropic"]
    assert [v["is_current"] for v in history] == [False, True]

    then = cli.json("list", "--as-of", history[0]["valid_from"])
    assert [m["content"] for m in then] == ["Alice works at Google"]
    assert [m["content"] for m in cli.json("list", "--as-of", "now")] == [
        "Alice works at Anthropic"
    ]
    assert len(cli.json("list", "--all")) == 2

    assert cli("supersede", old["id"], "Alice works at OpenAI") == ExitCode.CONFLICT
    assert new["id"] in cli.err and "history" in cli.err

    assert cli("rollback", new["id"]) == ExitCode.CONFLICT
    assert "already the current version" in cli.err
    back = cli.json("rollback", old["id"])
    assert back["content"] == "Alice works at Google" and back["supersedes"] == new["id"]
    assert cli("history", old["id"]) == 0
    assert cli.out.count("Alice works at") == 3 and "*" in cli.out


def test_list_as_of_labels_what_was_current_then(cli: Cli) -> None:
    old = _add(cli, "Alice works at Google", "-u", "alice")
    cli.json("supersede", old["id"], "Alice works at Anthropic")
    assert cli("list", "--as-of", old["valid_from"]) == 0
    assert "Alice works at Google  (since superseded)" in cli.out
    assert "Anthropic" not in cli.out
    assert cli("list", "--all") == 0
    assert "Alice works at Google  (superseded)" in cli.out
    assert "Alice works at Anthropic\n" in cli.out  # current: no label
    assert cli("list", "--as-of", "now") == 0
    assert "superseded" not in cli.out


def _columns(table: str) -> list[str]:
    return table.splitlines()[0].split()


def test_list_shows_whose_memories_when_it_spans_users(cli: Cli) -> None:
    _add(cli, "Bob prefers Go", "-u", "bob")
    _add(cli, "Alice prefers Python", "-u", "alice")
    assert cli("list") == 0
    assert _columns(cli.out)[:2] == ["ID", "USER"]
    rows = {line.split()[1]: line for line in cli.out.splitlines()[1:]}
    assert "Bob prefers Go" in rows["bob"] and "Alice prefers Python" in rows["alice"]
    assert cli("list", "-u", "bob") == 0
    assert "USER" not in _columns(cli.out) and "Alice" not in cli.out


def test_export_json_is_one_document_that_imports(cli: Cli, tmp_path: Path) -> None:
    _populate(cli)
    assert cli("export") == 0
    lines = [json.loads(line) for line in cli.out.splitlines()]
    assert cli("export", "--json") == 0
    document = json.loads(cli.out)  # the whole output is one JSON value
    assert document == lines and len(document) == 6

    dump = tmp_path / "dump.json"
    dump.write_text(cli.out, encoding="utf-8")
    copy = tmp_path / "copy.db"
    assert cli.json("import", str(dump), db=copy) == {"imported": 6, "skipped": 0}
    assert cli.json("list", "--all", db=copy) == cli.json("list", "--all")

    assert cli.json("export", "-u", "nobody") == []
    summary = cli.json("export", "-o", str(tmp_path / "backup.jsonl"))
    assert summary == {"exported": 6, "output": str(tmp_path / "backup.jsonl")}


def test_import_reports_the_bad_record_of_an_array(cli: Cli, tmp_path: Path) -> None:
    _add(cli, "one", "-u", "u")
    document = cli.json("export")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([*document, {"id": "x"}]), encoding="utf-8")
    assert cli("import", str(bad), db=tmp_path / "t.db") == ExitCode.ERROR
    assert "record 2: missing fields" in cli.err
    bad.write_text(json.dumps(document * 2), encoding="utf-8")
    assert cli("import", str(bad), db=tmp_path / "t.db") == ExitCode.ERROR
    assert "record 2: id" in cli.err and "repeats record 1" in cli.err
    bad.write_text("[{", encoding="utf-8")
    assert cli("import", str(bad), db=tmp_path / "t.db") == ExitCode.ERROR
    assert "not JSON" in cli.err


def test_delete_and_clear(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    m = _add(cli, "to forget", "-u", "u")
    cli.json("supersede", m["id"], "to forget, v2")
    _add(cli, "keep me", "-u", "u")
    _add(cli, "session one", "-u", "u", "-s", "s1")
    _add(cli, "other user", "-u", "v")
    assert cli.json("delete", m["id"]) == {"deleted": 2, "id": m["id"]}
    assert cli("show", m["id"]) == ExitCode.NOT_FOUND

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: never asks
    assert cli("clear", "-u", "u", "-s", "s1") == ExitCode.USAGE
    assert "--yes" in cli.err
    assert cli.json("clear", "-u", "u", "-s", "s1", "--yes") == {"deleted": 1}
    assert cli.json("clear", "-u", "u", "--yes") == {"deleted": 1}
    assert [x["content"] for x in cli.json("list")] == ["other user"]


class Terminal(io.StringIO):
    """A stream that says it is a terminal, with what the person types already in it."""

    def isatty(self) -> bool:
        return True


def test_clear_asks_on_a_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(cli, "one", "-u", "u")
    _add(cli, "two", "-u", "u")
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    assert cli("clear", "-u", "u") == ExitCode.ERROR
    assert "delete 2 memories of user 'u'? [y/N]" in cli.err and "nothing deleted" in cli.err
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert cli("clear", "-u", "u") == 0 and "deleted 2 memories of user 'u'" in cli.out
    assert cli("clear", "-u", "u") == 0 and "nothing to delete" in cli.out


def test_user_guard_on_id_commands(cli: Cli) -> None:
    m = _add(cli, "alice's", "-u", "alice")
    assert cli("show", m["id"], "-u", "bob") == ExitCode.NOT_FOUND
    assert "not a memory of user 'bob'" in cli.err
    assert cli("delete", m["id"], "-u", "bob") == ExitCode.NOT_FOUND
    assert cli("show", m["id"], "-u", "alice") == 0


def test_stats(cli: Cli) -> None:
    m = _add(cli, "a", "-u", "u", "-c", "preference")
    cli.json("supersede", m["id"], "b")
    _add(cli, "c", "-u", "u", "-s", "s")
    _add(cli, "d", "-u", "v")
    everyone = cli.json("stats")
    assert (everyone["total"], everyone["current"], everyone["superseded"]) == (4, 3, 1)
    assert everyone["embedder"] == {"model": "hashing-test", "dimension": 64}
    assert everyone["bytes_on_disk"] > 0
    mine = cli.json("stats", "-u", "u")  # scopes and categories count current versions
    assert mine["total"] == 3 and mine["scopes"] == {"user": 1, "session": 1, "agent": 0, "turn": 0}
    assert cli("stats") == 0 and "4 (3 current, 1 superseded)" in cli.out


def test_reindex_rebuilds_a_lost_index(cli: Cli, db: Path) -> None:
    _add(cli, "Rex is Alice's dog", "-u", "alice")
    _add(cli, "Alice works at Google", "-u", "alice")
    for index in db.parent.glob(db.name + ".*.usearch"):
        index.unlink()
    assert cli.json("reindex") == {"vectors": 2}
    hits = cli.json("search", "dog", "-u", "alice", "-k", "1")
    assert hits[0]["memory"]["content"] == "Rex is Alice's dog"


# -- export and import ---------------------------------------------------------------------------


def _populate(cli: Cli) -> None:
    job = _add(cli, "Alice works at Google", "-u", "alice", "-i", "0.9")
    v2 = cli.json("supersede", job["id"], "Alice works at Anthropic", "-m", '{"n": 2}')
    assert v2["supersedes"] == job["id"]
    back = cli.json("rollback", job["id"])
    cli.json("supersede", back["id"], "Alice works at Anthropic again")
    metadata = '{"tags": ["a", "b"], "nested": {"x": 1.5, "y": null, "z": true}}'
    _add(
        cli,
        'Ünïcödé ✓ "quotes"\nnew line',
        "-u",
        "alice",
        "-s",
        "s1",
        "-c",
        "insight",
        "-m",
        metadata,
    )
    _add(cli, "agent memory", "-u", "bob", "-a", "planner", "-t", "turn-7", "-i", "0.123456789")


def test_export_import_round_trip_is_exact(cli: Cli, tmp_path: Path) -> None:
    _populate(cli)
    first = tmp_path / "first.jsonl"
    assert cli("export", "-o", str(first)) == 0
    lines = first.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and all(json.loads(line)["id"] for line in lines)

    copy = tmp_path / "copy.db"
    assert cli.json("import", str(first), db=copy) == {"imported": 6, "skipped": 0}
    second = tmp_path / "second.jsonl"
    assert cli("export", "-o", str(second), db=copy) == 0
    assert second.read_bytes() == first.read_bytes()

    original = cli.json("list", "--all")
    restored = cli.json("list", "--all", db=copy)
    assert restored == original  # ids, chains, every timestamp, metadata
    chain = cli.json("history", original[0]["id"], db=copy)
    assert [v["content"] for v in chain] == [
        "Alice works at Google",
        "Alice works at Anthropic",
        "Alice works at Google",
        "Alice works at Anthropic again",
    ]
    hits = cli.json("search", "where does Alice work", "-u", "alice", "-k", "1", db=copy)
    assert hits[0]["memory"]["content"] == "Alice works at Anthropic again"


def test_export_carries_a_memory_source_and_older_exports_import(cli: Cli, tmp_path: Path) -> None:
    import anyio

    from headroom.memory import HierarchicalMemory, MemoryConfig

    async def add_with_source() -> None:
        config = MemoryConfig(db_path=cli.db)
        async with await HierarchicalMemory.create(config, embedder=HashingEmbedder()) as m:
            await m.add("Yes, it was amazing!", user_id="alice", source="How was the concert?")

    anyio.run(add_with_source)
    _add(cli, "Alice lives in Lisbon", "-u", "alice")
    assert cli("export") == 0
    records = [json.loads(line) for line in cli.out.splitlines()]
    assert [r["source"] for r in records] == ["How was the concert?", None]
    older = tmp_path / "older.jsonl"  # written before memories had a source
    older.write_text(
        "\n".join(json.dumps({k: v for k, v in r.items() if k != "source"}) for r in records),
        encoding="utf-8",
    )
    copy = tmp_path / "copy.db"
    assert cli.json("import", str(older), db=copy) == {"imported": 2, "skipped": 0}
    assert [m["source"] for m in cli.json("list", "--all", db=copy)] == [None, None]
    full = tmp_path / "full.jsonl"
    assert cli("export", "-o", str(full)) == 0
    again = tmp_path / "again.db"
    assert cli.json("import", str(full), db=again) == {"imported": 2, "skipped": 0}
    hits = cli.json("search", "concert", "-u", "alice", "-k", "1", db=again)
    assert hits[0]["memory"]["content"] == "Yes, it was amazing!"
    assert hits[0]["memory"]["source"] == "How was the concert?"


def test_export_to_stdout_and_import_from_stdin(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(cli, "one", "-u", "u")
    _add(cli, "two", "-u", "v")
    assert cli("export", "-u", "u") == 0
    assert [json.loads(line)["content"] for line in cli.out.splitlines()] == ["one"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(cli.out))
    assert cli.json("import", "-", db=tmp_path / "other.db") == {"imported": 1, "skipped": 0}


def test_import_conflicts_store_nothing(cli: Cli, tmp_path: Path) -> None:
    _add(cli, "one", "-u", "u")
    dump = tmp_path / "dump.jsonl"
    assert cli("export", "-o", str(dump)) == 0
    extra = tmp_path / "extra.db"
    _add(cli, "already here", "-u", "u")
    assert cli("export", "-o", str(tmp_path / "both.jsonl")) == 0
    assert cli("import", str(dump), db=extra) == 0

    assert cli("import", str(tmp_path / "both.jsonl"), db=extra) == ExitCode.CONFLICT
    assert "nothing was imported" in cli.err and "--skip-existing" in cli.err
    assert len(cli.json("list", db=extra)) == 1
    result = cli.json("import", str(tmp_path / "both.jsonl"), "--skip-existing", db=extra)
    assert result == {"imported": 1, "skipped": 1}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ('{"id": 1}', "line 2: missing fields"),
        ('{"id": 1, "colour": "red"}', "line 2: unknown fields ['colour']"),
        ("[]", "line 2: expected a JSON object"),
    ],
)
def test_import_reports_the_bad_line(cli: Cli, tmp_path: Path, line: str, message: str) -> None:
    _add(cli, "one", "-u", "u")
    dump = tmp_path / "dump.jsonl"
    assert cli("export", "-o", str(dump)) == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(dump.read_text() + line + "\n", encoding="utf-8")
    target = tmp_path / "target.db"
    assert cli("import", str(bad), db=target) == ExitCode.ERROR
    assert message in cli.err and "Traceback" not in cli.err
    assert not target.exists() or cli.json("list", db=target) == []


def test_import_checks_times_and_duplicates(cli: Cli, tmp_path: Path) -> None:
    _add(cli, "one", "-u", "u")
    assert cli("export") == 0
    record = json.loads(cli.out)
    naive = dict(record, created_at=record["created_at"].replace("+00:00", ""))
    path = tmp_path / "naive.jsonl"
    path.write_text(json.dumps(naive) + "\n")
    assert cli("import", str(path), db=tmp_path / "t.db") == ExitCode.ERROR
    assert "created_at must carry a UTC offset" in cli.err
    path.write_text((json.dumps(record) + "\n") * 2)
    assert cli("import", str(path), db=tmp_path / "t.db") == ExitCode.ERROR
    assert "repeats line 1" in cli.err
    assert cli("import", str(tmp_path / "missing.jsonl")) == ExitCode.ERROR
    assert "cannot read" in cli.err


def test_import_draws_progress_only_on_a_terminal(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(5):
        _add(cli, f"note {n}", "-u", "u")
    dump = tmp_path / "dump.jsonl"
    assert cli("export", "-o", str(dump)) == 0
    assert cli("import", str(dump), db=tmp_path / "a.db") == 0
    assert "\r" not in cli.err and "importing" not in cli.err  # stderr is not a terminal

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert (
        main(
            ["--db", str(tmp_path / "b.db"), "import", str(dump)],
            embedder=HashingEmbedder(),
        )
        == 0
    )
    assert "importing [" in terminal.getvalue() and "5/5" in terminal.getvalue()
    assert "imported 5 memories" in capsys.readouterr().out


def test_reembed_switches_the_database_to_another_embedder(cli: Cli, real_cli: Cli) -> None:
    _add(cli, "Rex is Alice's dog", "-u", "alice")
    _add(cli, "Alice works at Google", "-u", "alice")
    assert real_cli("list") == ExitCode.ERROR  # built with the hashing embedder
    result = cli.json("reembed", "--to", "local")
    assert result["embedder"] == {"backend": "local", "model": "all-MiniLM-L6-v2", "dimension": 384}
    assert "--embedder local --embedder-model all-MiniLM-L6-v2" in cli.err
    hits = real_cli.json("search", "what pet does she have?", "-u", "alice", "-k", "1")
    assert hits[0]["memory"]["content"] == "Rex is Alice's dog"


# -- failures a person can act on ----------------------------------------------------------------


def test_missing_database_is_not_created_by_reads(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for argv in (["list"], ["stats"], ["search", "x", "-u", "u"], ["export"]):
        assert cli(*argv, db=missing) == ExitCode.NOT_FOUND
        assert "no database at" in cli.err and "--db" in cli.err
    assert not missing.exists()


def test_unknown_id_is_not_found(cli: Cli) -> None:
    _add(cli, "one", "-u", "u")
    unknown = "00000000-0000-4000-8000-000000000000"
    for argv in (["show", unknown], ["history", unknown], ["delete", unknown]):
        assert cli(*argv) == ExitCode.NOT_FOUND, argv
        assert unknown in cli.err and "hint:" in cli.err


def test_a_read_command_on_a_file_that_is_not_a_database_leaves_it_alone(
    cli: Cli, db: Path
) -> None:
    for content in (b"", b"a text file\n"):
        db.write_bytes(content)
        assert cli("list") == ExitCode.ERROR
        assert "not a headroom database" in cli.err and "Traceback" not in cli.err
        assert db.read_bytes() == content


def test_read_commands_work_while_another_program_writes(cli: Cli, db: Path) -> None:
    m = _add(cli, "one", "-u", "u")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another program in the middle of a write
    try:
        for argv in (["list"], ["show", m["id"]], ["history", m["id"]], ["stats"], ["export"]):
            assert cli(*argv) == 0, (argv, cli.err)
        assert cli.json("search", "one", "-u", "u")[0]["memory"]["id"] == m["id"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_wrong_embedder_says_how_to_open(cli: Cli, real_cli: Cli) -> None:
    _add(cli, "made with the hashing embedder", "-u", "u")
    assert real_cli("list") == ExitCode.ERROR
    assert "hashing-test" in real_cli.err and "--embedder" in real_cli.err
    assert "Traceback" not in real_cli.err


def test_with_the_real_local_model(real_cli: Cli) -> None:
    real_cli.json("add", "Rex is Alice's dog", "-u", "alice", "-c", "entity")
    real_cli.json("add", "Alice works at Google", "-u", "alice")
    hits = real_cli.json("search", "what pet does she have?", "-u", "alice", "-k", "1")
    assert hits[0]["memory"]["content"] == "Rex is Alice's dog"  # meaning, not words
    stats = real_cli.json("stats")
    assert stats["embedder"] == {"model": "all-MiniLM-L6-v2", "dimension": 384}


# -- chat ------------------------------------------------------------------------------------------


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "HEADROOM_CHAT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # nothing listens there


def test_chat_remembers_across_sessions(
    real_cli: Cli, no_endpoint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.chat_server import ChatServer, Reply

    block = '<memory>{"memories":[{"content":"Dana loves Rust","category":"preference"}]}</memory>'
    answer = f"Noted, Dana! {block}"
    with ChatServer() as server:
        server.reply(Reply(answer, chunks=["Noted, ", "Dana! <mem", answer[17:]]))
        server.reply(Reply("You love Rust."))
        monkeypatch.setattr(sys, "stdin", io.StringIO("I'm Dana and I love Rust.\n/exit\n"))
        code = real_cli("chat", "-u", "dana", "-s", "monday", "--base-url", server.url)
        assert code == 0, real_cli.err
        assert "assistant> Noted, Dana!\n" in real_cli.out and "<memory>" not in real_cli.out
        assert "+ remembered: Dana loves Rust [preference, user]" in real_cli.out
        assert "chatting with test-model" in real_cli.err

        script = "/memories\nWhich programming language does Dana love?\n"
        monkeypatch.setattr(sys, "stdin", io.StringIO(script))  # ends without /exit: Ctrl-D
        assert real_cli("chat", "-u", "dana", "-s", "tuesday", "--base-url", server.url) == 0
        assert "  - Dana loves Rust [preference, user]" in real_cli.out
        assert "assistant> You love Rust." in real_cli.out
        tuesday = server.chat_requests()[-1]
    assert "Dana loves Rust" in tuesday.text_of("user")  # the memory, not the history
    assert "I'm Dana" not in tuesday.text_of("user")
    assert tuesday.body["model"] == "test-model" and tuesday.body["stream"] is True


@contextmanager
def fake_ollama(models: list[str]) -> Iterator[str]:
    """Answers Ollama's model list (GET /api/tags) on 127.0.0.1; yields its host:port."""

    class Tags(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"models": [{"name": name} for name in models]}).encode()
            self.send_response(200 if self.path == "/api/tags" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tags)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.anyio
async def test_a_local_ollama_is_found_with_its_first_chat_model(
    no_endpoint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headroom.cli._endpoint import find_endpoint

    with fake_ollama(["nomic-embed-text:latest", "llama3.2:latest"]) as host:
        monkeypatch.setenv("OLLAMA_HOST", host)
        endpoint, _ = await find_endpoint()
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.model) == (f"http://{host}/v1", "llama3.2:latest")
    with fake_ollama(["nomic-embed-text:latest"]) as host:
        monkeypatch.setenv("OLLAMA_HOST", host)
        endpoint, why = await find_endpoint()
    assert endpoint is None and "ollama pull" in why


def test_chat_without_an_endpoint_says_how_to_get_one(cli: Cli, no_endpoint: None) -> None:
    assert cli("chat", "-u", "dana") == ExitCode.ERROR
    assert "no Ollama answers at http://127.0.0.1:9" in cli.err
    assert "OPENAI_API_KEY" in cli.err and "ollama pull" in cli.err


def test_chat_reports_a_failing_endpoint(
    cli: Cli, no_endpoint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.chat_server import ChatServer, Reply

    with ChatServer() as server:
        server.reply(Reply(status=404, error_message="model 'nope' not found"))
        monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
        args = ("chat", "-u", "dana", "--base-url", server.url, "--model", "nope")
        assert cli(*args) == ExitCode.ERROR
    assert "model 'nope' not found" in cli.err and "--model" in cli.err
    assert "Traceback" not in cli.err


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound and never listening, held for the test: connections to it are refused."""
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        yield int(blocker.getsockname()[1])


def test_chat_against_a_dead_endpoint_says_so_before_reading(
    cli: Cli, no_endpoint: None, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    url = f"http://127.0.0.1:{closed_port}/v1"
    assert cli("chat", "-u", "dana", "--base-url", url) == ExitCode.ERROR
    assert f"headroom: error: nothing answers at {url}: " in cli.err
    assert "hint: start that server, or check --base-url" in cli.err
    assert "assistant>" not in cli.out and "Traceback" not in cli.err
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    assert cli("chat", "-u", "dana") == ExitCode.ERROR
    assert f"nothing answers at {url}" in cli.err


def test_chat_that_breaks_mid_answer_ends_the_line_and_says_why(
    cli: Cli, no_endpoint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.chat_server import ChatServer, Reply

    with ChatServer() as server:
        server.reply(Reply(chunks=["Hello, "], stream_error="the model crashed"))
        monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
        assert cli("chat", "-u", "dana", "--base-url", server.url) == ExitCode.ERROR
    assert cli.out.endswith("assistant> Hello,\n")  # the line ends before the error
    assert f"the chat endpoint {server.url} (model 'test-model') failed" in cli.err
    assert "the model crashed" in cli.err


def test_chat_without_the_openai_package(
    cli: Cli, no_endpoint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # what `import openai` sees uninstalled
    assert cli("chat", "-u", "dana") == ExitCode.ERROR
    assert "pip install 'openai'" in cli.err


def test_the_cli_owns_the_demo() -> None:
    # headroom/demo.py is only `python -m headroom.demo`, an entry point into the CLI; the
    # CLI's modules never import it back.
    import ast

    package = Path(__file__).resolve().parent.parent / "headroom"
    for path in (package / "cli").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "headroom.demo" not in imported, path.name


def test_help_stays_light() -> None:
    code = (
        "import sys\n"
        "from headroom.cli import main\n"
        "assert main(['--help']) == 0 and main(['list', '--help']) == 0\n"
        "heavy = ('numpy', 'onnxruntime', 'usearch', 'aiosqlite', 'httpx', 'openai')\n"
        "print([m for m in heavy if m in sys.modules], file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"


# -- the installed script ------------------------------------------------------------------------


def test_console_script(tmp_path: Path) -> None:
    script = shutil.which("headroom", path=str(Path(sys.executable).parent))
    assert script is not None, "the console script is not installed: pip install -e ."
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADROOM_")}
    env["HEADROOM_DB"] = str(tmp_path / "script.db")
    env["HEADROOM_USER"] = "carol"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *argv], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    added = run("add", "Carol takes her coffee black", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["user_id"] == "carol"
    found = run("search", "how does she like coffee?", "--json")
    assert json.loads(found.stdout)[0]["memory"]["content"] == "Carol takes her coffee black"
    missing = run("show", "00000000-0000-4000-8000-000000000000")
    assert missing.returncode == ExitCode.NOT_FOUND
    assert missing.stderr.startswith("headroom: error: ") and "Traceback" not in missing.stderr


# -- the progress bar ------------------------------------------------------------------------------


def test_progress_bar_draws_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    bar = ProgressBar("importing", 10, quiet)
    bar.update(5)
    bar.close()
    assert quiet.getvalue() == ""  # StringIO is not a TTY

    shown = io.StringIO()
    bar = ProgressBar("importing", 10, shown, enabled=True)
    bar.update(10)
    bar.close()
    assert "importing [" in shown.getvalue() and "100%" in shown.getvalue()
    assert "10/10" in shown.getvalue() and shown.getvalue().endswith("\n")
