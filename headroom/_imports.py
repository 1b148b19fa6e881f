"""Lazy imports of heavy dependencies, in a safe order, with an install hint when missing.

usearch 2.26 imported before onnxruntime 1.32 crashed the interpreter on this kind of machine
(a segfault at import, every time); importing onnxruntime first is safe. Every import of either
goes through here, so the order is deterministic whichever the program touches first.
"""

from __future__ import annotations

import contextlib
import importlib
from types import ModuleType

from headroom.errors import DependencyError

__all__ = ["import_onnxruntime", "import_usearch", "require"]


def require(module: str, *, package: str | None = None, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise DependencyError saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f"headroom[{extra}]" if extra else (package or module)
        raise DependencyError(
            f"{module!r} is needed here but is not installed: pip install {what!r}"
        ) from exc


def import_onnxruntime() -> ModuleType:
    return require("onnxruntime")


def import_usearch_index() -> ModuleType:
    """``usearch.index``, after onnxruntime when onnxruntime is installed."""
    with contextlib.suppress(ImportError):  # usearch alone is safe; only the order matters
        importlib.import_module("onnxruntime")
    return require("usearch.index", package="usearch")


import_usearch = import_usearch_index
