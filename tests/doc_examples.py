"""The python examples of the docs, found and run the way a reader runs them.

The convention, for every ```python block of docs/*.md and README.md: the line before the
fence says what the tests do with it.

* ``<!-- test: run -->``: run it as a script, alone, in a fresh directory (``$HEADROOM_DB``
  pointing into it), on the real engine and the local model; then run it a second time in
  the same directory, as a reader who runs it again would. Both runs must succeed, write
  nothing to stderr (no warning, no log line) and print what the block's comments say.
* ``<!-- test: chat -->``: the same, with ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` pointing
  at a scripted OpenAI-compatible server on 127.0.0.1, so ``OpenAI()`` works offline.
* ``<!-- test: skip (reason) -->``: not run (it needs a service the tests cannot start); it
  must still compile and define every name it uses.

A block that builds on the one before it says so on its first line, where the reader sees
it: ``# Continues the example above`` (the tests then run it after that one, in one script).
Every other block stands alone: pasted by itself, it has every import and name it uses.

What a block prints is checked where a ``print(...)`` line carries a comment: the comment is
what that call prints (``...`` stands for any text), in order; other lines may come between.

HTML comments do not show on the rendered site.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*test:\s*(run|chat|skip)\b[^>]*-->\s*$")
CONTINUES = re.compile(r"\A# Continues the example above\b")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str
    marker: str | None  # "run", "chat", "skip" or None
    previous: Block | None = field(default=None, repr=False)
    """The block before it on the page, which a continuation builds on."""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def continues(self) -> bool:
        return CONTINUES.match(self.code) is not None

    @property
    def runs(self) -> bool:
        return self.marker in ("run", "chat")

    def chain(self) -> list[Block]:
        """This block, after the blocks it continues: what a reader runs, in order."""
        blocks = [self]
        while blocks[0].continues and blocks[0].previous is not None:
            blocks.insert(0, blocks[0].previous)
        return blocks

    def script(self) -> str:
        return "\n".join(b.code for b in self.chain())

    def parts(self) -> list[tuple[str, str, int]]:
        """What :func:`run_script` runs: each block of the chain with its page and line."""
        return [(b.code, str(b.page), b.line) for b in self.chain()]


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found: list[Block] = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        line = text.count("\n", 0, match.start()) + 2  # the block's first line of code
        found.append(
            Block(
                page,
                line,
                match.group(1),
                marker.group(1) if marker else None,
                found[-1] if found else None,
            )
        )
    return found


def every_block() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]


# -- what a block says it prints -----------------------------------------------------------------


def expected_output(code: str) -> list[str]:
    """The comments of the ``print(...)`` lines, in order: what those calls print."""
    expected = []
    lines = code.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type != tokenize.COMMENT:
            continue
        row, column = token.start
        before = lines[row - 1][:column].strip()
        if before.startswith("print(") and before.endswith(")"):
            expected.append(token.string[1:].strip())
    return expected


def _pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in expected.split("...")]
    return re.compile(r"\s*" + ".*".join(parts) + r"\s*")


def missing_output(expected: list[str], printed: str) -> list[str]:
    """The expected lines that ``printed`` lacks, matched in order (others may come between)."""
    lines = printed.splitlines()
    position = 0
    missing = []
    for text in expected:
        pattern = _pattern(text)
        for index in range(position, len(lines)):
            if pattern.fullmatch(lines[index]):
                position = index + 1
                break
        else:
            missing.append(text)
    return missing


# -- names a block uses but never defines, functions it never calls -----------------------------


def uncalled_definitions(code: str) -> list[str]:
    """Top-level functions and classes the block defines and never uses (decorated ones are
    registered by their decorator, so they count as used)."""
    tree = ast.parse(code)
    defined = {
        node.name: node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and not node.decorator_list
    }
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return sorted(name for name in defined if name not in used)


# -- running a block as a script -----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def run_script(parts: list[tuple[str, str, int]], cwd: str, env: dict[str, str], out: str) -> None:
    """Runs in a process forked for it: the ``(code, page, first line)`` parts, in order, as
    one ``__main__`` script in ``cwd`` with ``env`` (tracebacks name the page's lines).

    stdout and stderr go to the files ``out + ".stdout"`` and ``".stderr"``. The exit hooks
    (atexit, threading's) run as at the end of a script; the exit code is the script's.
    """
    import atexit
    import sys
    import traceback
    import warnings

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, suffix in ((1, ".stdout"), (2, ".stderr")):
        target = os.open(out + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    warnings.resetwarnings()
    warnings.simplefilter("default")  # shown on stderr, which must stay empty
    status = 0
    namespace = {"__name__": "__main__", "__file__": parts[-1][1]}
    try:
        for code, page, line in parts:
            exec(compile("\n" * (line - 1) + code, page, "exec"), namespace)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(status)


# -- terminal transcripts ------------------------------------------------------------------------
#
# A ```text block marked ``<!-- test: transcript -->`` is a terminal session: lines starting
# with "$ headroom " are commands (run in order in a fresh directory, on an 80-column
# terminal; "| cat" means piped, "> /dev/null" discards stdout), the lines after each are what
# it printed (stdout, then stderr). Ids, times, durations and temporary names differ from run
# to run: they are compared by shape (an id consistently: the same id twice is the same id
# twice, and ids in later commands are translated); decimals to within 0.02.

_TRANSCRIPT = re.compile(r"<!--\s*test:\s*transcript\s*-->\s*\n```text\n(.*?)^```", re.S | re.M)
_VARIABLE = re.compile(
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"|(?P<datetime>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00)?)"
    r"|(?P<date>\d{4}-\d\d-\d\d)"
    r"|(?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?)"
    r"|(?P<duration>\d+(?:\.\d+)? m?s\b)"
    r"|(?P<short_id>[0-9a-f]{8}…)"
    r"|(?P<scratch>[^\s:]*headroom-demo-\w+)"
    r"|(?P<decimal>-?\d+\.\d+)"
)


@dataclass(frozen=True)
class Transcript:
    page: Path
    line: int
    steps: list[tuple[str, list[str]]]  # (command line, what it printed)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"


def transcripts(page: Path) -> list[Transcript]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _TRANSCRIPT.finditer(text):
        steps: list[tuple[str, list[str]]] = []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
            else:
                raise ValueError(f"{page.name}: a transcript starts with a command (`$ ...`)")
        found.append(Transcript(page, text.count("\n", 0, match.start()) + 3, steps))
    return found


def _tokens(line: str) -> list[tuple[str, str]]:
    out, position = [], 0
    for match in _VARIABLE.finditer(line):
        out.append(("text", line[position : match.start()]))
        out.append((match.lastgroup or "", match.group()))
        position = match.end()
    out.append(("text", line[position:]))
    return out


class IdMap:
    """The ids of a transcript and those of the run, matched as they appear."""

    def __init__(self) -> None:
        self.actual: dict[str, str] = {}

    def translate(self, command: str) -> str:
        return _VARIABLE.sub(lambda m: self.actual.get(m.group(), m.group()), command)

    def same(self, documented: str, actual: str) -> bool:
        if documented not in self.actual and actual not in self.actual.values():
            self.actual[documented] = actual
        return self.actual.get(documented) == actual


def differences(documented: list[str], actual: list[str], ids: IdMap) -> list[str]:
    """Lines of ``documented`` that the run did not print (compared by shape, see above)."""
    problems = []
    if len(documented) != len(actual):
        problems.append(f"{len(documented)} lines documented, {len(actual)} printed")
    for doc_line, out_line in zip(documented, actual, strict=False):
        doc, out = _tokens(doc_line), _tokens(out_line)
        same = len(doc) == len(out) and all(
            kind == other_kind
            and (
                (kind == "text" and text == other)
                or (kind == "uuid" and ids.same(text, other))
                or (kind == "decimal" and abs(float(text) - float(other)) <= 0.02)
                or kind not in ("text", "uuid", "decimal")
            )
            for (kind, text), (other_kind, other) in zip(doc, out, strict=True)
        )
        if not same:
            problems.append(f"documented: {doc_line!r}\n    printed: {out_line!r}")
    return problems
