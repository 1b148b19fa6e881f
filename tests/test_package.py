"""The package surface: light to import, a curated public API, a safe import order."""

from __future__ import annotations

import subprocess
import sys

import headroom
import headroom.memory


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_import_headroom_is_light() -> None:
    result = _run(
        "import sys, headroom\n"
        "heavy = [m for m in ('numpy', 'onnxruntime', 'usearch', 'aiosqlite', 'tokenizers',"
        " 'httpx', 'openai') if m in sys.modules]\n"
        "print(heavy)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_public_names_are_exactly_all() -> None:
    assert sorted(headroom.__all__) == sorted(set(headroom.__all__))
    for name in headroom.__all__:
        assert getattr(headroom, name) is not None
    for name in headroom.memory.__all__:
        assert getattr(headroom.memory, name) is not None
    assert dir(headroom.memory) == sorted(headroom.memory.__all__)
    assert headroom.HierarchicalMemory is headroom.memory.HierarchicalMemory


def test_every_module_imports_first() -> None:
    # No import cycles: each module can be the first one a program imports.
    import pkgutil

    names = [m.name for m in pkgutil.walk_packages(headroom.__path__, "headroom.")]
    assert "headroom.storage.base" in names
    for name in names:
        if name.endswith("__main__"):
            continue
        result = _run(f"import {name}")
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_import_orders_used_by_the_package_are_safe() -> None:
    # usearch imported before onnxruntime crashed the interpreter (usearch 2.26, onnxruntime
    # 1.32); every path in the package goes through headroom._imports, which orders them.
    for first, second in (
        ("headroom.storage.sqlite.usearch_index", "headroom.embedders.onnx"),
        ("headroom.embedders.onnx", "headroom.storage.sqlite.usearch_index"),
    ):
        code = (
            f"import {first}, {second}\n"
            "from headroom._imports import import_usearch_index, import_onnxruntime\n"
            "import_usearch_index(); import_onnxruntime(); print('ok')"
        )
        result = _run(code)
        assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
