"""Imported once by the process the docs examples are forked from (tests/test_docs.py).

The heavy imports every example pays for (numpy, onnxruntime, usearch, tokenizers, openai,
fastapi) happen here once; each example then starts as a fork with them loaded. onnxruntime
comes before usearch, in the order headroom itself imports them (``headroom._imports``).
Nothing here creates a thread or an inference session, so forking stays safe.
"""

from __future__ import annotations

import contextlib
import importlib

from headroom._imports import import_onnxruntime, import_usearch_index

import_onnxruntime()
import_usearch_index()
for name in ("aiosqlite", "numpy", "tokenizers", "headroom.embedders", "headroom.wrapper"):
    importlib.import_module(name)
importlib.import_module("headroom.memory").HierarchicalMemory  # noqa: B018 - loads the facade
for name in ("openai", "fastapi.testclient"):  # optional: the examples that need them say so
    with contextlib.suppress(ImportError):
        importlib.import_module(name)
