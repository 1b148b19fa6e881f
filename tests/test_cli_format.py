"""The CLI's tables: they fit the terminal, and the content is what gives way last. Pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from headroom.cli._format import Column, cell_width, table, truncate

_ID = "0b90fd1e-39c3-4cb7-8d7d-c59c76e5071f"

_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\t"),
    min_size=1,
    max_size=120,
).map(lambda t: " ".join(t.split()) or "x")


def test_display_width_counts_wide_and_combining_characters() -> None:
    assert cell_width("abc") == 3
    assert cell_width("日本") == 4
    assert cell_width("e\u0301") == 1  # e + combining acute
    assert truncate("日本語のメモ", 7) == "日本語…"
    assert cell_width(truncate("日本語のメモ", 7)) <= 7
    assert truncate("short", 10) == "short"


def _columns(contents: list[str], others: list[str]) -> list[Column]:
    return [
        Column("ID", [_ID] * len(contents)),
        Column("USER", others, drop=3),
        Column("CATEGORY", ["preference"] * len(contents), drop=2),
        Column(
            "CREATED (UTC)",
            ["2026-12-01 10:51:32"] * len(contents),
            drop=1,
            short=["2026-12-01"] * len(contents),
        ),
        Column("CONTENT", contents, suffix=["  (superseded)"] + [""] * (len(contents) - 1)),
    ]


@given(
    contents=st.lists(_text, min_size=1, max_size=5),
    width=st.integers(min_value=len(_ID) + 2 + 16, max_value=200),
)
def test_a_table_fits_its_width_and_keeps_ids_and_labels(contents: list[str], width: int) -> None:
    others = [f"user-{n}" for n in range(len(contents))]
    lines = table(_columns(contents, others), width).splitlines()
    assert len(lines) == len(contents) + 1
    start = lines[0].index("CONTENT")  # the cells before it are ASCII: index = column
    for line, content in zip(lines[1:], contents, strict=True):
        assert cell_width(line) <= width
        assert line.startswith(_ID + "  ")  # the id is never cut
        shown = line[start:]
        # The content's start, whole or cut with an ellipsis; never another column's text.
        stem = shown.removesuffix("  (superseded)")
        assert content.startswith(stem.removesuffix("…")) or stem.startswith(content)
    assert lines[1].endswith("  (superseded)")


@given(contents=st.lists(_text, min_size=1, max_size=5))
def test_without_a_width_nothing_is_cut(contents: list[str]) -> None:
    text = table(_columns(contents, ["u"] * len(contents)), None)
    for content in contents:
        assert content in text
    assert "…" not in text or any("…" in c for c in contents)


def test_other_columns_give_way_before_the_content() -> None:
    content = "Bob prefers Go for backend services, and he says so at every standup"
    columns = _columns([content], ["bob"])
    assert table(columns, 200).splitlines()[1].endswith(content + "  (superseded)")
    # Narrower: the time is shortened to a date, then dropped, before the content is cut.
    assert "10:51:32" in table(columns, 120)
    at_110 = table(columns, 110)
    assert _header(at_110) == ["ID", "USER", "CATEGORY", "CREATED", "(UTC)", "CONTENT"]
    assert "2026-12-01  " in at_110 and "10:51" not in at_110
    assert _header(table(columns, 100)) == ["ID", "USER", "CATEGORY", "CONTENT"]
    assert _header(table(columns, 80)) == ["ID", "USER", "CONTENT"]
    row = table(columns, 80).splitlines()[1]
    assert cell_width(row) == 80 and "…  (superseded)" in row


def _header(text: str) -> list[str]:
    return text.splitlines()[0].split()
