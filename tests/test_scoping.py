"""The visibility rule and its vectorised catalog, property-tested against each other."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from headroom.scoping import Scope, ScopeLevel, scope_level_of, sees
from headroom.storage.sqlite.catalog import ScopeCatalog

ids = st.sampled_from(["a", "b", "c"])
maybe = st.none() | ids
row = st.tuples(ids, maybe, maybe, maybe, st.sampled_from(["fact", "preference"]), st.booleans())
scopes = st.builds(Scope, ids, maybe, maybe, maybe)


def test_level_is_the_deepest_id() -> None:
    assert scope_level_of(None, None, None) is ScopeLevel.USER
    assert scope_level_of("s", None, None) is ScopeLevel.SESSION
    assert scope_level_of("s", "a", None) is ScopeLevel.AGENT
    assert scope_level_of(None, "a", None) is ScopeLevel.AGENT
    assert scope_level_of("s", "a", "t") is ScopeLevel.TURN


def test_examples_of_the_rule() -> None:
    session = Scope("bob", session_id="afternoon")
    assert sees(session, "bob", None, None, None)  # his user-level preferences
    assert sees(session, "bob", "afternoon", None, None)
    assert not sees(session, "bob", "morning", None, None)  # another session's context
    assert not sees(session, "alice", None, None, None)  # never another user
    agent = Scope("bob", agent_id="planner")
    assert sees(agent, "bob", None, "planner", None)
    assert not sees(agent, "bob", None, "coder", None)
    assert not sees(Scope("bob"), "bob", None, None, "turn-1")  # a turn memory: its turn only


@given(scopes, row)
def test_rule_is_every_carried_id_equal(scope: Scope, r: tuple[str, ...]) -> None:
    user, session, agent, turn = r[0], r[1], r[2], r[3]
    carried = {"user": user, "session": session, "agent": agent, "turn": turn}
    context = {
        "user": scope.user_id,
        "session": scope.session_id,
        "agent": scope.agent_id,
        "turn": scope.turn_id,
    }
    expected = all(v is None or v == context[k] for k, v in carried.items())
    assert sees(scope, user, session, agent, turn) is expected


@given(st.lists(row, max_size=40), scopes, st.booleans(), st.none() | st.just(["fact"]))
def test_catalog_agrees_with_the_rule(
    rows: list[tuple[str, str | None, str | None, str | None, str, bool]],
    scope: Scope,
    include_superseded: bool,
    categories: list[str] | None,
) -> None:
    catalog = ScopeCatalog()
    for key, r in enumerate(rows):
        catalog.add(key * 3 + 1, *r)  # sparse keys, like an index after deletions
    removed = {key * 3 + 1 for key in range(0, len(rows), 4)}
    catalog.remove(removed)
    expected = [
        key * 3 + 1
        for key, (u, s, a, t, cat, current) in enumerate(rows)
        if key * 3 + 1 not in removed
        and sees(scope, u, s, a, t)
        and (include_superseded or current)
        and (categories is None or cat in categories)
    ]
    got = catalog.allowed(scope, categories=categories, include_superseded=include_superseded)
    assert got.tolist() == expected
    assert len(catalog) == len(rows) - len(removed)


def test_catalog_unknown_user_sees_nothing() -> None:
    catalog = ScopeCatalog()
    catalog.add(5, "alice", None, None, None, "fact", True)
    assert catalog.allowed(Scope("mallory")).size == 0
    catalog.set_current(5, False)
    assert catalog.allowed(Scope("alice")).size == 0
    assert catalog.allowed(Scope("alice"), include_superseded=True).tolist() == [5]


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 12), row),
        st.tuples(st.just("remove"), st.integers(0, 12)),
        st.tuples(st.just("current"), st.integers(0, 12), st.booleans()),
    ),
    max_size=30,
)


@given(operations, st.lists(scopes, min_size=1, max_size=3))
def test_kept_answers_follow_every_change(
    steps: list[tuple[object, ...]], asked: list[Scope]
) -> None:
    # allowed() keeps its answers between changes: after each change, each answer (asked
    # twice, so the second is a kept one) must be what the rule says now.
    catalog = ScopeCatalog()
    rows: dict[int, tuple[str, str | None, str | None, str | None, str, bool]] = {}
    for step in steps:
        if step[0] == "add":
            key, r = step[1], step[2]
            assert isinstance(key, int) and isinstance(r, tuple)
            catalog.add(key, *r)
            rows[key] = r
        elif step[0] == "remove":
            assert isinstance(step[1], int)
            catalog.remove([step[1]])
            rows.pop(step[1], None)
        else:
            key, current = step[1], step[2]
            assert isinstance(key, int) and isinstance(current, bool)
            catalog.set_current(key, current)
            if key in rows:
                rows[key] = (*rows[key][:5], current)
        for scope in asked:
            expected = sorted(
                key
                for key, (u, s, a, t, _, current) in rows.items()
                if current and sees(scope, u, s, a, t)
            )
            assert catalog.allowed(scope).tolist() == expected
            assert catalog.allowed(scope).tolist() == expected
            held = sum(1 for r in rows.values() if r[0] == scope.user_id)
            assert catalog.user_keys(scope.user_id) == held
        assert len(catalog) == len(rows)
