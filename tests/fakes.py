"""Fakes injected at the ports (never patched into internals)."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

import numpy as np

from headroom.embedders.base import Vectors
from headroom.errors import ClosedError

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """A deterministic bag-of-words embedder: texts sharing words get similar vectors.

    Fast and dependency-free, for unit tests that need real similarity but not a real model.
    """

    def __init__(self, dimension: int = 64, model_name: str = "hashing-test") -> None:
        self._dimension = dimension
        self._model_name = model_name
        self.calls: list[list[str]] = []
        self.closed = False

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if self.closed:
            raise ClosedError("this HashingEmbedder is closed")
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower()) or [text]
            for word in words:
                digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8)
                value = int.from_bytes(digest.digest(), "little")
                out[row, value % self._dimension] += 1.0 if (value >> 32) & 1 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    async def aclose(self) -> None:
        self.closed = True


def distinct_texts(prefix: str, count: int, *, seed: int = 0) -> list[str]:
    """``count`` texts of ``prefix`` and six pseudo-random words each, the same on every run.

    Deterministic, so a test that relies on their vectors being distinct (even through the
    hashing embedder) passes or fails the same way every time, never by chance.
    """
    rng = random.Random(f"{prefix}/{seed}")
    return [
        " ".join([prefix, *(f"{rng.getrandbits(32):08x}" for _ in range(6))]) for _ in range(count)
    ]
