"""The docs match the code: their examples run as pasted, their tables list what the code has.

How the python blocks are marked and run is in ``tests/doc_examples.py``. Each runnable
block runs as its own script, in a process forked from one that has imported the heavy
modules already (numpy, onnxruntime, openai...): as a reader's ``python example.py`` would,
without paying those imports once per block.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import multiprocessing
import os
import re
import runpy
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.memory import MemoryConfig
from tests.doc_examples import (
    DOCS,
    PAGES,
    ROOT,
    Block,
    IdMap,
    Transcript,
    blocks,
    differences,
    every_block,
    expected_output,
    missing_output,
    run_script,
    transcripts,
    uncalled_definitions,
)

_RUNNABLE = [b for b in every_block() if b.runs]
_TIMEOUT = 120  # seconds per run of one example


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEADROOM_DB", str(tmp_path / "default.db"))
    for name in ("HEADROOM_USER", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path


@pytest.fixture(scope="module")
def forkserver() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    # "__main__" too: each child would otherwise import the parent's main module again (here
    # pytest's, half a second a child); loaded once in the server, every fork inherits it.
    context.set_forkserver_preload(["__main__", "tests._doc_preload"])
    return context


@pytest.fixture(scope="module")
def chat_server() -> Iterator[str]:
    from tests.chat_server import ChatServer, Reply

    with ChatServer() as server:
        server.default = lambda _request: Reply("Noted: Python for backend work.")
        yield server.url


def _environment(directory: Path, chat_url: str | None) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["HEADROOM_DB"] = str(directory / "memory-default.db")
    if chat_url is not None:
        env.update(OPENAI_BASE_URL=chat_url, OPENAI_API_KEY="test-key")
    return env


def _run(
    context: multiprocessing.context.ForkServerContext,
    block: Block,
    directory: Path,
    env: dict[str, str],
    attempt: int,
) -> tuple[int, str, str]:
    out = str(directory.parent / f"run-{attempt}")
    process = context.Process(target=run_script, args=(block.parts(), str(directory), env, out))
    process.start()
    process.join(_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
        pytest.fail(f"{block.where} ran for more than {_TIMEOUT} s")
    stdout = Path(out + ".stdout").read_text(encoding="utf-8", errors="replace")
    stderr = Path(out + ".stderr").read_text(encoding="utf-8", errors="replace")
    return int(process.exitcode or 0), stdout, stderr


@pytest.mark.parametrize("block", _RUNNABLE, ids=lambda b: b.where)
def test_example_runs_alone_and_again(
    block: Block,
    tmp_path: Path,
    forkserver: multiprocessing.context.ForkServerContext,
    request: pytest.FixtureRequest,
) -> None:
    chat_url = request.getfixturevalue("chat_server") if block.marker == "chat" else None
    directory = tmp_path / "reader"
    directory.mkdir()
    env = _environment(directory, chat_url)
    expected = [line for b in block.chain() for line in expected_output(b.code)]
    for number, attempt in enumerate(("first", "second")):
        code, stdout, stderr = _run(forkserver, block, directory, env, number)
        where = f"{block.where}, {attempt} run"
        assert code == 0, f"{where} failed:\n{stderr}"
        assert stderr == "", f"{where} wrote to stderr:\n{stderr}"
        missing = missing_output(expected, stdout)
        assert not missing, f"{where} did not print {missing}; it printed:\n{stdout}"


_TRANSCRIPTS = [t for page in PAGES for t in transcripts(page)]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def nothing_on_ollamas_port() -> Iterator[None]:
    """Port 11434 bound and not listening, so "no Ollama answers" is what the demo says."""
    with socket.socket() as blocker:
        try:
            blocker.bind(("127.0.0.1", 11434))
        except OSError:
            pytest.skip("something listens on Ollama's port 11434 here")
        yield


@pytest.mark.parametrize("transcript", _TRANSCRIPTS, ids=lambda t: t.where)
def test_transcript_is_what_the_cli_prints(
    transcript: Transcript,
    sandbox: Path,
    monkeypatch: pytest.MonkeyPatch,
    nothing_on_ollamas_port: None,
) -> None:
    from headroom.cli import main

    monkeypatch.setenv("HEADROOM_DB", str(sandbox / "memory.db"))
    monkeypatch.setenv("COLUMNS", "80")
    for name in ("OLLAMA_HOST", "HEADROOM_CHAT_MODEL", "HEADROOM_EMBEDDER"):
        monkeypatch.delenv(name, raising=False)
    ids = IdMap()
    for command, documented in transcript.steps:
        line = ids.translate(command)
        piped, discarded = line.endswith(" | cat"), line.endswith(" > /dev/null")
        argv = shlex.split(line.removesuffix(" | cat").removesuffix(" > /dev/null"))
        assert argv[0] == "headroom", f"{transcript.where}: not a headroom command: {command}"
        out, err = (io.StringIO() if piped else _Terminal()), io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        main(argv[1:])
        printed = ("" if discarded else out.getvalue()) + err.getvalue()
        problems = differences(documented, printed.splitlines(), ids)
        assert problems == [], f"{transcript.where}: `$ {command}`:\n" + "\n".join(problems)


def test_every_block_is_marked() -> None:
    unmarked = [b.where for b in every_block() if b.marker is None]
    assert unmarked == [], (
        "mark these blocks <!-- test: run -->, <!-- test: chat --> or <!-- test: skip (why) -->"
    )


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_block_compiles(page: Path) -> None:
    for block in blocks(page):
        compile(block.script(), block.where, "exec")


def test_every_block_stands_alone(tmp_path: Path) -> None:
    """Pasted alone (with the blocks it says it continues), a block defines every name it uses
    and imports nothing it does not use; what it defines, it calls."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    files = {}
    for number, block in enumerate(every_block()):
        path = tmp_path / f"block_{number}.py"
        path.write_text(block.script(), encoding="utf-8")
        files[path.name] = block
    result = subprocess.run(
        [
            ruff,
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            "F821,F401,F811",
            "--output-format",
            "json",
            *sorted(str(p) for p in tmp_path.iterdir()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        f"{files[Path(found['filename']).name].where}: {found['message']}"
        for found in json.loads(result.stdout)
    ]
    for block in files.values():
        problems += [
            f"{block.where}: defines {name} and never uses it"
            for name in uncalled_definitions(block.script())
        ]
    assert problems == [], "\n".join(problems)


_PLANNING = re.compile(
    r"\b(?:issues? #?\d+|the issue|TODO|FIXME|XXX|milestones?|sprints?|backlog)\b", re.I
)


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_pages_speak_of_the_product(page: Path) -> None:
    # The product's pages say what it does and why, not how its work was planned.
    found = [
        f"{_name(page)}:{number}: {line.strip()}"
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
        if _PLANNING.search(line) and "INC-20931" not in line
    ]
    assert found == []


def test_the_convention_finds_blocks() -> None:
    # Guards the regexes: a change that made them find nothing would pass every test above.
    assert len([b for b in blocks(DOCS / "concepts.md") if b.marker == "run"]) == 4
    assert [b.marker for b in blocks(DOCS / "index.md")] == ["chat", "run"]
    assert any(b.continues for b in every_block())
    assert expected_output("print(1)  # 1\nx = 2  # not output\n") == ["1"]
    assert missing_output(["a ... c", "d"], "a b c\nx\nd\n") == []
    assert missing_output(["d", "a ... c"], "a b c\nd\n") == ["a ... c"]
    one, two = "ad484e37-5150-4163-9950-fed0717ed72a", "173969c3-b28e-4a48-838e-c4b602f4ea3f"
    ids = IdMap()
    assert differences([f"0.3333  {one}  12.0 ms"], [f"0.3340  {two}  1.25 s"], ids) == []
    assert differences([f"{two} is not {one}"], [f"{two} is not {two}"], ids) != []
    assert differences(["0.0328  x"], ["0.3333  x"], IdMap()) != []  # a made-up score
    assert differences(["a", "b"], ["a"], IdMap()) != []


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


def _words(page: Path) -> str:
    """A page's text with every run of whitespace as one space (sentences span lines)."""
    return " ".join(page.read_text(encoding="utf-8").split())


_NUMBER = r"(-?\d+(?:[,_]\d{3})*(?:\.\d+)?)"


def _stated_defaults(text: str, name: str) -> list[str]:
    """Numbers a page states as ``name``'s default: "`name` ... default is N" (or "default
    N", "default: N", "defaults to N") in the same sentence or table cell after the name."""
    mention = re.escape(name)
    pattern = rf"`(?:[\w.]*\.)?{mention}[ =`][^.|]*?\bdefaults?(?: is| of| to|:)? `?{_NUMBER}"
    return re.findall(pattern, text)


def _as_number(text: str) -> float:
    return float(text.replace(",", "").replace("_", ""))


def test_documented_defaults_match_the_code() -> None:
    # Such as "`MemoryConfig.exact_search_threshold`, whose default is 20,000" while the code
    # says 2,048: any page, any sentence that names a setting and states its default.
    fields = {
        f.name: f.default
        for f in dataclasses.fields(MemoryConfig)
        if isinstance(f.default, (int, float)) and not isinstance(f.default, bool)
    }
    from headroom.cli._parser import build_parser

    options = {}
    for parser in [build_parser(), *_subparsers(build_parser())]:
        for action in parser._actions:
            if isinstance(action.default, (int, float)) and not isinstance(action.default, bool):
                options.update({o: action.default for o in action.option_strings})
    checked, wrong = 0, []
    for page in PAGES:
        text = _words(page)
        for name, default in [*fields.items(), *options.items()]:
            for stated in _stated_defaults(text, name):
                checked += 1
                if _as_number(stated) != default:
                    wrong.append(f"{_name(page)}: {name} default {stated}, the code {default}")
    assert wrong == []
    assert checked >= 3  # the pattern still finds the statements it is for


def test_the_default_finder_finds_the_forms_the_pages_use() -> None:
    text = "The facade passes `MemoryConfig.exact_search_threshold`, whose default is 20,000."
    assert _stated_defaults(text, "exact_search_threshold") == ["20,000"]
    assert _stated_defaults("`--limit` (default 50, 0 for all)", "--limit") == ["50"]
    assert _stated_defaults("with `embedder_threads` threads (default 1)", "embedder_threads") == [
        "1"
    ]
    assert _stated_defaults("`top_k`. The default of another thing is 3", "top_k") == []


def _subparsers(parser: Any) -> list[Any]:
    actions = [a for a in parser._actions if a.dest == "command"]
    return list(actions[0].choices.values())


def test_wrapper_page_lists_every_argument_with_its_default() -> None:
    import inspect

    from headroom import with_memory

    rows = _table_rows(DOCS / "wrapper.md")
    for name, parameter in inspect.signature(with_memory).parameters.items():
        names = [key for key in rows if name in [n.strip(" `") for n in key.split(",")]]
        assert names, f"{name} is not in the arguments table of docs/wrapper.md"
        documented = rows[names[0]][0].strip("`")
        if parameter.default is inspect.Parameter.empty:
            assert documented in ("", "required"), name
        else:
            assert documented == repr(parameter.default).strip("'"), name


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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site, built once with `mkdocs build --strict` (about a second)."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    return out


def _pages(site: Path) -> dict[str, str]:
    return {p.relative_to(site).as_posix(): p.read_text("utf-8") for p in site.rglob("*.html")}


def test_site_needs_no_network(site: Path) -> None:
    # Scripts, stylesheets, fonts and icons come with the site: it reads the same offline.
    external = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)
    for name, html in _pages(site).items():
        assert not external.search(html), f"{name} loads {external.search(html)}"
    for css in site.rglob("*.css"):
        assert "@import url(" not in css.read_text("utf-8"), css


def test_site_highlights_code_and_has_search(site: Path) -> None:
    index = _pages(site)["index.html"]
    # Pygments at build time: the python block's keywords are already wrapped in spans.
    assert '<div class="language-python highlight">' in index
    assert '<span class="kn">import</span>' in index
    entries = json.loads((site / "search" / "search_index.json").read_text("utf-8"))["docs"]
    titles = {entry["title"] for entry in entries}
    assert {"Hybrid search", "Exit codes"} <= titles


def test_site_tables_show_no_escapes(site: Path) -> None:
    for name, html in _pages(site).items():
        cells = re.findall(r"<td>(.*?)</td>", html, flags=re.S)
        assert not [c for c in cells if "\\|" in c], f"{name} shows a backslash before a |"


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


def test_wrapper_page_shows_what_the_model_is_sent(tmp_path: Path) -> None:
    """The page's samples of the injected block and of the instruction are what a client
    with a session and an agent sends, through the real SDK to a scripted server."""
    from openai import OpenAI

    from headroom import with_memory
    from tests.chat_server import ChatServer

    samples = re.findall(r"```text\n(.*?)```", (DOCS / "wrapper.md").read_text("utf-8"), re.S)
    context = next(s for s in samples if s.startswith("<headroom-context>"))
    instruction = next(s for s in samples if s.startswith("Memory: if this turn"))
    with ChatServer() as server:
        llm = OpenAI(base_url=server.url, api_key="test", max_retries=0)
        with with_memory(
            llm,
            user_id="alice",
            session_id="monday",
            agent_id="planner",
            db_path=tmp_path / "w.db",
            min_similarity=None,  # both memories injected, as on the page
        ) as client:
            client.memory.add("Alice works at Anthropic", category="fact")
            client.memory.add("User prefers Python for backend work", category="preference")
            question = "What language should I use?"
            client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": question}]
            )
        sent = server.chat_requests()[-1]
    assert sent.text_of("system").endswith(instruction.strip())

    def undated(text: str) -> str:
        return re.sub(r"\d{4}-\d\d-\d\d", "DATE", text).strip()

    assert undated(sent.text_of("user")) == undated(context)


def test_wrapper_page_states_the_injection_decision() -> None:
    from headroom.wrapper import DEFAULT_MIN_SIMILARITY, query, relevance

    text = " ".join((DOCS / "wrapper.md").read_text(encoding="utf-8").split())
    assert f"| `min_similarity` | `{DEFAULT_MIN_SIMILARITY:g}` |" in text
    assert f"`min_similarity + {relevance.IMPERSONAL_MARGIN:g}`" in text
    assert f"at least {relevance.KEYWORD_COVERAGE:.0%} of the question's content words" in text
    assert f"its similarity is at least {relevance.KEYWORD_FLOOR:g}" in text
    assert f"at most {query.DEFAULT_WINDOW_CHARS} characters of them" in text
