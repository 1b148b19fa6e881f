"""Isolation: random interleavings of every operation across users, sessions, agents and turns.

A hypothesis state machine drives one HierarchicalMemory (real SQLite and usearch index, or a
real PostgreSQL with pgvector) and a pure Python model side by side. The model states the scope
rule on its own (it does not call
headroom.scoping): a context sees a memory when the user ids are equal and every other id the
memory carries equals the context's. After every step the invariants compare, against the
model: search (current and with history) in a rotating set of contexts and in the contexts the
step touched, query with literal filters, get of every id ever issued, stats, and a global
query, which catches a clear or delete that touched anything outside its scope. The rules
check their own results too: the count clear and delete return, the errors of supersede,
rollback and delete on deleted or superseded ids.

Tenancy: the by-id operations run unscoped, with the owner's ``user_id`` and with another
user's (which must be refused as not found, changing nothing); scoped views read, delete and
list by id exactly what their context reaches in the model; imports of well-formed chains
add to the model, and imports of hostile ones (links to another user's memory, cycles, two
heads, dangling or one-sided links) are refused whole, which the global invariants then
check changed nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from headroom.errors import NotFoundError, SupersededError, ValidationError
from headroom.memory import (
    HierarchicalMemory,
    Memory,
    MemoryConfig,
    MemoryFilter,
    NewMemory,
    ScopeLevel,
)
from headroom.scoping import Scope, sees
from tests.fakes import HashingEmbedder
from tests.postgres_server import PostgresServer
from tests.records import chain_of

T = TypeVar("T")

USERS = ("alice", "bob")
SESSIONS = (None, "s1", "s2")
AGENTS = (None, "a1", "a2")
TURNS = (None, "t1")
CATEGORIES = ("fact", "preference", "context")
WORD = "common"  # every memory's content holds it, so a search can match them all
MAX_MEMORIES = 90  # a search with top_k=100 then returns every visible memory


@dataclass(frozen=True)
class Ctx:
    user: str
    session: str | None = None
    agent: str | None = None
    turn: str | None = None


@dataclass(frozen=True)
class Entry:
    id: str
    ctx: Ctx  # the ids the memory carries
    category: str
    chain: int
    current: bool = True


def model_sees(context: Ctx, memory: Ctx) -> bool:
    """The scope rule, stated independently of headroom.scoping."""
    if memory.user != context.user:
        return False
    pairs = ((memory.session, context.session), (memory.agent, context.agent))
    return all(
        own is None or own == theirs for own, theirs in (*pairs, (memory.turn, context.turn))
    )


def model_reaches(context: Ctx, memory: Ctx) -> bool:
    """What a scoped view acts on by id: what it sees, or what carries every id it carries."""
    if memory.user != context.user:
        return False
    pairs = (
        (memory.session, context.session),
        (memory.agent, context.agent),
        (memory.turn, context.turn),
    )
    return model_sees(context, memory) or all(ctx is None or own == ctx for own, ctx in pairs)


def model_matches(where: Ctx, memory: Ctx) -> bool:
    """A MemoryFilter: ids matched literally; an id left None matches anything."""
    fields = ("user", "session", "agent", "turn")
    return all(getattr(where, f) is None or getattr(where, f) == getattr(memory, f) for f in fields)


def level_of(ctx: Ctx) -> str:
    if ctx.turn is not None:
        return "turn"
    if ctx.agent is not None:
        return "agent"
    return "session" if ctx.session is not None else "user"


ALL_CONTEXTS = [Ctx(*ids) for ids in itertools.product(USERS, SESSIONS, AGENTS, TURNS)]
ALL_CONTEXTS.append(Ctx("carol", "s1", "a1", "t1"))  # a user who never stores anything

scopes = st.builds(
    Ctx,
    st.sampled_from(USERS),
    st.sampled_from(SESSIONS),
    st.sampled_from(AGENTS),
    st.sampled_from(TURNS),
)
filters = st.builds(
    Ctx,
    st.sampled_from(USERS),
    st.sampled_from((None, *SESSIONS[1:])),
    st.sampled_from((None, *AGENTS[1:])),
    st.sampled_from((None, *TURNS[1:])),
)


Database = tuple[MemoryConfig, Callable[[], None]]
"""A fresh database's config, and what removes it."""


def sqlite_database() -> Database:
    folder = Path(tempfile.mkdtemp(prefix="headroom-isolation-"))
    return MemoryConfig(db_path=folder / "memory.db"), partial(
        shutil.rmtree, folder, ignore_errors=True
    )


class IsolationMachine(RuleBasedStateMachine):
    ids = Bundle("ids")

    def __init__(self, database: Callable[[], Database] = sqlite_database) -> None:
        super().__init__()
        config, self.remove_database = database()
        self.loop = asyncio.new_event_loop()
        self.memory = self.run(HierarchicalMemory.create(config, embedder=HashingEmbedder()))
        self.entries: dict[str, Entry] = {}  # live memories
        self.deleted: set[str] = set()
        self.chains = itertools.count()
        self.counter = itertools.count()
        self.step = 0
        self.touched: set[Ctx] = set()
        self.owners: dict[str, str] = {}  # every id ever issued -> its user

    def teardown(self) -> None:
        try:
            self.run(self.memory.aclose())
        finally:
            self.loop.close()
            self.remove_database()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def content(self) -> str:
        return f"{WORD} note{next(self.counter)}"

    def chain_of(self, memory_id: str) -> list[Entry]:
        chain = self.entries[memory_id].chain
        return [e for e in self.entries.values() if e.chain == chain]

    def head_of(self, memory_id: str) -> Entry:
        (head,) = [e for e in self.chain_of(memory_id) if e.current]
        return head

    def room(self, count: int = 1) -> bool:
        return len(self.entries) + count <= MAX_MEMORIES

    def track(self, entry: Entry) -> None:
        self.entries[entry.id] = entry
        self.owners[entry.id] = entry.ctx.user
        self.touched.add(entry.ctx)

    def refused(self, memory_id: str, as_user: str | None) -> bool:
        """Whether a by-id call with ``user_id=as_user`` must be refused as not found."""
        return as_user is not None and self.owners[memory_id] != as_user

    # -- operations ---------------------------------------------------------------------------

    @precondition(lambda self: self.room())
    @rule(target=ids, ctx=scopes, category=st.sampled_from(CATEGORIES))
    def add(self, ctx: Ctx, category: str) -> str:
        m = self.run(
            self.memory.add(
                self.content(),
                user_id=ctx.user,
                session_id=ctx.session,
                agent_id=ctx.agent,
                turn_id=ctx.turn,
                category=category,
            )
        )
        assert m.scope.value == level_of(ctx)
        self.track(Entry(m.id, ctx, category, next(self.chains)))
        return m.id

    @precondition(lambda self: self.room(3))
    @rule(target=ids, ctxs=st.lists(scopes, min_size=1, max_size=3))
    def add_many(self, ctxs: list[Ctx]) -> Any:
        items = [
            NewMemory(
                self.content(), c.user, session_id=c.session, agent_id=c.agent, turn_id=c.turn
            )
            for c in ctxs
        ]
        stored = self.run(self.memory.add_many(items))
        for m, ctx in zip(stored, ctxs, strict=True):
            self.track(Entry(m.id, ctx, "fact", next(self.chains)))
        return multiple(*(m.id for m in stored))

    @precondition(lambda self: self.room())
    @rule(target=ids, memory_id=ids, as_user=st.sampled_from((None, *USERS)))
    def supersede(self, memory_id: str, as_user: str | None) -> Any:
        call = self.memory.supersede(memory_id, self.content(), user_id=as_user)
        if memory_id in self.deleted or self.refused(memory_id, as_user):
            with pytest.raises(NotFoundError):
                self.run(call)
            return multiple()
        old = self.entries[memory_id]
        if not old.current:
            with pytest.raises(SupersededError) as info:
                self.run(call)
            assert info.value.head_id == self.head_of(memory_id).id
            return multiple()
        new = self.run(call)
        assert (new.user_id, new.session_id, new.agent_id, new.turn_id) == (
            old.ctx.user,
            old.ctx.session,
            old.ctx.agent,
            old.ctx.turn,
        )
        self.entries[memory_id] = replace(old, current=False)
        self.track(Entry(new.id, old.ctx, old.category, old.chain))
        return new.id

    @precondition(lambda self: self.room())
    @rule(target=ids, memory_id=ids, as_user=st.sampled_from((None, *USERS)))
    def rollback(self, memory_id: str, as_user: str | None) -> Any:
        call = self.memory.rollback(memory_id, user_id=as_user)
        if memory_id in self.deleted or self.refused(memory_id, as_user):
            with pytest.raises(NotFoundError):
                self.run(call)
            return multiple()
        if self.entries[memory_id].current:
            with pytest.raises(ValidationError):
                self.run(call)
            return multiple()
        head = self.head_of(memory_id)
        new = self.run(call)
        assert new.supersedes == head.id
        self.entries[head.id] = replace(head, current=False)
        self.track(Entry(new.id, head.ctx, head.category, head.chain))
        return new.id

    @rule(memory_id=ids, as_user=st.sampled_from((None, *USERS)))
    def delete(self, memory_id: str, as_user: str | None) -> None:
        call = self.memory.delete(memory_id, user_id=as_user)
        if memory_id in self.deleted or self.refused(memory_id, as_user):
            with pytest.raises(NotFoundError):
                self.run(call)
            return
        self.forget_chain(memory_id, self.run(call))

    def forget_chain(self, memory_id: str, count: int) -> None:
        chain = self.chain_of(memory_id)
        assert count == len(chain)
        for entry in chain:
            del self.entries[entry.id]
            self.deleted.add(entry.id)
        self.touched.add(chain[0].ctx)

    @rule(memory_id=ids, view=scopes, delete=st.booleans())
    def by_id_through_a_view(self, memory_id: str, view: Ctx, delete: bool) -> None:
        scoped = self.memory.scoped(
            user_id=view.user, session_id=view.session, agent_id=view.agent, turn_id=view.turn
        )
        entry = self.entries.get(memory_id)
        if entry is None or not model_reaches(view, entry.ctx):
            for call in (scoped.get(memory_id), scoped.get_history(memory_id)):
                with pytest.raises(NotFoundError):
                    self.run(call)
            with pytest.raises(NotFoundError):
                self.run(scoped.delete(memory_id))
            return
        assert self.run(scoped.get(memory_id)).id == memory_id
        history = self.run(scoped.get_history(memory_id))
        assert {m.id for m in history} == {e.id for e in self.chain_of(memory_id)}
        if delete:
            self.forget_chain(memory_id, self.run(scoped.delete(memory_id)))

    # -- imports, well-formed and hostile ---------------------------------------------------

    def records(self, ctx: Ctx, length: int) -> list[Memory]:
        """A well-formed chain of ``length`` versions in ``ctx``, oldest first."""
        contents = [self.content() for _ in range(length)]
        return chain_of(ctx.user, *contents, session=ctx.session, agent=ctx.agent, turn=ctx.turn)

    @precondition(lambda self: self.room(3))
    @rule(target=ids, ctx=scopes, length=st.integers(1, 3))
    def import_chain(self, ctx: Ctx, length: int) -> Any:
        records = self.records(ctx, length)
        assert self.run(self.memory.import_memories(records)) == length
        chain = next(self.chains)
        for m in records:
            self.track(Entry(m.id, ctx, "fact", chain, current=m.superseded_by is None))
        return multiple(*(m.id for m in records))

    @rule(
        target_id=ids,
        ctx=scopes,
        kind=st.sampled_from(["supersedes", "superseded_by", "cycle", "fork", "dangling"]),
    )
    def import_hostile_chain(self, target_id: str, ctx: Ctx, kind: str) -> None:
        (one,) = self.records(ctx, 1)
        if kind == "supersedes":
            # A link to any stored or deleted memory: of another user, not linking back, or
            # gone. Never importable.
            records = [replace(one, supersedes=target_id)]
        elif kind == "superseded_by":
            records = [replace(one, superseded_by=target_id)]
        elif kind == "cycle":
            a, b = self.records(ctx, 2)
            records = [replace(a, supersedes=b.id), replace(b, superseded_by=a.id)]
        elif kind == "fork":
            a, b = self.records(ctx, 2)
            records = [a, b, replace(one, supersedes=a.id)]
        else:
            records = [replace(one, supersedes=str(uuid.uuid4()))]
        with pytest.raises(ValidationError):
            self.run(self.memory.import_memories(records))

    @rule(where=filters)
    def clear(self, where: Ctx) -> None:
        doomed = [e for e in self.entries.values() if model_matches(where, e.ctx)]
        count = self.run(
            self.memory.clear(
                user_id=where.user,
                session_id=where.session,
                agent_id=where.agent,
                turn_id=where.turn,
            )
        )
        assert count == len(doomed)
        for entry in doomed:
            del self.entries[entry.id]
            self.deleted.add(entry.id)
            self.touched.add(entry.ctx)

    @rule(context=scopes, category=st.sampled_from(CATEGORIES))
    def search_by_category(self, context: Ctx, category: str) -> None:
        hits = self.run(self.search(context, categories=[category]))
        expected = {
            e.id
            for e in self.entries.values()
            if e.current and e.category == category and model_sees(context, e.ctx)
        }
        assert hits == expected

    # -- invariants ---------------------------------------------------------------------------

    async def search(self, context: Ctx, **options: Any) -> set[str]:
        hits = await self.memory.search(
            WORD,
            user_id=context.user,
            session_id=context.session,
            agent_id=context.agent,
            turn_id=context.turn,
            top_k=100,
            **options,
        )
        for hit in hits:  # the returned memory is one this context may see
            mem = hit.memory
            assert model_sees(context, Ctx(mem.user_id, mem.session_id, mem.agent_id, mem.turn_id))
        return {hit.id for hit in hits}

    @invariant()
    def searches_return_exactly_what_the_scope_rule_allows(self) -> None:
        self.step += 1
        rotating = ALL_CONTEXTS[(self.step * 5) % len(ALL_CONTEXTS) :][:5]
        for context in {*rotating, *self.touched}:
            current = {
                e.id for e in self.entries.values() if e.current and model_sees(context, e.ctx)
            }
            every = {e.id for e in self.entries.values() if model_sees(context, e.ctx)}
            assert self.run(self.search(context)) == current, context
            assert self.run(self.search(context, include_superseded=True)) == every, context
        self.touched.clear()

    @invariant()
    def queries_stats_and_gets_match_the_model(self) -> None:
        everything = self.run(self.memory.query(MemoryFilter(include_superseded=True)))
        assert {m.id: m.is_current for m in everything} == {
            e.id: e.current for e in self.entries.values()
        }
        for user in USERS:
            for where in (Ctx(user), Ctx(user, "s1"), Ctx(user, None, "a1"), Ctx(user, "s2", "a2")):
                found = self.run(
                    self.memory.query(
                        MemoryFilter(
                            user_id=where.user,
                            session_id=where.session,
                            agent_id=where.agent,
                            turn_id=where.turn,
                        )
                    )
                )
                expected = {
                    e.id for e in self.entries.values() if e.current and model_matches(where, e.ctx)
                }
                assert {m.id for m in found} == expected, where
            mine = [e for e in self.entries.values() if e.ctx.user == user]
            stats = self.run(self.memory.stats(user))
            assert (stats.total, stats.current) == (len(mine), sum(e.current for e in mine))
            for level in ScopeLevel:
                count = sum(e.current and level_of(e.ctx) == level.value for e in mine)
                assert stats.scopes.get(level.value, 0) == count
            levels = self.run(
                self.memory.query(
                    MemoryFilter(user_id=user, scope_levels=frozenset({ScopeLevel.TURN}))
                )
            )
            assert {m.id for m in levels} == {e.id for e in mine if e.current and e.ctx.turn}
        for memory_id, entry in list(self.entries.items())[-8:]:
            got = self.run(self.memory.get(memory_id))
            assert (got.user_id, got.session_id, got.agent_id, got.turn_id) == (
                entry.ctx.user,
                entry.ctx.session,
                entry.ctx.agent,
                entry.ctx.turn,
            )
            assert self.run(self.memory.get(memory_id, user_id=entry.ctx.user)) == got
            for other in USERS:
                if other != entry.ctx.user:
                    with pytest.raises(NotFoundError):
                        self.run(self.memory.get(memory_id, user_id=other))
                    with pytest.raises(NotFoundError):
                        self.run(self.memory.get_history(memory_id, user_id=other))
        for memory_id in list(self.deleted)[-8:]:
            with pytest.raises(NotFoundError):
                self.run(self.memory.get(memory_id))

    @invariant()
    def views_list_and_count_exactly_what_they_reach(self) -> None:
        for view in ALL_CONTEXTS[(self.step * 3) % len(ALL_CONTEXTS) :][:3]:
            scoped = self.memory.scoped(
                user_id=view.user, session_id=view.session, agent_id=view.agent, turn_id=view.turn
            )
            reached = [e for e in self.entries.values() if model_reaches(view, e.ctx)]
            listed = self.run(scoped.query())
            assert {m.id for m in listed} == {e.id for e in reached if e.current}, view
            assert self.run(scoped.stats()).total == len(reached), view


IsolationMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestIsolation = IsolationMachine.TestCase


def test_isolation_on_postgres(postgres_server: PostgresServer) -> None:
    """The same machine on PostgreSQL: fewer examples (each a fresh database), as many steps."""

    def database() -> Database:
        name = postgres_server.create_database()
        return MemoryConfig(db_url=postgres_server.url(name)), partial(
            postgres_server.drop_database, name
        )

    class OnPostgres(IsolationMachine):
        def __init__(self) -> None:
            super().__init__(database)

    run_state_machine_as_test(
        OnPostgres,
        settings=settings(
            max_examples=12,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_the_model_rule_agrees_with_headroom_scoping() -> None:
    memories = [Ctx(*ids) for ids in itertools.product(("alice", "bob"), SESSIONS, AGENTS, TURNS)]
    for context, memory in itertools.product(ALL_CONTEXTS, memories):
        scope = Scope(context.user, context.session, context.agent, context.turn)
        expected = model_sees(context, memory)
        assert sees(scope, memory.user, memory.session, memory.agent, memory.turn) == expected
