"""PostgreSQL deployments: row-level security for a role that does not own the table, and a
read-only server (as a replica is) serving searches.

The engine confines each operation scoped to a user with ``headroom.user_id``; for a role
that does not own ``headroom_memories`` the database itself then refuses every row of
another user, even to a statement that forgets its own condition.
"""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from headroom.errors import StorageError
from headroom.memory import HierarchicalMemory, MemoryConfig, MemoryFilter
from tests.fakes import HashingEmbedder
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.anyio

_roles = itertools.count()


def _grant_app_role(server: PostgresServer, database: str) -> str:
    role = f"headroom_app_{next(_roles)}"
    server.execute(f"CREATE ROLE {role} LOGIN")
    server.execute(
        f"GRANT CONNECT ON DATABASE {database} TO {role}; "
        f"GRANT USAGE ON SCHEMA public TO {role}; "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON headroom_memories, headroom_meta TO {role}; "
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        database,
    )
    return role


async def test_row_level_security_confines_a_non_owner_role(
    postgres_server: PostgresServer, postgres_config: MemoryConfig
) -> None:
    database = postgres_server.database_of(postgres_config.db_url)
    async with await HierarchicalMemory.create(postgres_config, embedder=HashingEmbedder()) as m:
        await m.add("alice likes tea", user_id="alice")
        bob = await m.add("bob likes tea", user_id="bob")
    role = _grant_app_role(postgres_server, database)
    app = MemoryConfig(db_url=postgres_server.url(database, user=role))
    try:
        # The engine works for the application role as for the owner.
        async with await HierarchicalMemory.create(app, embedder=HashingEmbedder()) as m:
            hits = await m.search("tea", user_id="alice")
            assert [h.content for h in hits] == ["alice likes tea"]
            await m.add("alice likes jazz", user_id="alice")
            assert await m.clear(user_id="alice") == 2
            assert (await m.get(bob.id)).content == "bob likes tea"
        # A statement that forgets the user condition still sees one user only.
        conn = await asyncpg.connect(str(app.db_url))
        try:
            copy = (
                "INSERT INTO headroom_memories (id, content, category, importance, user_id, "
                "created_at, valid_from, embedding) SELECT $1, 'again', 'fact', 0.5, $2, now(), "
                "now(), embedding FROM headroom_memories LIMIT 1"
            )
            await conn.execute(copy, "a2", "alice")
            async with conn.transaction():
                await conn.execute("SELECT set_config('headroom.user_id', 'alice', true)")
                assert await conn.fetchval("SELECT count(*) FROM headroom_memories") == 1
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level"):
                    await conn.execute(copy, "b2", "bob")
            async with conn.transaction():
                await conn.execute("SELECT set_config('headroom.user_id', 'alice', true)")
                assert await conn.execute("DELETE FROM headroom_memories") == "DELETE 1"
        finally:
            await conn.close()
        async with await HierarchicalMemory.create(app, embedder=HashingEmbedder()) as m:
            assert [x.user_id for x in await m.query(MemoryFilter())] == ["bob"]
    finally:
        postgres_server.execute(f"DROP OWNED BY {role}", database)
        postgres_server.execute(f"DROP ROLE {role}")


async def test_a_read_only_server_serves_searches(
    postgres_server: PostgresServer, postgres_config: MemoryConfig
) -> None:
    database = postgres_server.database_of(postgres_config.db_url)
    async with await HierarchicalMemory.create(postgres_config, embedder=HashingEmbedder()) as m:
        kept = await m.add("the replica has this", user_id="u")
    postgres_server.execute(f"ALTER DATABASE {database} SET default_transaction_read_only = on")
    async with await HierarchicalMemory.create(postgres_config, embedder=HashingEmbedder()) as m:
        assert [h.id for h in await m.search("replica", user_id="u")] == [kept.id]
        assert (await m.stats("u")).total == 1
        with pytest.raises(StorageError, match="read-only"):
            await m.add("a write needs the primary", user_id="u")
