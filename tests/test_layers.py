"""The layering the folders promise: a floor imports only the floors below it.

Checked on the source (every import statement, those under ``TYPE_CHECKING`` and inside
functions included) and at run time (importing a low module loads nothing above it).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "headroom"

# Each floor and the headroom packages its modules may import (besides themselves).
BASE = {"headroom", "headroom.errors", "headroom._imports", "headroom._tasks", "headroom._urls"}
ALLOWED: dict[str, set[str]] = {
    "headroom.scoping": BASE,
    "headroom.domain": BASE | {"headroom.scoping"},
    "headroom.embedders": BASE | {"headroom.domain"},
    "headroom.storage": BASE | {"headroom.domain", "headroom.scoping"},
}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append((name, path))
    return out


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name == "headroom" or name.startswith("headroom.")}


def _floor(module: str) -> str | None:
    for floor in ALLOWED:
        if module == floor or module.startswith(floor + "."):
            return floor
    return None


def _within(name: str, packages: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages if p != "headroom") or (
        name == "headroom"
    )


@pytest.mark.parametrize("floor", sorted(ALLOWED))
def test_a_floor_imports_nothing_above_it(floor: str) -> None:
    wrong = []
    for module, path in _modules():
        if _floor(module) != floor:
            continue
        for name in sorted(_imports(path)):
            if not _within(name, ALLOWED[floor] | {floor}):
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_engine_imports_no_backend() -> None:
    # Backends are wired by one factory (memory/opening.py), lazily, from a static table.
    wrong = []
    for module, path in _modules():
        if not module.startswith("headroom.memory") or module == "headroom.memory.opening":
            continue
        for name in sorted(_imports(path)):
            if name.startswith("headroom.storage.") and name != "headroom.storage.base":
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "module",
    ["headroom.storage.base", "headroom.storage.sqlite", "headroom.embedders.registry"],
)
def test_importing_a_low_floor_loads_no_engine(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "print(sorted(m for m in sys.modules if m.startswith(('headroom.memory', "
        "'headroom.wrapper', 'headroom.cli'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
