"""The session browser's rows: each summary's cells, made once, and the filter over them.

Everything here is built from the summaries alone (no file is read), and can be built
off the UI thread: the browser makes the rows of 1,000 sessions in the worker that
lists them, and typing in the filter only picks among rows already made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text

from llmchat.core.safe_text import one_line
from llmchat.store.session_list import SessionSummary

COLUMNS = ("Title", "Model", "Date", "Msgs", "Cost", "First line", "Id")
TITLE_WIDTH = 40
MODEL_WIDTH = 24
FIRST_LINE_WIDTH = 50
ID_SHOWN = 8


def when(moment: datetime) -> str:
    """A date and time in the user's own time zone."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def dollars(cost: float | None) -> str:
    if cost is None:
        return "–"
    if cost < 0.01:
        return f"${cost:.4f}"
    return f"${cost:.2f}"


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One session as the browser shows it, and what the filter matches it by."""

    summary: SessionSummary
    cells: tuple[Text, ...]
    """Text, never str: a DataTable reads a str cell as markup. Each made safe to show."""
    words: str
    """Title, first line and model, casefolded, one per line."""

    @property
    def key(self) -> str:
        return self.summary.id

    def matches(self, query: str) -> bool:
        """Whether `query` (casefolded, stripped) is in its title, first line or model, or
        begins its id."""
        return not query or query in self.words or self.summary.id.casefold().startswith(query)


def session_row(summary: SessionSummary, *, first_line: str | None = None) -> SessionRow:
    """The row of a summary; `first_line` shows another line in place of its first one
    (a search hit's)."""
    line = summary.first_line if first_line is None else first_line
    cells = (
        Text(one_line(summary.title or "(untitled)", TITLE_WIDTH)),
        Text(one_line(summary.model or "–", MODEL_WIDTH)),
        Text(when(summary.updated)),
        Text(str(summary.message_count), justify="right"),
        Text(dollars(summary.cost_usd), justify="right"),
        Text(one_line(line, FIRST_LINE_WIDTH), style="italic"),
        Text(one_line(summary.id[:ID_SHOWN]), style="dim"),
    )
    words = "\n".join((summary.title, summary.first_line, summary.model or "")).casefold()
    return SessionRow(summary, cells, words)


def session_rows(summaries: Iterable[SessionSummary]) -> list[SessionRow]:
    return [session_row(summary) for summary in summaries]


def column_widths(rows: Iterable[SessionRow]) -> tuple[int, ...]:
    """Each column as wide as its widest cell (or label): fixed while the filter narrows
    the list, so nothing jumps sideways as the user types."""
    widths = [len(label) for label in COLUMNS]
    for row in rows:
        widths = [max(width, cell.cell_len) for width, cell in zip(widths, row.cells, strict=True)]
    return tuple(widths)


def filter_rows(rows: Sequence[SessionRow], query: str) -> list[SessionRow]:
    """The rows that match `query`, in their order (case does not matter)."""
    wanted = query.strip().casefold()
    return [row for row in rows if row.matches(wanted)] if wanted else list(rows)
