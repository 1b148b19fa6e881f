"""A memory's source: the conversation text it came from, searched with it, on every backend.

Through the public facade on each backend (``backend_config``), with the hashing embedder:
texts sharing words get similar vectors, so the vector half can be tested as exactly as the
keyword half.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from headroom.errors import MissingDatabaseError, ValidationError
from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter, NewMemory
from tests.backends import NewConfig
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.anyio

REPLY = "Yes, it was amazing!"
QUESTION = "Caroline: How was the concert in Lisbon last night?"


def _embedder() -> HashingEmbedder:
    """Wide enough that the few words of these tests never share a dimension by chance."""
    return HashingEmbedder(dimension=1024)


@pytest.fixture
async def memory(backend_config: MemoryConfig) -> AsyncIterator[HierarchicalMemory]:
    async with await HierarchicalMemory.create(backend_config, embedder=_embedder()) as m:
        yield m


async def _reopened(config: MemoryConfig, **weights: float) -> HierarchicalMemory:
    """The same database opened again with other search weights."""
    return await HierarchicalMemory.create(config.with_changes(**weights), embedder=_embedder())


async def test_a_memory_is_found_by_its_source_in_each_half(backend_config: MemoryConfig) -> None:
    async with await HierarchicalMemory.create(backend_config, embedder=_embedder()) as m:
        reply = await m.add(REPLY, user_id="alice", source=QUESTION)
        await m.add("It rained all day in Porto", user_id="alice")
        assert reply.source == QUESTION and reply.content == REPLY
        assert reply.indexed_text == f"{REPLY}\n{QUESTION}"
    for weights in ({"vector_weight": 0.0}, {"text_weight": 0.0}, {}):
        async with await _reopened(backend_config, **weights) as m:
            hits = await m.search("concert Lisbon", user_id="alice", top_k=2)
            assert hits[0].memory.id == reply.id, weights
            assert hits[0].content == REPLY  # the source is searched, never returned as content
            assert hits[0].memory.source == QUESTION


async def test_source_is_stored_and_read_back_everywhere(memory: HierarchicalMemory) -> None:
    one = await memory.add(REPLY, user_id="alice", source=QUESTION, session_id="s1")
    many = await memory.add_many(
        [
            NewMemory(content="Sounds fun", user_id="alice", source="I am going hiking"),
            {"content": "No source here", "user_id": "alice"},
            {"content": "Blank source", "user_id": "alice", "source": "  \n "},
        ]
    )
    assert [m.source for m in many] == ["I am going hiking", None, None]
    assert (await memory.get(one.id)).source == QUESTION
    listed = {m.content: m.source for m in await memory.query(MemoryFilter(user_id="alice"))}
    assert listed == {
        REPLY: QUESTION,
        "Sounds fun": "I am going hiking",
        "No source here": None,
        "Blank source": None,
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (42, "source must be a string"),
        ("a\x00b", "source must not contain NUL"),
        ("x" * 101, "source is 101 characters; the limit is 100"),
    ],
)
async def test_a_bad_source_is_refused_and_nothing_is_stored(
    new_config: NewConfig, source: object, message: str
) -> None:
    config = new_config(max_content_chars=100)
    async with await HierarchicalMemory.create(config, embedder=_embedder()) as m:
        with pytest.raises(ValidationError, match=message):
            await m.add(REPLY, user_id="alice", source=source)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match=f"item 1: {message}"):
            await m.add_many(
                [
                    {"content": "fine", "user_id": "alice"},
                    {"content": REPLY, "user_id": "alice", "source": source},
                ]
            )
        assert (await m.stats("alice")).total == 0


async def test_a_new_version_has_the_source_it_is_given(memory: HierarchicalMemory) -> None:
    first = await memory.add("User works at Google", user_id="alice", source="I joined Google")
    second = await memory.supersede(first.id, "User works at Anthropic")
    assert second.source is None  # the text the old version came from is not the new one's
    third = await memory.supersede(
        second.id, "User works at Anthropic as an engineer", source="I am an engineer now"
    )
    assert third.source == "I am an engineer now"
    history = await memory.get_history(third.id)
    assert [v.source for v in history] == ["I joined Google", None, "I am an engineer now"]
    # Only the current version is searched: the old source's words find nothing else.
    hits = await memory.search("joined", user_id="alice")
    assert [h.memory.id for h in hits] == [third.id]  # found by the vector half at most
    restored = await memory.rollback(first.id)
    assert restored.content == "User works at Google" and restored.source == "I joined Google"


async def test_deleting_a_memory_with_a_source_leaves_the_keyword_index_clean(
    backend_config: MemoryConfig,
) -> None:
    async with await HierarchicalMemory.create(backend_config, embedder=_embedder()) as m:
        gone = await m.add(REPLY, user_id="alice", source=QUESTION)
        kept = await m.add("Lisbon has seven hills", user_id="alice", source="Tell me about it")
        assert await m.delete(gone.id) == 1
        later = await m.add("The concert was sold out", user_id="alice", source=QUESTION)
        assert await m.clear(user_id="alice") == 2
        again = await m.add("A concert in Lisbon", user_id="alice", source="What is on tonight?")
    async with await _reopened(backend_config, vector_weight=0.0) as m:
        hits = await m.search("concert Lisbon tonight", user_id="alice", top_k=5)
        assert [h.memory.id for h in hits] == [again.id]
        assert {kept.id, later.id}.isdisjoint(h.memory.id for h in hits)
    if backend_config.db_url is None:
        # SQLite's keyword table keeps no text: a row is forgotten only when it is told the
        # exact text it indexed (content and source). No word of a deleted row may remain.
        words = _vocabulary(backend_config)
        assert words["concert"] == 1 and words["lisbon"] == 1
        assert {"amaz", "carolin", "hill", "sold", "last", "tell"}.isdisjoint(words)


def _vocabulary(config: MemoryConfig) -> dict[str, int]:
    conn = sqlite3.connect(config.path)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, memories_fts, row)")
        return {term: docs for term, docs in conn.execute("SELECT term, doc FROM temp.words")}
    finally:
        conn.close()


async def test_export_and_import_keep_the_source_searchable(
    memory: HierarchicalMemory, new_config: NewConfig
) -> None:
    reply = await memory.add(REPLY, user_id="alice", source=QUESTION)
    plain = await memory.add("It rained all day in Porto", user_id="alice")
    exported = await memory.query(MemoryFilter(user_id="alice"))
    async with await HierarchicalMemory.create(new_config(), embedder=_embedder()) as copy:
        assert await copy.import_memories(exported) == 2
        assert (await copy.get(reply.id)).source == QUESTION
        assert (await copy.get(plain.id)).source is None
        hits = await copy.search("concert Lisbon", user_id="alice", top_k=1)
        assert hits[0].memory.id == reply.id


async def test_reembedding_embeds_the_content_with_its_source(
    backend_config: MemoryConfig,
) -> None:
    async with await HierarchicalMemory.create(backend_config, embedder=_embedder()) as m:
        reply = await m.add(REPLY, user_id="alice", source=QUESTION)
        await m.add("It rained all day in Porto", user_id="alice")
        replacement = HashingEmbedder(dimension=768, model_name="hashing-768")
        await m.reembed(replacement)
        embedded = [text for call in replacement.calls for text in call]
        assert f"{REPLY}\n{QUESTION}" in embedded
    only_vectors = backend_config.with_changes(text_weight=0.0)
    async with await HierarchicalMemory.create(
        only_vectors, embedder=HashingEmbedder(dimension=768, model_name="hashing-768")
    ) as m:
        hits = await m.search("concert Lisbon", user_id="alice", top_k=1)
        assert hits[0].memory.id == reply.id


_SQLITE_VERSION_2 = """
DROP TRIGGER memories_immutable;
ALTER TABLE memories DROP COLUMN source;
CREATE TRIGGER memories_immutable BEFORE UPDATE OF content, user_id ON memories
BEGIN
    SELECT RAISE(ABORT, 'memory content and owner are immutable');
END;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"""

_POSTGRES_VERSION_1 = """
DROP TRIGGER headroom_memories_immutable ON headroom_memories;
ALTER TABLE headroom_memories DROP COLUMN keywords;
ALTER TABLE headroom_memories DROP COLUMN source;
ALTER TABLE headroom_memories ADD COLUMN keywords tsvector NOT NULL GENERATED ALWAYS AS (
    to_tsvector('english'::regconfig, content)
    || array_to_tsvector(ARRAY['#' || md5(user_id)])
) STORED;
CREATE INDEX headroom_memories_keywords ON headroom_memories USING gin (keywords);
CREATE TRIGGER headroom_memories_immutable BEFORE UPDATE OF content, user_id
    ON headroom_memories FOR EACH ROW EXECUTE FUNCTION headroom_memories_immutable();
UPDATE headroom_meta SET value = '1' WHERE key = 'schema_version';
"""


async def test_a_database_from_before_sources_is_upgraded_in_place(
    backend_config: MemoryConfig, request: pytest.FixtureRequest
) -> None:
    async with await HierarchicalMemory.create(backend_config, embedder=_embedder()) as m:
        old = await m.add("Lisbon has seven hills", user_id="alice")
    # The schema as the previous release made it (the source column did not exist).
    if backend_config.db_url is None:
        conn = sqlite3.connect(backend_config.path)
        try:
            conn.executescript(_SQLITE_VERSION_2)
        finally:
            conn.close()
    else:
        server = request.getfixturevalue("postgres_server")
        server.execute(_POSTGRES_VERSION_1, server.database_of(backend_config.db_url))
    await _read_only_before_the_upgrade(backend_config, old.id)
    async with await HierarchicalMemory.create(backend_config, embedder=_embedder()) as m:
        assert (await m.get(old.id)).source is None
        reply = await m.add(REPLY, user_id="alice", source=QUESTION)
    async with await _reopened(backend_config, vector_weight=0.0) as m:
        assert [h.memory.id for h in await m.search("hills", user_id="alice")] == [old.id]
        assert [h.memory.id for h in await m.search("concert", user_id="alice")] == [reply.id]


async def _read_only_before_the_upgrade(config: MemoryConfig, memory_id: str) -> None:
    """SQLite reads an older file as it is (nothing written); PostgreSQL asks for an upgrade."""
    if config.db_url is not None:
        with pytest.raises(MissingDatabaseError, match="older"):
            await HierarchicalMemory.create(config, embedder=_embedder(), read_only=True)
        return
    async with await HierarchicalMemory.create(config, embedder=_embedder(), read_only=True) as m:
        assert (await m.get(memory_id)).source is None
        assert [h.memory.id for h in await m.search("hills", user_id="alice")] == [memory_id]
    conn = sqlite3.connect(config.path)
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == ("2",)
    finally:
        conn.close()


async def test_the_upgrade_works_while_another_connection_reads_the_file(tmp_path: Path) -> None:
    config = MemoryConfig(db_path=tmp_path / "shared.db")
    async with await HierarchicalMemory.create(config, embedder=_embedder()) as m:
        old = await m.add("Lisbon has seven hills", user_id="alice")
    downgrade = sqlite3.connect(config.path)
    try:
        downgrade.executescript(_SQLITE_VERSION_2)
    finally:
        downgrade.close()
    reader = sqlite3.connect(config.path, isolation_level=None)
    try:
        reader.execute("BEGIN")  # a read transaction held open across the upgrade
        assert reader.execute("SELECT count(*) FROM memories").fetchone() == (1,)
        async with (
            await HierarchicalMemory.create(config, embedder=_embedder()) as first,
            await HierarchicalMemory.create(config, embedder=_embedder()) as second,
        ):
            # Still its snapshot: the version the reader began with.
            assert (
                reader.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
                == "2"
            )
            reply = await first.add(REPLY, user_id="alice", source=QUESTION)
            # The other engine follows the change log to the new memory, in both halves.
            hits = await second.search("concert Lisbon", user_id="alice", top_k=2)
            assert [h.memory.id for h in hits][:1] == [reply.id]
            assert hits[0].memory.source == QUESTION
            assert (await second.get(old.id)).source is None
        reader.execute("COMMIT")
        columns = [row[1] for row in reader.execute("PRAGMA table_info(memories)")]
        assert "source" in columns
        assert reader.execute("SELECT count(*) FROM memories").fetchone() == (2,)
    finally:
        reader.close()
