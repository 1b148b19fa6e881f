"""OnnxEmbedder: a sentence-embedding model on onnxruntime and tokenizers, without torch.

The bundled model is all-MiniLM-L6-v2 quantised to int8 (weights and, on the fly, each matrix
product's input, so the products run on int8 kernels): ``model.onnx`` and ``tokenizer.json``
ship with headroom as package data, and the model is checked against a pinned sha256 before it
runs. Any folder holding a ``model.onnx`` and a ``tokenizer.json`` of a BERT-style
sentence-embedding export works the same way.

Each text runs through the model alone. The bundled model quantises every matrix product's
input with a range measured over the whole input, so a text batched with others (or padded to
their length) would get a vector that depends on its neighbours; alone, a text's vector depends
on the text only, for any model. On two cores that is also the fastest way: a batch of short
texts padded to its longest spends most of its work on padding.

Inference runs in worker threads, one sub-batch of texts per hop and ``threads`` hops at once.
A short call (a query) runs on lanes of its own, so it never waits behind a large ingest.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import numpy as np

from headroom._imports import import_onnxruntime, require
from headroom._tasks import run_together
from headroom.embedders.base import Vectors, normalize, validate_vectors
from headroom.embedders.models import MINILM_L6_V2, LocalModelSpec
from headroom.embedders.settings import DEFAULT_EMBEDDER_THREADS
from headroom.errors import (
    ClosedError,
    ConfigError,
    EmbedderModelNotFoundError,
    EmbedderResponseError,
    EmbedderUnavailableError,
)

if TYPE_CHECKING:
    from headroom.embedders.settings import EmbedderSettings

__all__ = ["OnnxEmbedder"]

DEFAULT_SUB_BATCH = 64
"""Texts per worker-thread hop of a batch: enough to amortise the hop (~0.2 ms, against ~3 ms a
text), few enough that closing or cancelling does not wait long."""

SHORT_CALL = 8
"""A call of at most this many texts (a query, the few memories of a reply) has lanes of its
own, so it never waits behind a bulk import's sub-batches: one search during an add_many of
4,000 memories took 225 ms p50 waiting for a lane, ~10 ms with its own."""

_BUNDLED: dict[str, LocalModelSpec] = {
    MINILM_L6_V2.name: MINILM_L6_V2,
    f"sentence-transformers/{MINILM_L6_V2.name}": MINILM_L6_V2,
}
_TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Token-level outputs are mean-pooled; a pooled export's sentence output is taken as is.
_OUTPUT_PREFERENCE = ("last_hidden_state", "token_embeddings", "sentence_embedding")
_FALLBACK_MAX_TOKENS = 512  # BERT's position-embedding limit, when nothing else says
_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
"""onnxruntime fusions left out. Each BERT layer's residual Add and LayerNormalization stay two
operators: fused, onnxruntime 1.32's kernel takes ~27 us per call on a few tokens where the two
take ~12 (a short query 1.72 instead of 2.00 ms, a 60-token memory 5.6 instead of 7.0 on one
thread); on onnxruntime 1.17 the two are ~3% slower. Vectors move by what a change of
onnxruntime version moves them (mean 1 - cosine 2e-4 over 3,583 texts; 1.17 against 1.32:
3e-4): the int8 products quantise their inputs, so any change of float rounding shows."""

# sha256 is checked once per file version per process: 22 MB cost ~20 ms, not worth repeating.
_verified: set[tuple[str, int, int]] = set()
_verified_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class _ModelFiles:
    name: str
    onnx: Path
    tokenizer: Path
    sha256: str | None
    dimension: int | None
    max_tokens: int | None


@dataclass(slots=True)
class _Loaded:
    session: Any
    tokenizer: Any
    inputs: tuple[str, ...]
    output: str
    dimension: int


class OnnxEmbedder:
    """A local sentence-embedding model; the default embedder of headroom.

    ``model`` is ``"all-MiniLM-L6-v2"`` (the bundled model, 384 dimensions) or the path of a
    folder holding ``model.onnx`` (or ``onnx/model.onnx``) and ``tokenizer.json``; such a
    model is named after its folder. Its dimension is read from the model, so build it with
    :meth:`create` unless you pass ``dimension``. ``threads`` (default two) is how many texts
    run through the model at once, each on one onnxruntime thread: a batch uses that many
    cores, one text one core. ``max_tokens`` overrides the truncation length (256 for the
    bundled model, else ``max_seq_length`` of a ``sentence_bert_config.json`` beside the
    model, else the tokenizer's own setting, else 512).

    The model loads on the first :meth:`embed` (or in :meth:`create`), in a worker thread.
    """

    def __init__(
        self,
        model: str | Path = MINILM_L6_V2.name,
        *,
        threads: int = DEFAULT_EMBEDDER_THREADS,
        sub_batch: int = DEFAULT_SUB_BATCH,
        max_tokens: int | None = None,
        dimension: int | None = None,
    ) -> None:
        for name, value in (("threads", threads), ("sub_batch", sub_batch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        files = _resolve(model)
        if max_tokens is not None:
            files = _with(files, max_tokens=max_tokens)
        if dimension is not None:
            files = _with(files, dimension=dimension)
        if files.dimension is None:
            raise ConfigError(
                f"the dimension of {files.onnx} is not known yet: build the embedder with "
                "`await OnnxEmbedder.create(path)`, which reads it from the model, or pass "
                "dimension="
            )
        self._files = files
        self._dimension: int = files.dimension
        self._threads = threads
        self._sub_batch = sub_batch
        # `threads` inference lanes for batches and as many for short calls share one session
        # (onnxruntime runs calls concurrently); loading on first use happens under a lock, so
        # exactly once.
        self._lanes = anyio.CapacityLimiter(threads)
        self._short_lanes = anyio.CapacityLimiter(threads)
        self._load_lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._closed = False

    @classmethod
    async def create(
        cls,
        model: str | Path = MINILM_L6_V2.name,
        *,
        threads: int = DEFAULT_EMBEDDER_THREADS,
        sub_batch: int = DEFAULT_SUB_BATCH,
        max_tokens: int | None = None,
    ) -> OnnxEmbedder:
        """Build the embedder and load the model now (in a worker thread), reading its dimension."""

        def build() -> OnnxEmbedder:
            # Everything here touches the file system or runs the model: off the event loop.
            files = _resolve(model)
            if max_tokens is not None:
                files = _with(files, max_tokens=max_tokens)
            loaded = _load(files)
            self = cls(
                model,
                threads=threads,
                sub_batch=sub_batch,
                max_tokens=max_tokens,
                dimension=loaded.dimension,
            )
            self._loaded = loaded
            return self

        return await anyio.to_thread.run_sync(build)

    @classmethod
    async def from_config(cls, config: EmbedderSettings) -> OnnxEmbedder:
        """The embedder ``config`` describes (``embedder_model``, ``embedder_threads``)."""
        return await cls.create(config.model, threads=config.embedder_threads)

    @property
    def model_name(self) -> str:
        return self._files.name

    @property
    def threads(self) -> int:
        """How many texts are embedded at once (inference lanes, one core each)."""
        return self._threads

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int | None:
        """Texts longer than this many tokens are truncated (None: decided when loading)."""
        if self._loaded is not None:
            truncation = self._loaded.tokenizer.truncation
            return int(truncation["max_length"])
        return self._files.max_tokens

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if self._closed:
            raise ClosedError("this OnnxEmbedder is closed")
        texts = list(texts)
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        starts = iter(range(0, len(texts), self._sub_batch))
        limiter = self._short_lanes if len(texts) <= SHORT_CALL else self._lanes

        async def lane() -> None:
            # Each lane takes the next sub-batch when its last one is done.
            for start in starts:
                end = start + self._sub_batch
                out[start:end] = await anyio.to_thread.run_sync(
                    self._run, texts[start:end], limiter=limiter
                )

        lanes = min(self._threads, math.ceil(len(texts) / self._sub_batch))
        if lanes <= 1:
            await lane()
        else:
            await run_together(*[lane] * lanes)
        return normalize(validate_vectors(out, len(texts), self._dimension))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Every lane's token: inferences already running finish first.
        held: list[tuple[anyio.CapacityLimiter, object]] = []
        try:
            for limiter in (self._lanes, self._short_lanes):
                for _ in range(self._threads):
                    borrower = object()
                    await limiter.acquire_on_behalf_of(borrower)
                    held.append((limiter, borrower))
            self._loaded = None
        finally:
            for limiter, borrower in held:
                limiter.release_on_behalf_of(borrower)

    async def __aenter__(self) -> OnnxEmbedder:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("loaded" if self._loaded else "not loaded")
        return f"<OnnxEmbedder {self.model_name} dimension={self._dimension} {state}>"

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "_loaded", None) is not None and not self._closed:
            _warn(
                f"{self!r} was never closed; call `await embedder.aclose()`",
                ResourceWarning,
                stacklevel=1,
                source=self,
            )

    # -- worker thread -------------------------------------------------------------------------

    def _ensure_loaded(self) -> _Loaded:
        # Runs in a worker thread holding one of self._lanes.
        with self._load_lock:
            if self._closed:
                raise ClosedError("this OnnxEmbedder is closed")
            if self._loaded is None:
                loaded = _load(self._files)
                if loaded.dimension != self._dimension:
                    raise ConfigError(
                        f"{self._files.onnx} makes vectors of dimension {loaded.dimension}, "
                        f"not {self._dimension}"
                    )
                self._loaded = loaded
            return self._loaded

    def _run(self, texts: list[str]) -> Vectors:
        loaded = self._ensure_loaded()
        return _infer(loaded, texts)


def _resolve(model: str | Path) -> _ModelFiles:
    """The files of a bundled model name or of a model folder."""
    spec = _BUNDLED.get(str(model))
    if spec is not None:
        here = Path(__file__).parent
        return _ModelFiles(
            name=spec.name,
            onnx=here / spec.onnx_file,
            tokenizer=here / spec.tokenizer_file,
            sha256=spec.onnx_sha256,
            dimension=spec.dimension,
            max_tokens=spec.max_tokens,
        )
    folder = Path(model).expanduser()
    if not folder.is_dir():
        known = ", ".join(sorted(_BUNDLED))
        raise EmbedderModelNotFoundError(
            f"no local model {str(model)!r}: expected one of {known}, or a folder holding "
            "model.onnx and tokenizer.json"
        )
    onnx = next(
        (p for p in (folder / "model.onnx", folder / "onnx" / "model.onnx") if p.is_file()), None
    )
    tokenizer = folder / "tokenizer.json"
    if onnx is None or not tokenizer.is_file():
        raise EmbedderModelNotFoundError(
            f"{folder} must hold model.onnx (or onnx/model.onnx) and tokenizer.json"
        )
    return _ModelFiles(
        name=folder.resolve().name,
        onnx=onnx,
        tokenizer=tokenizer,
        sha256=None,
        dimension=None,
        max_tokens=_sentence_bert_max_tokens(folder),
    )


def _sentence_bert_max_tokens(folder: Path) -> int | None:
    # sentence-transformers records the model's real limit here; tokenizer.json often says less
    # (all-MiniLM-L6-v2's says 128, the model was trained at 256).
    try:
        value = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _with(files: _ModelFiles, **changes: Any) -> _ModelFiles:
    return replace(files, **changes)


def _load(files: _ModelFiles) -> _Loaded:
    """Session and tokenizer, with inputs and output checked. Runs in a worker thread."""
    ort = import_onnxruntime()
    tokenizers = require("tokenizers")
    if files.sha256 is not None:
        _verify_sha256(files.onnx, files.sha256)
    options = ort.SessionOptions()
    # One thread per call: parallelism comes from running several texts at once (lanes),
    # which doubles a batch's rate on two cores where a second intra-op thread adds ~15%.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(
            str(files.onnx),
            sess_options=options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(_DISABLED_OPTIMIZERS),
        )
    except Exception as exc:  # onnxruntime's pybind errors share no useful base class
        raise EmbedderUnavailableError(f"onnxruntime cannot load {files.onnx}: {exc}") from exc
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(files.tokenizer))
    except Exception as exc:  # tokenizers raises a bare Exception on a bad file
        raise EmbedderUnavailableError(f"cannot load {files.tokenizer}: {exc}") from exc
    _configure_tokenizer(tokenizer, files.max_tokens)

    inputs = tuple(i.name for i in session.get_inputs())
    unknown = [name for name in inputs if name not in _TOKEN_INPUTS]
    if unknown or "input_ids" not in inputs:
        raise EmbedderUnavailableError(
            f"{files.onnx} takes inputs {list(inputs)}; expected input_ids and optionally "
            "attention_mask and token_type_ids"
        )
    outputs = {o.name: o for o in session.get_outputs()}
    output = next((n for n in _OUTPUT_PREFERENCE if n in outputs), next(iter(outputs)))
    loaded = _Loaded(session, tokenizer, inputs, output, dimension=0)
    width = outputs[output].shape[-1]
    # A dynamic width (a string in the shape) is learnt from one tiny run instead.
    loaded.dimension = width if isinstance(width, int) else int(_infer(loaded, ["probe"]).shape[1])
    return loaded


def _configure_tokenizer(tokenizer: Any, max_tokens: int | None) -> None:
    own = tokenizer.truncation or {}
    limit = max_tokens or own.get("max_length") or _FALLBACK_MAX_TOKENS
    tokenizer.enable_truncation(max_length=int(limit))
    # Texts run alone, so nothing needs padding; the fixed 128 of all-MiniLM-L6-v2's
    # tokenizer.json would make a short query about ten times slower.
    tokenizer.no_padding()


def _verify_sha256(path: Path, expected: str) -> None:
    try:
        stat = path.stat()
    except OSError as exc:
        raise EmbedderModelNotFoundError(
            f"the model file {path} is missing: pip install --force-reinstall headroom"
        ) from exc
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _verified_lock:
        if key in _verified:
            return
        digest = hashlib.sha256()
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise EmbedderUnavailableError(
                f"{path} does not have the expected sha256 {expected} (damaged or replaced); "
                "pip install --force-reinstall headroom"
            )
        _verified.add(key)


def _infer(loaded: _Loaded, texts: list[str]) -> Vectors:
    """Raw (not yet normalised) sentence vectors of ``texts``. Runs in a worker thread."""
    vectors = [_infer_one(loaded, e) for e in loaded.tokenizer.encode_batch(texts)]
    if not vectors:
        return np.empty((0, loaded.dimension), dtype=np.float32)
    return np.stack(vectors).astype(np.float32, copy=False)


def _infer_one(loaded: _Loaded, encoding: Any) -> Vectors:
    # One text, unpadded: every token is real, so the sentence vector is the plain mean.
    arrays = {
        "input_ids": np.array([encoding.ids], dtype=np.int64),
        "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
    }
    try:
        (hidden,) = loaded.session.run(
            [loaded.output], {name: arrays[name] for name in loaded.inputs}
        )
    except Exception as exc:  # onnxruntime's pybind errors share no useful base class
        raise EmbedderUnavailableError(f"onnxruntime failed: {exc}") from exc
    hidden = np.asarray(hidden, dtype=np.float32)
    vector: Vectors
    if hidden.ndim == 3 and hidden.shape[:2] == (1, len(encoding.ids)):
        vector = hidden[0].mean(axis=0)
        return vector
    if hidden.ndim == 2 and hidden.shape[0] == 1:
        vector = hidden[0]
        return vector
    raise EmbedderResponseError(
        f"the model's output {loaded.output!r} has shape {hidden.shape} for one text of "
        f"{len(encoding.ids)} tokens; expected (1, tokens, dimension) or (1, dimension)"
    )
