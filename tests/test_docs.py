"""The docs match the code: their examples run, their tables list what the code has.

Convention for ```python blocks in docs/*.md and README.md: the line before the fence says
what the test does with it.

* ``<!-- test: run -->``: run it. The blocks of one page run in order, in one namespace (a
  page can build on its earlier blocks), in a temporary directory with ``$HEADROOM_DB``
  pointing into it, on the real engine and the local model.
* ``<!-- test: skip (reason) -->``: only compiled; for blocks that need an LLM endpoint or a
  package headroom does not depend on.

HTML comments do not show on the rendered site. Unmarked blocks are only compiled; on the
pages listed in ``MARKED_PAGES`` every block must carry a marker, so none is silently untested.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from headroom.memory import MemoryConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
MARKED_PAGES = {
    "index.md",
    "concepts.md",
    "configuration.md",
    "storage.md",
    "cli.md",
    "async-service.md",
}

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*test:\s*(run|skip)\b[^>]*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str
    marker: str | None  # "run", "skip" or None


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        line = text.count("\n", 0, match.start()) + 2  # the block's first line of code
        found.append(Block(page, line, match.group(1), marker.group(1) if marker else None))
    return found


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEADROOM_DB", str(tmp_path / "default.db"))
    for name in ("HEADROOM_USER", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path


RUNNABLE = [page for page in PAGES if any(b.marker == "run" for b in blocks(page))]


@pytest.mark.parametrize("page", RUNNABLE, ids=_name)
def test_runnable_blocks_run(page: Path, sandbox: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in blocks(page):
        if block.marker != "run":
            continue
        where = f"{_name(page)}:{block.line}"
        try:
            exec(compile(block.code, where, "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"the example at {where} failed: {exc!r}") from exc


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_block_compiles(page: Path) -> None:
    for block in blocks(page):
        compile(block.code, f"{_name(page)}:{block.line}", "exec")


def test_marked_pages_mark_every_block() -> None:
    unmarked = [
        f"{_name(b.page)}:{b.line}"
        for page in PAGES
        if page.name in MARKED_PAGES and page.parent == DOCS
        for b in blocks(page)
        if b.marker is None
    ]
    assert unmarked == [], "mark these blocks <!-- test: run --> or <!-- test: skip (why) -->"


def test_the_convention_finds_blocks() -> None:
    # Guards the regexes: a change that made them find nothing would pass every test above.
    assert len([b for b in blocks(DOCS / "concepts.md") if b.marker == "run"]) == 3
    assert [b.marker for b in blocks(DOCS / "index.md")] == ["skip", "run"]


# -- reference tables ----------------------------------------------------------------------------


def _table_rows(page: Path) -> dict[str, list[str]]:
    rows = {}
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 3:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_configuration_page_lists_every_field_with_its_default() -> None:
    rows = _table_rows(DOCS / "configuration.md")
    fields = {f.name: f for f in dataclasses.fields(MemoryConfig)}
    assert sorted(rows.keys() & fields.keys()) == sorted(fields), "fields missing from the page"
    for name, field in fields.items():
        documented = rows[name][0]
        if field.default is dataclasses.MISSING:  # db_path: from the environment
            assert "HEADROOM_DB" in documented
            continue
        literal = ast.literal_eval(documented.strip("`"))
        same = literal == field.default and type(literal) is type(field.default)
        # A str enum default (EmbedderBackend.LOCAL) is documented as its value.
        same = same or (isinstance(field.default, str) and literal == str(field.default))
        assert same, f"{name}: the page says {documented}, the code {field.default!r}"


def test_pages_state_the_engines_constants() -> None:
    from headroom.memory import search
    from headroom.memory.fusion import RRF_K
    from headroom.storage.sqlite import vectors

    def words(name: str) -> str:  # the page's text with line breaks as plain spaces
        return " ".join((DOCS / name).read_text(encoding="utf-8").split())

    concepts = words("concepts.md")
    assert f"`weight / ({RRF_K} + rank)`" in concepts
    per_result, least = search.CANDIDATES_PER_RESULT, search.MIN_CANDIDATES
    assert f"`max({per_result} \N{MULTIPLICATION SIGN} top_k, {least})` candidates" in concepts
    assert f"every {vectors.SAVE_EVERY:,} changes" in words("storage.md")


def test_cli_page_lists_every_command() -> None:
    from headroom.cli._parser import build_parser

    actions = [a for a in build_parser()._actions if a.dest == "command"]
    commands = set(actions[0].choices)  # type: ignore[arg-type]
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z]+)[ `]", text, flags=re.MULTILINE))
    assert commands <= listed, f"not in docs/cli.md: {sorted(commands - listed)}"


# -- the site and the examples ---------------------------------------------------------------


def test_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_quickstart_example_runs(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "recalled: Bob prefers Go for backend services" in out
    assert "history: Alice works at Anthropic (current)" in out
    assert re.search(r"as of [\d:.]+: Alice works at Google", out)


def test_fastapi_example_serves_one_memory_per_process(sandbox: Path) -> None:
    testclient = pytest.importorskip(
        "fastapi.testclient", reason="the example needs FastAPI: pip install fastapi"
    )
    import importlib

    service = importlib.import_module("examples.fastapi_service")
    with testclient.TestClient(service.app) as client:  # runs the lifespan: opens the memory
        added = client.post(
            "/users/bob/memories",
            json={"content": "Bob prefers Go for backend services", "category": "preference"},
        )
        assert added.status_code == 200, added.text
        memory_id = added.json()["id"]
        client.post(
            "/users/bob/memories",
            json={"content": "Bob is on the billing team", "session_id": "morning"},
        )
        found = client.get(
            "/users/bob/memories/search",
            params={"q": "which language for the API?", "session_id": "afternoon"},
        )
        assert [hit["content"] for hit in found.json()] == ["Bob prefers Go for backend services"]

        new = client.put(
            f"/users/bob/memories/{memory_id}", json={"content": "Bob prefers Rust now"}
        )
        assert new.status_code == 200
        chain = client.get(f"/users/bob/memories/{memory_id}/history").json()
        assert [v["content"] for v in chain] == [
            "Bob prefers Go for backend services",
            "Bob prefers Rust now",
        ]
        assert client.get(f"/users/alice/memories/{memory_id}/history").status_code == 404
        bad = client.post("/users/bob/memories", json={"content": "x", "category": "gossip"})
        assert bad.status_code == 422 and "gossip" in bad.text
    # Closed at shutdown: the database is free for the next process.
    assert repr(service.app.state.memory).endswith("closed>")
