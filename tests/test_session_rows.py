"""The session browser's rows: what each cell says, and what the filter matches."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from llmchat.store.session_list import SessionSummary
from llmchat.tui.screens.session_rows import (
    COLUMNS,
    column_widths,
    dollars,
    filter_rows,
    session_row,
    session_rows,
)

WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def summary(session_id: str, title: str = "", **facts: object) -> SessionSummary:
    return SessionSummary(
        id=session_id,
        path=Path(f"/nowhere/{session_id}.jsonl"),
        title=title,
        created=WHEN,
        updated=WHEN,
        model=facts.pop("model", None),  # type: ignore[arg-type]
        backend=None,
        message_count=2,
        warning_count=0,
        **facts,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("cost", "shown"), [(None, "–"), (0.0, "$0.0000"), (0.00421, "$0.0042"), (1.5, "$1.50")]
)
def test_a_cost_is_shown_in_dollars_with_cents_or_finer(cost: float | None, shown: str) -> None:
    assert dollars(cost) == shown


def test_an_untitled_session_says_so() -> None:
    assert session_row(summary("a")).cells[COLUMNS.index("Title")].plain == "(untitled)"


def test_cells_are_one_visible_line_however_hostile_the_text() -> None:
    row = session_row(summary("a", "two\nlines \x1b]0;pwned\x07", first_line="\x9b31m[b]x"))
    for cell in row.cells:
        assert "\n" not in cell.plain and "\x1b" not in cell.plain and "\x9b" not in cell.plain


def test_a_search_hit_shows_its_own_line_in_place_of_the_first() -> None:
    row = session_row(summary("a", first_line="hello"), first_line="the match")
    assert row.cells[COLUMNS.index("First line")].plain == "the match"


def test_the_filter_keeps_the_order_and_ignores_case() -> None:
    rows = session_rows(
        [
            summary("a1", "Rust borrow checker"),
            summary("b2", "Bread", first_line="why does RUST form on iron?"),
            summary("c3", "Other", model="rusty-7b"),
            summary("d4", "Nothing"),
        ]
    )
    assert [r.key for r in filter_rows(rows, "  rUsT ")] == ["a1", "b2", "c3"]


def test_an_id_matches_from_its_start_only() -> None:
    rows = session_rows([summary("abc123", "One"), summary("zzabc", "Two")])
    assert [r.key for r in filter_rows(rows, "ABC")] == ["abc123"]


def test_columns_are_as_wide_as_their_widest_cell() -> None:
    rows = session_rows([summary("a", "short"), summary("b", "a much longer title")])
    widths = dict(zip(COLUMNS, column_widths(rows), strict=True))
    assert widths["Title"] == len("a much longer title")
    assert widths["Msgs"] == len("Msgs")  # the label, when wider than every cell
