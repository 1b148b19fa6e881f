"""No backend exception escapes untranslated: sqlite3, httpx and onnxruntime errors.

Every exception class each backend defines is constructed and raised through the place where
headroom translates it: the store's ``translate_errors`` for sqlite3, the HTTP embedders'
shared ``JsonClient`` (through an ``httpx.MockTransport``) for httpx, and the ONNX embedder's
inference step for onnxruntime. Each must come out as a HeadroomError chained to the original.
Real failures are provoked too: unopenable paths, a newer schema, a locked database, damaged
model files, HTTP error statuses and unreadable bodies.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from headroom.embedders import _http, onnx
from headroom.embedders.ollama import OllamaEmbedder
from headroom.embedders.openai import OpenAIEmbedder
from headroom.errors import (
    ClosedError,
    CorruptDatabaseError,
    DatabaseLockedError,
    EmbedderError,
    EmbedderUnavailableError,
    HeadroomError,
    SchemaVersionError,
    StorageError,
    ValidationError,
)
from headroom.memory import HierarchicalMemory, MemoryConfig
from headroom.storage.sqlite.connection import translate_errors
from tests.fakes import HashingEmbedder

ort_state = pytest.importorskip("onnxruntime.capi.onnxruntime_pybind11_state")


def _subclasses(root: type[BaseException]) -> Iterator[type[BaseException]]:
    yield root
    for sub in root.__subclasses__():
        yield from _subclasses(sub)


def _caused_by(error: BaseException, original: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if seen is original:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# -- sqlite3 ------------------------------------------------------------------------------------

SQLITE_CLASSES = sorted(
    {c for c in _subclasses(sqlite3.Error) if c.__module__ == "sqlite3"}, key=lambda c: c.__name__
)
MESSAGES = {
    "generic": (None, StorageError),
    "database is locked": (5, DatabaseLockedError),
    "database table is locked": (6, DatabaseLockedError),
    "database disk image is malformed": (11, CorruptDatabaseError),
    "file is not a database": (26, CorruptDatabaseError),
    "attempt to write a readonly database": (8, StorageError),
    "database or disk is full": (13, StorageError),
    "no such table: memories": (1, StorageError),
    "": (None, StorageError),
}


def test_the_enumeration_covers_every_sqlite3_error_class() -> None:
    names = {c.__name__ for c in SQLITE_CLASSES}
    assert {"OperationalError", "IntegrityError", "DatabaseError", "InterfaceError"} <= names
    assert len(names) >= 9


@pytest.mark.parametrize(
    "message,with_code",
    [(m, False) for m in sorted(MESSAGES)]
    + [(m, True) for m in sorted(MESSAGES) if MESSAGES[m][0] is not None],
    ids=lambda v: str(v) if not isinstance(v, bool) else ("code" if v else "message"),
)
@pytest.mark.parametrize("cls", SQLITE_CLASSES, ids=lambda c: c.__name__)
def test_every_sqlite3_error_is_translated(
    cls: type[sqlite3.Error], message: str, with_code: bool
) -> None:
    code, expected = MESSAGES[message]
    original = cls(message)
    if with_code:
        assert code is not None
        original.sqlite_errorcode = code | 0x100  # an extended code: the primary is its low byte
        original.args = ("something else entirely",)  # the code alone must decide
    with pytest.raises(HeadroomError) as info, translate_errors("testing", Path("/data/memory.db")):
        raise original
    assert isinstance(info.value, expected), info.value
    assert info.value.__cause__ is original
    if expected is CorruptDatabaseError:
        assert "/data/memory.db" in str(info.value) and "corrupt" in str(info.value)


def _unicode_error() -> UnicodeEncodeError:
    try:
        "lone \ud800".encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "original,expected",
    [
        (OverflowError("Python int too large to convert to SQLite INTEGER"), ValidationError),
        (_unicode_error(), ValidationError),
        (sqlite3.ProgrammingError("Cannot operate on a closed database."), ClosedError),
    ],
    ids=["overflow", "surrogate", "closed"],
)
def test_values_sqlite_cannot_bind_and_closed_connections_are_translated(
    original: BaseException, expected: type[HeadroomError]
) -> None:
    with pytest.raises(HeadroomError) as info, translate_errors("testing"):
        raise original
    assert isinstance(info.value, expected)
    assert info.value.__cause__ is original


def test_other_exceptions_pass_through_unchanged() -> None:
    # Not backend errors: a bug or a cancellation must not be disguised as a storage failure.
    for original in (KeyError("k"), RuntimeError("bug")):
        with pytest.raises(type(original)) as info, translate_errors("testing"):
            raise original
        assert info.value is original


pytestmark_anyio = pytest.mark.anyio


@pytestmark_anyio
async def test_a_database_path_that_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "memory.db"
    folder.mkdir()
    with pytest.raises(StorageError):
        await HierarchicalMemory.create(MemoryConfig(db_path=folder), embedder=HashingEmbedder())


@pytestmark_anyio
async def test_a_database_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StorageError):
        await HierarchicalMemory.create(
            MemoryConfig(db_path=tmp_path / "file" / "memory.db"), embedder=HashingEmbedder()
        )


@pytestmark_anyio
async def test_a_database_of_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    async with await HierarchicalMemory.create(
        MemoryConfig(db_path=db), embedder=HashingEmbedder()
    ):
        pass
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(SchemaVersionError):
        await HierarchicalMemory.create(MemoryConfig(db_path=db), embedder=HashingEmbedder())
    assert db.read_bytes() == before


@pytestmark_anyio
async def test_a_database_locked_by_a_foreign_connection(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    async with await HierarchicalMemory.create(
        MemoryConfig(db_path=db), embedder=HashingEmbedder()
    ) as memory:
        await memory.add("before the lock", user_id="u")
        foreign = sqlite3.connect(db, isolation_level=None, timeout=0)
        try:
            foreign.execute("BEGIN EXCLUSIVE")  # another program writing (5 s busy timeout)
            with pytest.raises(DatabaseLockedError):
                await memory.add("while locked", user_id="u")
            assert [h.content for h in await memory.search("lock", user_id="u")] == [
                "before the lock"
            ]
        finally:
            foreign.execute("ROLLBACK")
            foreign.close()
        await memory.add("after the lock", user_id="u")
        assert (await memory.stats()).total == 2


def _index_files(folder: Path) -> list[Path]:
    return list(folder.glob("*.usearch"))


@pytestmark_anyio
async def test_a_failed_reindex_leaves_the_memory_working(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    async with await HierarchicalMemory.create(
        MemoryConfig(db_path=db), embedder=HashingEmbedder()
    ) as memory:
        await memory.add("still searchable", user_id="u")
        await memory.add_many([{"content": f"filler {i}", "user_id": "v"} for i in range(299)])
    async with await HierarchicalMemory.create(
        MemoryConfig(db_path=db), embedder=HashingEmbedder()
    ) as memory:
        (index,) = _index_files(tmp_path)
        index.unlink()
        (index / "blocker").mkdir(parents=True)  # the index file cannot be removed now
        with pytest.raises(StorageError):
            await memory.reindex()
        assert [h.content for h in await memory.search("searchable", user_id="u")] == [
            "still searchable"
        ]
        (index / "blocker").rmdir()
        index.rmdir()
        assert await memory.reindex() == 300


# -- httpx --------------------------------------------------------------------------------------

HTTPX_CLASSES = sorted(
    {
        value
        for value in vars(httpx).values()
        if isinstance(value, type) and issubclass(value, Exception)
    },
    key=lambda c: c.__name__,
)


def _construct(cls: type[Exception]) -> Exception:
    request = httpx.Request("POST", "http://embedder.test/v1/embeddings")
    if issubclass(cls, httpx.HTTPStatusError):
        response = httpx.Response(500, request=request)
        return cls("server error", request=request, response=response)
    parameters = inspect.signature(cls).parameters
    if "request" in parameters:
        return cls("simulated failure", request=request)  # type: ignore[call-arg]
    if "message" in parameters or len(parameters) > 0:
        try:
            return cls("simulated failure")
        except TypeError:
            pass
    return cls()


def _json_client(handler: Callable[[httpx.Request], httpx.Response]) -> _http.JsonClient:
    return _http.JsonClient(
        service="Test server",
        base_url="http://embedder.test/v1",
        headers={"Authorization": "Bearer sk-secret"},
        timeout=5.0,
        policy=_http.RetryPolicy(max_retries=1, base_delay=0.0),
        concurrency=2,
        secrets=["sk-secret"],
        transport=httpx.MockTransport(handler),
    )


def test_the_enumeration_covers_every_httpx_error_class() -> None:
    names = {c.__name__ for c in HTTPX_CLASSES}
    assert {"ConnectError", "ReadTimeout", "HTTPStatusError", "InvalidURL", "StreamError"} <= names
    assert len(names) >= 25


@pytest.mark.anyio
@pytest.mark.parametrize("cls", HTTPX_CLASSES, ids=lambda c: c.__name__)
async def test_every_httpx_error_is_translated(cls: type[Exception]) -> None:
    original = _construct(cls)

    def handler(request: httpx.Request) -> httpx.Response:
        raise original

    client = _json_client(handler)
    try:
        with pytest.raises(HeadroomError) as info:
            await client.post("embeddings", {"input": ["x"]})
    finally:
        await client.aclose()
    assert isinstance(info.value, EmbedderError)
    assert _caused_by(info.value, original)
    assert "sk-secret" not in str(info.value)


BAD_REPLIES: list[tuple[int, bytes]] = [
    (400, b'{"error": {"message": "bad request"}}'),
    (401, b'{"error": "unauthorised"}'),
    (403, b"forbidden"),
    (404, b'{"error": "model not found"}'),
    (422, b"\xff\xfe not utf-8"),
    (429, b"slow down"),
    (500, b"<html>oops</html>"),
    (503, b""),
    (200, b"not json"),
    (200, b"[]"),
    (200, b'{"data": "nope"}'),
    (200, b'{"data": [{"embedding": ["a", "b"]}]}'),
    (200, b'{"embeddings": [[1, 2]]}'),
    (200, b'{"data": [{"embedding": [NaN, 1]}]}'),
]


@pytest.mark.anyio
@pytest.mark.parametrize("status,body", BAD_REPLIES, ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_http_embedders_translate_every_bad_reply(
    kind: str, status: int, body: bytes
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"retry-after": "0"})

    transport = httpx.MockTransport(handler)
    embedder: OpenAIEmbedder | OllamaEmbedder
    if kind == "openai":
        embedder = OpenAIEmbedder(
            api_key="sk-secret",
            base_url="http://embedder.test/v1",
            max_retries=1,
            transport=transport,
        )
    else:
        embedder = OllamaEmbedder(
            base_url="http://embedder.test", max_retries=1, transport=transport
        )
    try:
        with pytest.raises(EmbedderError) as info:
            await embedder.embed(["hello"])
        assert "sk-secret" not in str(info.value)
    finally:
        await embedder.aclose()


# -- onnxruntime --------------------------------------------------------------------------------

ORT_CLASSES = sorted(
    {
        value
        for value in vars(ort_state).values()
        if isinstance(value, type) and issubclass(value, Exception)
    },
    key=lambda c: c.__name__,
)


class _RaisingSession:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self, outputs: Any, feeds: Any) -> Any:
        raise self.error


class _Encoding:
    def __init__(self) -> None:
        self.ids = [101, 7592, 102]
        self.attention_mask = [1, 1, 1]
        self.type_ids = [0, 0, 0]


class _Tokenizer:
    def encode_batch(self, texts: list[str]) -> list[_Encoding]:
        return [_Encoding() for _ in texts]


def test_the_enumeration_covers_onnxruntime_errors() -> None:
    names = {c.__name__ for c in ORT_CLASSES}
    assert {"Fail", "InvalidArgument", "InvalidProtobuf", "NoSuchFile", "RuntimeException"} <= names


@pytest.mark.parametrize("cls", ORT_CLASSES, ids=lambda c: c.__name__)
def test_every_onnxruntime_inference_error_is_translated(cls: type[Exception]) -> None:
    original = cls("simulated onnxruntime failure")
    # The inference step runs on a loaded model; a fake session stands in for onnxruntime's.
    loaded = onnx._Loaded(
        _RaisingSession(original), _Tokenizer(), ("input_ids",), "last_hidden_state", 384
    )
    with pytest.raises(EmbedderUnavailableError) as info:
        onnx._infer(loaded, ["hello"])
    assert info.value.__cause__ is original


@pytest.mark.anyio
@pytest.mark.parametrize(
    "model_bytes,tokenizer_text",
    [
        (b"this is not an onnx model", '{"version": "1.0"}'),
        (b"", '{"version": "1.0"}'),
        (bytes(range(256)) * 64, "not json at all"),
    ],
    ids=["garbage-model", "empty-model", "garbage-both"],
)
async def test_damaged_model_files_raise_embedder_errors(
    tmp_path: Path, model_bytes: bytes, tokenizer_text: str
) -> None:
    (tmp_path / "model.onnx").write_bytes(model_bytes)
    (tmp_path / "tokenizer.json").write_text(tokenizer_text)
    with pytest.raises(EmbedderError):
        await onnx.OnnxEmbedder.create(tmp_path)
    embedder = onnx.OnnxEmbedder(tmp_path, dimension=8)
    try:
        with pytest.raises(EmbedderError):
            await embedder.embed(["hello"])
    finally:
        await embedder.aclose()
