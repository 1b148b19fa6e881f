"""User text never reaches FTS5 as syntax."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from headroom.storage.sqlite.fts_query import MAX_TERMS, match_expression, plan_keywords, terms

HOSTILE = [
    'C++ AND "unbalanced',
    "NEAR(",
    "NEAR(a b, 3)",
    "content:secret",
    "owner:u1 OR *",
    "a* OR -b NOT c",
    '""""',
    "^start",
    "(((",
    "AND OR NOT",
    "!!!???...",
    "🙂🚀",
    "x" * 10_000,
    "word " * 3000,
    "ÀÉÎÕÜ ß ǅ ﬁ",
    "\u200b\u200d",
]


def _fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE f USING fts5(content, owner, content='', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    conn.execute("INSERT INTO f (rowid, content, owner) VALUES (1, 'C plus plus near me', 'u1')")
    return conn


def test_stop_words_dropped_unless_nothing_else() -> None:
    assert terms("Where does she work?") == ["work"]
    assert terms("who am I") == ["who", "am", "i"]
    assert len(terms(" ".join(f"w{i}" for i in range(100)))) == MAX_TERMS
    assert match_expression("...") is None


def test_hostile_queries_are_valid_fts5() -> None:
    conn = _fts()
    for query in HOSTILE:
        expression = match_expression(query, owner="u1")
        if expression is not None:
            conn.execute("SELECT rowid FROM f WHERE f MATCH ?", (expression,)).fetchall()


@given(st.text(max_size=200))
def test_any_text_is_valid_fts5(query: str) -> None:
    expression = match_expression(query, owner="u123")
    if expression is not None:
        _fts().execute("SELECT rowid FROM f WHERE f MATCH ?", (expression,)).fetchall()


def test_plan_keeps_everything_under_the_budget() -> None:
    plan = plan_keywords(["tea", "green", "cup"], [10, 5, 0], budget=100)
    assert plan.words == ("tea", "green") and plan.window is None


def test_plan_drops_the_commonest_words_first() -> None:
    plan = plan_keywords(["work", "anthropic", "office"], [90_000, 3, 800], budget=1000)
    assert plan.words == ("anthropic", "office") and plan.window is None


def test_plan_windows_a_single_common_word() -> None:
    plan = plan_keywords(["work", "job"], [90_000, 50_000], budget=1000)
    assert plan.words == ("job",) and plan.window == 1000


def test_plan_drops_words_in_more_than_half_the_rows() -> None:
    plan = plan_keywords(["coffee", "espresso", "cup"], [9, 2, 5], budget=100, rows=10)
    assert plan.words == ("espresso", "cup")
    # Exactly half is kept; a query of such words only keeps them.
    assert plan_keywords(["a", "b"], [5, 3], budget=100, rows=10).words == ("a", "b")
    assert plan_keywords(["coffee"], [9], budget=100, rows=10).words == ("coffee",)


@given(
    st.lists(
        st.tuples(st.text("abc", min_size=1, max_size=3), st.integers(0, 5000)),
        max_size=8,
        unique_by=lambda pair: pair[0],  # terms() yields distinct words
    ),
    st.integers(1, 4000),
)
def test_plan_properties(pairs: list[tuple[str, int]], budget: int) -> None:
    words = [w for w, _ in pairs]
    counts = [c for _, c in pairs]
    plan = plan_keywords(words, counts, budget=budget)
    present = [w for w, c in pairs if c > 0]
    if not present:
        assert plan.words == ()
        return
    kept = [c for w, c in pairs if w in plan.words and c > 0]
    assert plan.words  # the rarest word is always kept
    assert min(c for c in counts if c > 0) in kept
    assert all(c > 0 for w, c in pairs if w in plan.words)
    # Bounded: within the budget, or one word ranked through a window of the budget's size.
    assert sum(kept) <= budget or (len(plan.words) == 1 and plan.window == budget)
    if sum(c for c in counts if c > 0) <= budget:
        assert plan.window is None and set(plan.words) == set(present)
