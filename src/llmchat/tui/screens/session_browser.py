"""The session browser (F3, `llmchat --resume`): every saved session, newest first.

Typing filters the list at once (title, first line, model, id prefix); Enter opens the
highlighted session; F2 renames it; ctrl+d moves it to the trash beside the sessions
and ctrl+z brings the last one back. The listing and every file operation run in thread
workers: the UI thread only picks among rows already made (see `session_rows`).

SEAM (full-text search, issue 12): give `search` (query → hits, each naming a session
and a message) and the sessions it finds join those the filter matches, showing the
matching line; Enter opens such a session at the hit. Not wired yet: once
store/session_search.py is merged, the app passes
`search=SessionSearch(sessions_dir, index_path).search` where it makes this screen
(`LlmChatApp._first_screen` and `action_resume`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from llmchat.core.safe_text import one_line
from llmchat.store.session_list import SessionListing, SessionSummary, scan_sessions
from llmchat.tui.screens.session_browser_files import SessionFileActions
from llmchat.tui.screens.session_rows import (
    COLUMNS,
    SessionRow,
    column_widths,
    filter_rows,
    session_row,
)

if TYPE_CHECKING:
    from llmchat.tui.app import LlmChatApp


_UNREADABLE_SHOWN = 3
"""Unreadable files named in the browser's notice; the rest are counted."""
FIRST_ROWS = 80
"""Rows added at once when the list changes: more than the tallest screen shows."""
ROWS_PER_FRAME = 200
"""Rows added per frame after those, until all are there."""
_ON_TABLE_ONLY = {"list_file", "list_new"}
"""Actions of the letter and Delete keys, which act only while the list has the
keyboard (in the filter they are typing)."""


class MessageHit(Protocol):
    """What the browser needs of a search hit (store.session_search's SearchHit has it)."""

    @property
    def session_id(self) -> str: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def line(self) -> str: ...


Search = Callable[[str], Sequence[MessageHit]]
"""Full-text search over the sessions: runs in a thread worker, may read files."""


_FILE_ACTIONS = {
    "rename": SessionFileActions.rename,
    "delete": SessionFileActions.delete,
    "undo": SessionFileActions.undo,
    "export": SessionFileActions.export,
}


class SessionBrowser(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back", id="browser.back", tooltip="Clear the filter, or close"),
        Binding(
            "enter",
            "open",
            "Open",
            id="browser.open",
            tooltip="Open the highlighted session",
            priority=True,  # from the filter too, and shown in the footer there
        ),
        Binding("f2", "file('rename')", "Rename", id="browser.rename", tooltip="Rename it"),
        Binding(
            "ctrl+d",
            "file('delete')",
            "Delete",
            id="browser.delete",
            tooltip="Move the session to the trash",
            priority=True,  # over the filter's own ctrl+d
        ),
        Binding("ctrl+z", "file('undo')", "Undo delete", id="browser.undo", tooltip="Restore it"),
        Binding("ctrl+n", "new", "New", id="browser.new", tooltip="Start a new session"),
        Binding(
            "ctrl+e",
            "file('export')",
            "Export",
            id="browser.export",
            tooltip="Write the session as Markdown (or JSON)",
            priority=True,  # over the filter's own ctrl+e (end of line)
        ),
        # The same, while the list has the keyboard (in the filter these keys type).
        Binding("e", "list_file('export')", "Export", show=False),
        Binding("r", "list_file('rename')", "Rename", show=False),
        Binding("delete", "list_file('delete')", "Delete", show=False),
        Binding("u", "list_file('undo')", "Undo delete", show=False),
        Binding("n", "list_new", "New", show=False),
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
    ]

    def __init__(
        self, sessions_dir: Path, *, as_start: bool = False, search: Search | None = None
    ) -> None:
        super().__init__()
        self.sessions_dir = sessions_dir
        self.as_start = as_start
        self.search = search
        self._rows: list[SessionRow] = []
        """Every session listed, newest first."""
        self._shown: list[SessionRow] = []
        self._hits: dict[str, MessageHit] = {}
        self._searching = False
        """A search of the messages is under way for the filter's text."""
        """The search's first hit per session, for the current filter text."""
        self.files = SessionFileActions(self)
        self._loaded = False
        self._batches = 0
        self._widths: tuple[int, ...] = ()
        self._refill = False
        """The columns changed: the rows are drawn again even if the same ones are shown."""
        """Counts fills: rows still being added for an older one are not added."""

    @property
    def chat_app(self) -> LlmChatApp:
        return self.app  # type: ignore[return-value]

    @property
    def table(self) -> DataTable[object]:
        return self.query_one(DataTable)

    @property
    def filter_box(self) -> Input:
        return self.query_one("#browser-filter", Input)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content("Saved sessions, newest first"), id="browser-heading")
            yield Input(
                placeholder="Type to filter: title, first line, model, id",
                id="browser-filter",
                compact=True,
                select_on_focus=False,  # typing in the list goes on after what is there
            )
            yield DataTable(id="browser-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self._use_widths(tuple(len(label) for label in COLUMNS))
        self.filter_box.focus()
        self.run_worker(
            self._load,
            thread=True,
            exit_on_error=False,
            group="browser-list",
            description="list sessions",
        )

    def _load(self) -> None:
        # Reads the index (and any file changed since): never on the UI thread. The rows'
        # cells are made here too, so showing 1,000 sessions only fills the table.
        try:
            listing = scan_sessions(self.sessions_dir)
        except Exception as exc:  # never an empty list without a word
            reason = f"cannot list the sessions in {self.sessions_dir}: {exc}"
            listing = SessionListing(sessions=[], unreadable=[reason])
        rows = [session_row(summary) for summary in listing.sessions]
        widths = column_widths(rows)
        self.app.call_from_thread(self._show_listing, listing, rows, widths)

    def _show_listing(
        self, listing: SessionListing, rows: list[SessionRow], widths: tuple[int, ...]
    ) -> None:
        if listing.unreadable:
            # Left out of the list, but not without a word: which file, and why.
            shown = listing.unreadable[:_UNREADABLE_SHOWN]
            more = len(listing.unreadable) - len(shown)
            lines = [one_line(line, 200) for line in shown]
            if more:
                lines.append(f"(and {more} more)")
            self.notify(
                "\n".join(lines),
                title="Cannot read saved sessions",
                severity="warning",
                markup=False,
                timeout=10,
            )
        self._rows = rows
        self._loaded = True
        self._use_widths(widths)
        self._refilter()

    def _use_widths(self, widths: tuple[int, ...]) -> None:
        """Columns of fixed widths. (Measured by the table, a column's width changed only
        after rows had been drawn, and the rows drawn before kept the old one.)"""
        if widths == self._widths:
            return
        self._widths, self._refill = widths, True
        table = self.table
        if not table.columns:
            for label, width in zip(COLUMNS, widths, strict=True):
                table.add_column(label, width=width)
            return
        for column, width in zip(table.ordered_columns, widths, strict=True):
            column.width = width  # drawn so by the refill that follows

    # -- the list and the filter --------------------------------------------------------

    @property
    def highlighted(self) -> SessionSummary | None:
        """The session under the cursor, if any row is shown."""
        if not self._shown:
            return None
        row = min(max(self.table.cursor_row, 0), len(self._shown) - 1)
        return self._shown[row].summary

    @on(Input.Changed, "#browser-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._hits = {}
        self._searching = self.search is not None and bool(event.value.strip())
        self._refilter()
        self._start_search(event.value)

    def _refilter(self) -> None:
        query = self.filter_box.value
        shown = filter_rows(self._rows, query)
        if self._hits:
            # SEAM (search): sessions found by their messages join those the filter
            # matches, shown with the matching line; Enter opens them at that message.
            matched = {row.key for row in shown}
            found = {
                row.key: row
                for row in self._rows
                if row.key in self._hits and row.key not in matched
            }
            shown += [
                session_row(row.summary, first_line=self._hits[key].line)
                for key, row in found.items()
            ]
            order = {row.key: n for n, row in enumerate(self._rows)}
            shown.sort(key=lambda row: order[row.key])
        self._fill(shown)

    def _fill(self, shown: list[SessionRow]) -> None:
        """Show `shown`: the rows a screen can hold at once, the rest a batch a frame.

        A DataTable row costs about 0.1 ms to add: 1,000 at once would hold up every key
        typed in the filter. The highlighted session stays highlighted if it is shown."""
        same = len(shown) == len(self._shown) and all(map(operator.is_, shown, self._shown))
        if same and not self._refill:
            return  # the same rows (a key that narrowed nothing)
        self._refill = False
        table = self.table
        was = self.highlighted
        self._shown = shown
        self._batches += 1
        keys = [row.key for row in shown]
        at = keys.index(was.id) if was is not None and was.id in keys else 0
        first = max(FIRST_ROWS, at + FIRST_ROWS)
        table.clear()
        table.add_rows([row.cells for row in shown[:first]])
        table.move_cursor(row=at, animate=False)
        if first < len(shown):
            self.call_after_refresh(self._add_batch, self._batches, first)
        self._say_count()

    def _add_batch(self, batch: int, start: int) -> None:
        if batch != self._batches or not self.is_attached:
            return  # the filter changed since: another fill is under way
        end = start + ROWS_PER_FRAME
        self.table.add_rows([row.cells for row in self._shown[start:end]])
        if end < len(self._shown):
            self.call_after_refresh(self._add_batch, batch, end)

    def _say_count(self) -> None:
        heading = self.query_one("#browser-heading", Static)
        total, shown = len(self._rows), len(self._shown)
        if not self._loaded:
            text = "Saved sessions, newest first"
        elif not total:
            text = "No saved sessions yet — ctrl+n starts one"
        elif self.filter_box.value.strip():
            text = f"{shown} of {total} sessions match"
            if self._searching:
                # The first search of an opening may be building the index: say so,
                # rather than "0 match" for the seconds it takes.
                text += " · searching every message…"
        else:
            text = f"{total} saved session{'s' if total != 1 else ''}, newest first"
        heading.update(Content(text))

    def _start_search(self, query: str) -> None:
        if self.search is None or not query.strip():
            return
        search = self.search

        def run() -> None:
            try:
                hits = search(query)
            except Exception:  # a search that fails leaves the filter's matches
                hits = []
            self.app.call_from_thread(self._show_hits, query, hits)

        self.run_worker(
            run,
            thread=True,
            exclusive=True,
            exit_on_error=False,
            group="browser-search",
            description="search the sessions",
        )

    def _show_hits(self, query: str, hits: Sequence[MessageHit]) -> None:
        if query != self.filter_box.value:
            return  # typed on since: a newer search is on its way
        self._searching = False
        first: dict[str, MessageHit] = {}
        for hit in hits:
            first.setdefault(hit.session_id, hit)
        self._hits = first
        self._refilter()
        self._say_count()  # "searching…" ends even when the rows shown stay the same

    # -- keys ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _ON_TABLE_ONLY:
            return self.focused is self.table  # in the filter these keys are typing
        return True

    def on_key(self, event: events.Key) -> None:
        # The list takes the keyboard with Tab; typing there still goes to the filter.
        if self.focused is self.table and event.is_printable and event.character:
            if event.key in _LIST_LETTERS:
                return  # the list's own key (its binding runs)
            event.stop()
            self.filter_box.focus()
            self.filter_box.insert_text_at_cursor(event.character)

    def action_move(self, step: int) -> None:
        self.table.move_cursor(row=self.table.cursor_row + step)

    def action_page(self, step: int) -> None:
        height = max(1, self.table.scrollable_content_region.height - 1)
        self.table.move_cursor(row=self.table.cursor_row + step * height)

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        summary = self.highlighted
        if summary is None:
            return
        hit = self._hits.get(summary.id)
        self.chat_app.open_session(summary.id, at_message=hit.message_id if hit else None)

    def action_new(self) -> None:
        self.chat_app.open_session(None)

    def action_list_new(self) -> None:
        self.action_new()

    def action_back(self) -> None:
        if self.filter_box.value:
            self.filter_box.value = ""
            self.filter_box.focus()
        elif self.as_start:
            self.chat_app.open_session(None)
        else:
            self.dismiss()

    # -- rename, delete, undo, export: the file work is in session_browser_files -----

    def action_file(self, what: str) -> None:
        """`rename`, `delete`, `undo` or `export` the highlighted session."""
        _FILE_ACTIONS[what](self.files)

    def action_list_file(self, what: str) -> None:
        self.action_file(what)

    def show_renamed(self, summary: SessionSummary) -> None:
        """Show the session with the title it has now."""
        self._rows = [session_row(summary) if r.key == summary.id else r for r in self._rows]
        self._use_widths(column_widths(self._rows))
        self._refilter()

    def drop(self, session_id: str) -> None:
        """Take a deleted session out of the list; the cursor goes to the one after it."""
        at = next((n for n, r in enumerate(self._shown) if r.key == session_id), 0)
        self._rows = [r for r in self._rows if r.key != session_id]
        self._refilter()
        if self._shown:
            self.table.move_cursor(row=min(at, len(self._shown) - 1), animate=False)

    def put_back(self, summary: SessionSummary) -> None:
        """List a restored session again, in its place, and highlight it."""
        rows = [*self._rows, session_row(summary)]
        rows.sort(key=lambda r: (r.summary.updated, r.summary.created), reverse=True)
        self._rows = rows
        self._use_widths(column_widths(rows))
        self._refilter()
        at = next((n for n, r in enumerate(self._shown) if r.key == summary.id), None)
        if at is not None:
            self.table.move_cursor(row=at, animate=False)


_LIST_LETTERS = frozenset(
    b.key
    for b in SessionBrowser.BINDINGS
    if isinstance(b, Binding) and b.action.startswith("list_") and len(b.key) == 1
)
"""Letters the list acts on itself (everything else typed there goes to the filter)."""
