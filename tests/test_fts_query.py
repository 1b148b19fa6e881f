"""User text never reaches FTS5 as syntax."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from headroom.storage.fts_query import MAX_TERMS, match_expression, terms

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
