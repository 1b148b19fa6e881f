"""UsearchIndex: an HNSW graph (usearch) persisted to one file, searched exactly about ``allowed``.

usearch is imported lazily through ``headroom._imports`` (importing it before onnxruntime
crashes the interpreter). Every usearch call runs in a worker thread and, per index, one at a
time: the Python binding's ``search`` reserves memory and uses search context 0 whenever
``threads=1``, so two concurrent searches would share scratch space, and remove + search from
two threads is unsafe too. Serialising costs little here: one query takes ~0.2-2 ms.

A small index (up to :data:`COPY_LIMIT` vectors, and no more than its exact threshold) also
keeps a :class:`~.vector_copy.VectorCopy` of its vectors, renewed by every change, and is
searched on the caller's thread from it: exact, without the hop to a worker thread.

The file is a cache of SQLite: when it is missing, unreadable or of another configuration the
index starts empty (with a warning) and the facade re-adds what ``keys()`` lacks.
docs/storage-vector-index.md describes the format, the recovery rules and the measurements
behind the filtered-search strategy.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
import numpy as np
import numpy.typing as npt

from headroom._imports import import_usearch_index
from headroom.errors import ClosedError, ConfigError, HeadroomError, StorageError
from headroom.storage.base import Keys
from headroom.storage.sqlite.graph_file import (
    checksum,
    locked,
    move_aside,
    read_stamp,
    write_stamped,
)
from headroom.storage.sqlite.vector_copy import VectorCopy
from headroom.storage.sqlite.vector_plan import (
    DEFAULT_EXACT_THRESHOLD,
    Strategy,
    check_allowed,
    check_k,
    check_keys,
    check_query,
    check_vectors,
    empty_result,
    estimate_present,
    estimate_sample,
    is_member,
    plan_search,
    similarities,
    top_k,
    widen,
)

__all__ = ["UsearchDType", "UsearchIndex"]

UsearchDType = Literal["f32", "f16", "i8"]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)

_ADD_CHUNK = 8
"""Vectors per locked usearch call when adding. usearch is not safe to search while it adds,
so a search waits for the chunk in progress: ~6 ms at 100k vectors on two threads (a merge of
1,024 at once held searches up to a second under load). Measured against 16: searches during
a 100k add_many 12.6 -> 10.1 ms p50 and 37.8 -> 30.2 ms p99, the 500 searches right after a
100k fill 24.8 -> 16.9 ms p95, for 9% off one add_many's rate without the model (1,004 -> 917
memories/s; with the model, merging runs beside the embedding and costs no rate)."""

_GATHER_CHUNK = 4096
"""Keys per ``get`` in the exact path: bounds the temporary copy (6 MB at 384 dims)."""

_BULK_ADD = _ADD_CHUNK
"""A batch this large (a rebuild, a big add_many) is inserted by several threads: a lost 100k
index rebuilt single-threaded took ~2 minutes. Small adds stay on one thread."""
_BULK_THREADS = max(1, min(os.cpu_count() or 1, 4))

COPY_LIMIT = 4096
"""The most vectors an index also keeps as a :class:`VectorCopy` (6 MB at 384 dimensions): a
search of 2,000 from the copy takes ~0.1 ms on the caller's thread, against ~1 ms through the
worker thread and usearch's brute force."""


@dataclass(frozen=True, slots=True)
class _Config:
    dimension: int
    m: int
    ef_construction: int
    ef_search: int
    dtype: UsearchDType
    exact_threshold: int

    @property
    def metric(self) -> str:
        # Inner product on unit vectors equals cosine and skips two norms per distance
        # (-30% search time, -13% add time measured at 384 dims). usearch's i8 inner product
        # is not scaled back to [-1, 1], so i8 keeps "cos", which is.
        return "cos" if self.dtype == "i8" else "ip"

    def validate(self) -> None:
        for name in ("dimension", "m", "ef_construction", "ef_search"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        if self.m < 2:
            raise ConfigError(f"m must be >= 2, not {self.m}")
        if self.dtype not in ("f32", "f16", "i8"):
            raise ConfigError(f"dtype must be 'f32', 'f16' or 'i8', not {self.dtype!r}")
        threshold = self.exact_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            raise ConfigError(f"exact_threshold must be an integer >= 0, not {threshold!r}")

    def new_index(self, usearch: ModuleType) -> Any:
        return usearch.Index(
            ndim=self.dimension,
            metric=self.metric,
            dtype=self.dtype,
            connectivity=self.m,
            expansion_add=self.ef_construction,
            expansion_search=self.ef_search,
        )


class UsearchIndex:
    """HNSW nearest-neighbour search over unit vectors; see the module docstring.

    Create with :meth:`open`. ``aclose()`` does not save: call :meth:`save` first to keep the
    work (a missing file only costs a rebuild from SQLite).
    """

    def __init__(
        self, config: _Config, path: Path | None, index: Any, owner: str | None = None
    ) -> None:
        """Use :meth:`open`."""
        self._config = config
        self._path = path
        self._owner = owner
        self._index = index
        self._size = len(index)
        self._dirty = False
        self._limiter = anyio.CapacityLimiter(1)
        self._closed = False
        self._copy_limit = min(config.exact_threshold, COPY_LIMIT)
        self._copy: VectorCopy | None = None
        """Every vector while there are at most ``_copy_limit``; replaced (never changed) by
        the worker thread, read by searches on any thread."""

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str] | None,
        dimension: int,
        *,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 50,
        dtype: UsearchDType = "f32",
        exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
        owner: str | None = None,
        read_only: bool = False,
    ) -> UsearchIndex:
        """Load the index at ``path`` (None: in memory only), or start empty.

        A missing file gives an empty index. A file whose bytes fail its stamp's checksum,
        that cannot be loaded, or was written for another dimension, dtype or metric, gives an
        empty index and a RuntimeWarning; the file is first renamed to ``<name>.corrupt``
        (never deleted). With ``owner``, a file stamped for another owner (another database,
        or before a re-embedding) is not used either (a RuntimeWarning; the file is left, and
        replaced by the next save), nor is an unstamped one (written by an older headroom).
        ``read_only`` never moves, deletes or saves anything. ``m``, ``ef_construction`` and
        ``ef_search`` are HNSW's M, efConstruction and ef; a loaded file keeps the M it was
        built with.
        """
        config = _Config(dimension, m, ef_construction, ef_search, dtype, exact_threshold)
        config.validate()
        file = None if path is None else Path(path)
        index, problem = await anyio.to_thread.run_sync(
            partial(_open_sync, config, file, owner=owner, read_only=read_only)
        )
        if problem is not None:
            # Warned here, on the caller's thread, so warning filters and pytest.warns see it.
            _log.warning("%s", problem)
            warnings.warn(problem, RuntimeWarning, stacklevel=2)
        opened = cls(config, None if read_only else file, index, owner)
        try:
            await opened._run(opened._renew_copy)
        except BaseException:
            await opened.aclose()
            raise
        return opened

    @property
    def dimension(self) -> int:
        return self._config.dimension

    @property
    def path(self) -> Path | None:
        return self._path

    def __len__(self) -> int:
        self._check_open()
        return self._size

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._size} vectors"
        where = "in memory" if self._path is None else str(self._path)
        return f"<UsearchIndex dimension={self.dimension} {state} {where}>"

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=1)

    async def __aenter__(self) -> UsearchIndex:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def add(self, keys: Keys, vectors: npt.NDArray[np.float32]) -> None:
        """Insert or replace; validated as a whole first, then added in chunks.

        Chunks let searches run during a large rebuild. If a chunk fails (or the call is
        cancelled) the earlier chunks stay indexed: ``keys()`` says which.
        """
        self._check_open()
        dimension = self.dimension

        def check() -> tuple[Keys, npt.NDArray[np.float32]]:
            checked_keys = check_keys(keys)
            return checked_keys, check_vectors(vectors, checked_keys.size, dimension)

        # Validation needs no lock: it reads only the caller's arrays.
        checked_keys, checked = await anyio.to_thread.run_sync(check)
        for start in range(0, checked_keys.size, _ADD_CHUNK):
            stop = start + _ADD_CHUNK
            await self._run(partial(self._add_sync, checked_keys[start:stop], checked[start:stop]))

    async def remove(self, keys: Keys) -> None:
        await self._run(lambda: self._remove_sync(keys))

    async def search(
        self, query: npt.NDArray[np.float32], k: int, allowed: Keys | None = None
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        self._check_open()
        copy = self._copy
        if copy is not None:  # small: exact, here, without a thread hop
            vector = check_query(query, self.dimension)
            wanted = check_k(k)
            return copy.search(vector, wanted, None if allowed is None else check_allowed(allowed))
        return await self._run(lambda: self._search_sync(query, k, allowed))

    async def keys(self) -> Keys:
        return await self._run(self._keys_sync)

    async def save(self) -> None:
        """Write the file atomically; a no-op in memory or when nothing changed."""
        await self._run(self._save_sync)

    async def aclose(self) -> None:
        """Free the index (without saving). Idempotent; waits for a running call."""
        if self._closed:
            return
        async with self._limiter:
            if self._closed:  # a concurrent aclose() got the limiter first
                return
            self._closed = True
            index, self._index = self._index, None
            self._copy = None
            with _translated("free the index"):
                # Returning ~300 MB to the OS is not instant: not on the event loop. (Our
                # limiter is already held by this task, so the default one is used.)
                await anyio.to_thread.run_sync(index.reset)

    # -- worker-thread side: everything below runs holding the limiter ------------------

    async def _run(self, func: Callable[[], _T]) -> _T:
        self._check_open()

        def call() -> _T:
            self._check_open()  # aclose may have taken the limiter first
            return func()

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this UsearchIndex is closed")

    def _add_sync(self, keys: Keys, vectors: npt.NDArray[np.float32]) -> None:
        ukeys = keys.view(np.uint64)
        # Until the add succeeds the copy may not match the index: none is kept meanwhile
        # (searches take the worker path), and the next change makes it again from the index.
        copy, self._copy = self._copy, None
        with _translated("add vectors"):
            present = self._index.contains(ukeys)
            if present.any():  # usearch refuses duplicate keys: replacing is remove + add
                self._index.remove(ukeys[present], threads=1)
                self._dirty = True
            threads = _BULK_THREADS if len(ukeys) >= _BULK_ADD else 1
            self._index.add(ukeys, vectors, copy=True, threads=threads)
            self._dirty = True
            self._size = len(self._index)
        self._copy = copy
        self._renew_copy(added=(keys, vectors))

    def _remove_sync(self, keys: Keys) -> None:
        ukeys = check_keys(keys).view(np.uint64)
        if ukeys.size == 0:
            return
        with _translated("remove vectors"):
            removed = int(self._index.remove(ukeys, threads=1))
            if removed:
                self._dirty = True
            self._size = len(self._index)
        if removed:
            self._renew_copy(removed=ukeys.view(np.int64))

    def _renew_copy(
        self,
        *,
        added: tuple[Keys, npt.NDArray[np.float32]] | None = None,
        removed: Keys | None = None,
    ) -> None:
        """Bring the copy up to the index after a change (or make it, once small enough)."""
        if self._size > self._copy_limit:
            self._copy = None
            return
        copy = self._copy
        if copy is None:
            keys = self._keys_sync()
            copy = VectorCopy.empty(self.dimension)
            if keys.size:
                with _translated("read vectors"):
                    rows = self._index.get(keys.view(np.uint64), dtype="f32")
                copy = VectorCopy(keys, np.vstack(rows).astype(np.float32, copy=False))
            self._copy = copy
        elif added is not None:
            self._copy = copy.added(*added)
        elif removed is not None:
            self._copy = copy.removed(removed)

    def _keys_sync(self) -> Keys:
        with _translated("list keys"):
            # Slicing (not np.asarray) because usearch's __array__ trips a numpy 2 warning.
            stored = self._index.keys[0 : len(self._index)]
        return np.sort(np.asarray(stored, dtype=np.uint64).view(np.int64))

    def _search_sync(
        self, query: npt.NDArray[np.float32], k: int, allowed: Keys | None
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        vector = check_query(query, self.dimension)
        wanted = check_k(k)
        allowed_keys = None if allowed is None else check_allowed(allowed)
        size = self._size
        if wanted == 0 or size == 0:
            return empty_result()
        if allowed_keys is None:
            return self._search_unfiltered(vector, min(wanted, size))
        if size <= self._config.exact_threshold:
            # A small index: usearch's brute force ranks all of it, then the allowed are kept
            # (1,000 vectors: 0.13 ms, against 1.7 ms to read them back one by one to gather).
            return self._filtered(self._neighbours(vector, size, exact=True), allowed_keys, wanted)
        if allowed_keys.size <= self._config.exact_threshold:
            return self._gather(vector, allowed_keys, wanted)  # skips absent keys
        # The facade's allowed keys are nearly all indexed, but a rebuild in progress or a
        # racing delete can leave some out: estimate the present count for the plan. ``wanted``
        # stays k; if fewer are present, the HNSW attempts come up short and the gather
        # returns what there is.
        sample = estimate_sample(allowed_keys)
        with _translated("look up keys"):
            hits = int(np.count_nonzero(self._index.contains(sample.view(np.uint64))))
        present = max(1, estimate_present(allowed_keys.size, sample.size, hits))
        plan = plan_search(
            size=size,
            allowed=present,
            k=wanted,
            exact_threshold=self._config.exact_threshold,
            ef_search=self._config.ef_search,
        )
        while plan.strategy is Strategy.HNSW:
            found = self._filtered(self._neighbours(vector, plan.candidates), allowed_keys, wanted)
            if found[0].size >= wanted:
                return found
            plan = widen(plan, size=size, allowed=present)
        return self._gather(vector, allowed_keys, wanted)

    def _search_unfiltered(
        self, vector: npt.NDArray[np.float32], wanted: int
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        keys, sims = self._neighbours(vector, wanted)
        if keys.size < wanted:  # parts of the graph unreachable after removals
            # usearch's brute force: cheap for a small count (8 ms at 100k vectors).
            keys, sims = self._neighbours(vector, wanted, exact=True)
        return top_k(keys, sims, wanted)

    def _neighbours(
        self, vector: npt.NDArray[np.float32], count: int, *, exact: bool = False
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        with _translated("search"):
            matches = self._index.search(vector, count, threads=1, exact=exact)
        keys = np.asarray(matches.keys, dtype=np.uint64).view(np.int64)
        # Both metrics report distance = 1 - similarity.
        sims = (1.0 - np.asarray(matches.distances, dtype=np.float32)).astype(np.float32)
        return keys, sims

    @staticmethod
    def _filtered(
        found: tuple[Keys, npt.NDArray[np.float32]], allowed: Keys, wanted: int
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        keys, sims = found
        keep = is_member(allowed, keys)
        return top_k(keys[keep], sims[keep], wanted)

    def _gather(
        self, vector: npt.NDArray[np.float32], allowed: Keys, wanted: int
    ) -> tuple[Keys, npt.NDArray[np.float32]]:
        """Exact: the dot product with every allowed vector in the index, chunk by chunk."""
        best_keys, best = empty_result()
        for start in range(0, allowed.size, _GATHER_CHUNK):
            keys = allowed[start : start + _GATHER_CHUNK]
            with _translated("read vectors"):
                rows = self._index.get(keys.view(np.uint64), dtype="f32")
            found = [i for i, row in enumerate(rows) if row is not None]  # None: not indexed
            if not found:
                continue
            matrix = np.vstack([rows[i] for i in found]).astype(np.float32, copy=False)
            best_keys, best = top_k(
                np.concatenate((best_keys, keys[found])),
                np.concatenate((best, similarities(matrix, vector))),
                wanted,
            )
        return best_keys, best

    def _save_sync(self) -> None:
        if self._path is None or not self._dirty:
            return
        index = self._index
        with _translated(f"save {self._path}"):
            write_stamped(self._path, lambda tmp: index.save(os.fspath(tmp)), self._owner)
        self._dirty = False


def _open_sync(
    config: _Config, path: Path | None, *, owner: str | None, read_only: bool
) -> tuple[Any, str | None]:
    """The index, and what was wrong with the file that deserves a warning (None if nothing)."""
    usearch = import_usearch_index()
    with _translated("create an index"):
        fresh = config.new_index(usearch)
    if path is None:
        return fresh, None
    with locked(path, exclusive=False, create=not read_only):
        if not path.exists():
            return fresh, None
        problem, damaged = _check_stamp(path, owner)
        if problem is None:
            problem = _load_into(usearch, config, path, fresh)
            damaged = problem is not None
    if problem is None:
        return fresh, None
    with _translated("reset the index"):
        fresh.reset()  # a failed load may have left part of the file in it
        fresh = config.new_index(usearch)
    if problem == _UNSTAMPED:
        _log.info("vector index %s %s; rebuilding it from the database", path, problem)
        return fresh, None
    if not damaged or read_only:
        return fresh, f"vector index {path} {problem}; starting empty (rebuilt from the database)"
    try:
        moved = move_aside(path)
    except OSError as exc:
        # Saving later would overwrite the only copy of the bad file: refuse instead.
        raise StorageError(
            f"vector index {path} {problem}, and moving it aside failed: {exc}"
        ) from exc
    return fresh, (
        f"vector index {path} {problem}; starting empty (rebuilt from the database); the old "
        f"file is kept as {moved}"
    )


_UNSTAMPED = "has no stamp (it was written by an older headroom)"


def _check_stamp(path: Path, owner: str | None) -> tuple[str | None, bool]:
    """What is wrong with the file by its stamp, and whether its bytes are damaged."""
    stamp = read_stamp(path)
    if stamp is None:
        return (None, False) if owner is None else (_UNSTAMPED, False)
    if owner is not None and stamp.owner != owner:
        return "was made for another database (or before a re-embedding)", False
    length, crc = checksum(path)
    if (length, crc) != (stamp.length, stamp.crc32):
        return "is damaged (its bytes do not match its checksum)", True
    return None, False


def _load_into(usearch: ModuleType, config: _Config, path: Path, index: Any) -> str | None:
    """Load ``path`` into ``index``; a description of the problem, or None when it loaded."""
    try:
        meta = usearch.Index.metadata(os.fspath(path))
    except Exception as exc:  # usearch raises ValueError/RuntimeError on foreign bytes
        return f"is unreadable ({exc})"
    if not meta:
        return "is unreadable (no usearch header)"
    dimension = int(meta["dimensions"])
    if dimension != config.dimension:
        return f"holds vectors of dimension {dimension}, not {config.dimension}"
    wanted = config.new_index(usearch)
    try:
        # Checked before loading because load() silently adopts the file's settings.
        if meta["kind_scalar"] != wanted.dtype or meta["kind_metric"] != wanted.metric_kind:
            return (
                f"was written as {meta['kind_scalar'].name}/{meta['kind_metric'].name}, "
                f"not {wanted.dtype.name}/{wanted.metric_kind.name}"
            )
    finally:
        wanted.reset()
    try:
        index.load(os.fspath(path))
    except Exception as exc:  # truncated or damaged: RuntimeError "Failed to ..."
        return f"is corrupt or truncated ({exc})"
    if index.ndim != config.dimension or len(index) != int(meta["count_present"]):
        return "did not load consistently with its own header"
    return None


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """usearch's exceptions (RuntimeError, ValueError, ...) as StorageError."""
    try:
        yield
    except HeadroomError:
        raise
    except Exception as exc:
        raise StorageError(f"usearch could not {action}: {exc}") from exc
