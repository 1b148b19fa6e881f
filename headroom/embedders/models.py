"""Known embedding models: their dimensions, and the bundled local model's files.

Pure data; importing this module loads nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KNOWN_DIMENSIONS", "LocalModelSpec", "MINILM_L6_V2", "known_dimension"]

#: Native output dimensions, by backend and model name. Unknown models are probed once.
KNOWN_DIMENSIONS: dict[tuple[str, str], int] = {
    ("local", "all-MiniLM-L6-v2"): 384,
    ("local", "sentence-transformers/all-MiniLM-L6-v2"): 384,
    ("openai", "text-embedding-3-small"): 1536,
    ("openai", "text-embedding-3-large"): 3072,
    ("openai", "text-embedding-ada-002"): 1536,
    ("ollama", "nomic-embed-text"): 768,
    ("ollama", "mxbai-embed-large"): 1024,
    ("ollama", "all-minilm"): 384,
    ("ollama", "snowflake-arctic-embed"): 1024,
}


def known_dimension(backend: str, model: str) -> int | None:
    """The model's native dimension if we know it, else None (probe the server)."""
    return KNOWN_DIMENSIONS.get((backend, model))


@dataclass(frozen=True, slots=True)
class LocalModelSpec:
    """A sentence-embedding model that runs locally on onnxruntime."""

    name: str
    dimension: int
    onnx_file: str
    """Package data of ``headroom.embedders`` (``data/...``), checked against ``onnx_sha256``."""
    onnx_sha256: str
    tokenizer_file: str
    """Package data of ``headroom.embedders`` (``data/...``)."""
    max_tokens: int
    licence: str


MINILM_L6_V2 = LocalModelSpec(
    name="all-MiniLM-L6-v2",
    dimension=384,
    onnx_file="data/all-MiniLM-L6-v2/model.onnx",
    onnx_sha256="9f3db68edc504334b924f8f74796800e0e6229fdf7bd683d27eb767d9e3e2fbf",
    tokenizer_file="data/all-MiniLM-L6-v2/tokenizer.json",
    max_tokens=256,
    licence="Apache-2.0",
)
