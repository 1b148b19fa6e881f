"""The CLI as a person sees it: run in a pseudo-terminal 80 columns wide, read off the screen.

Each command runs as its own process on the slave side of a pty (so it finds a terminal and
asks it for its width, as in a shell), and what it writes is fed to ``pyte``, a terminal
emulator, whose screen is what is checked: a line longer than the terminal would wrap there.
The hashing embedder is given through ``main(embedder=...)`` so no model loads.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pyte = pytest.importorskip("pyte", reason="the terminal tests need pyte: pip install pyte")

ROOT = Path(__file__).resolve().parent.parent
COLUMNS, ROWS = 80, 60
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PROGRAM = (
    "import sys\n"
    "from headroom.cli import main\n"
    "from tests.fakes import HashingEmbedder\n"
    "sys.exit(main(sys.argv[1:], embedder=HashingEmbedder()))\n"
)


class Screen:
    def __init__(self, lines: list[str], code: int) -> None:
        self.lines = lines
        self.code = code

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_in_terminal(db: Path, *argv: str, typed: bytes = b"") -> Screen:
    """Run ``headroom ARGV`` on a pty of COLUMNS x ROWS; the screen when it has exited."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env = {k: v for k, v in env.items() if not k.startswith("HEADROOM_")}
    env.update(HEADROOM_DB=str(db), TERM="xterm", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-c", _PROGRAM, *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        close_fds=True,
    )
    os.close(slave)
    if typed:
        os.write(master, typed)
    output = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    stream.feed(output.replace(b"\n", b"\r\n") if b"\r\n" not in output else output)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return Screen(lines, code)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from headroom.cli import main
    from tests.fakes import HashingEmbedder

    path = tmp_path_factory.mktemp("terminal") / "memory.db"
    embedder = HashingEmbedder()

    def add(*argv: str) -> None:
        assert main(["--db", str(path), "add", *argv], embedder=embedder) == 0

    add(
        "Bob prefers Go for backend services, and he says so at every standup",
        "-u",
        "bob",
        "-c",
        "preference",
    )
    add(
        "Bob is debugging retries in the billing service (ticket INC-20931)",
        "-u",
        "bob",
        "-s",
        "morning",
        "-c",
        "context",
    )
    add("Alice works at Google", "-u", "alice", "-i", "0.9")
    add("日本語のメモ、アリスは寿司が好きで、毎週金曜日に食べに行きます", "-u", "alice")
    return path


def _rows(screen: Screen) -> list[str]:
    """The screen lines that show a memory (they carry its id)."""
    return [line for line in screen.lines if re.search(_UUID, line)]


def test_list_fits_80_columns_with_a_user_column(db: Path) -> None:
    screen = run_in_terminal(db, "list")
    assert screen.code == 0, screen.text
    header, *rows = screen.lines
    assert header.split() == ["ID", "USER", "CONTENT"]
    assert len(rows) == 4 and rows == _rows(screen)  # one screen line per memory: no wrap
    assert rows[0].split()[1] == "bob" and rows[0].endswith("…")
    assert "Alice works at Google" in rows[2]
    assert rows[3].split()[1] == "alice" and "日本語のメモ" in rows[3]


def test_list_of_one_user_shows_its_categories(db: Path) -> None:
    screen = run_in_terminal(db, "list", "--user", "bob")
    assert screen.lines[0].split() == ["ID", "CATEGORY", "CONTENT"]
    rows = _rows(screen)
    assert len(rows) == 2 == len(screen.lines) - 1
    assert "preference  Bob prefers Go for backend" in rows[0] and rows[0].endswith("…")


def test_search_and_history_fit(db: Path) -> None:
    screen = run_in_terminal(db, "search", "which language for the backend?", "-u", "bob")
    assert screen.code == 0, screen.text
    assert screen.lines[0].split() == ["SIMILARITY", "ID", "CONTENT"]
    assert all(len(line) <= COLUMNS for line in screen.lines)
    assert len(_rows(screen)) == len(screen.lines) - 1
    memory_id = re.findall(_UUID, run_in_terminal(db, "list", "-u", "alice").text)[0]
    screen = run_in_terminal(db, "history", memory_id)
    assert screen.lines[0].split()[:3] == ["V", "NOW", "ID"]
    assert "Alice works at Google" in screen.lines[1]


def test_show_wraps_long_values_under_themselves(db: Path) -> None:
    listed = run_in_terminal(db, "list", "-u", "bob")
    memory_id = re.findall(_UUID, _rows(listed)[0])[0]
    screen = run_in_terminal(db, "show", memory_id)
    content = [line for line in screen.lines if line.startswith("content")]
    assert content and content[0].startswith("content        Bob prefers Go")
    follow = screen.lines[screen.lines.index(content[0]) + 1]
    assert follow.startswith(" " * 15) and "standup" in " ".join(screen.lines)


def test_errors_read_as_one_message_and_a_hint(db: Path) -> None:
    screen = run_in_terminal(db, "show", "00000000-0000-4000-8000-000000000000")
    assert screen.code == 3
    assert screen.lines[0].startswith("headroom: error: ")
    assert screen.lines[-1].startswith("hint: ")


def test_clear_asks_on_the_terminal(db: Path) -> None:
    screen = run_in_terminal(db, "clear", "-u", "bob", typed=b"n\n")
    assert screen.code == 1
    assert "delete 2 memories of user 'bob'? [y/N] n" in screen.text
    assert "nothing deleted" in screen.text
