"""The session picker: every saved session, newest first; Enter opens one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from llmchat.core.safe_text import one_line
from llmchat.store.session_list import SessionListing, scan_sessions

if TYPE_CHECKING:
    from llmchat.tui.app import LlmChatApp


_UNREADABLE_SHOWN = 3
"""Unreadable files named in the picker's notice; the rest are counted."""


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


class ResumeScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back", id="resume.back", tooltip="Close the list"),
        Binding("n", "new", "New session", id="resume.new", tooltip="Start a new session"),
    ]

    def __init__(self, sessions_dir: Path, *, as_start: bool = False) -> None:
        super().__init__()
        self.sessions_dir = sessions_dir
        self.as_start = as_start

    @property
    def chat_app(self) -> LlmChatApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Content("Saved sessions, newest first — Enter opens, n starts a new one"),
                id="resume-heading",
            )
            yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Title", "Updated", "Model", "Messages", "Id")
        table.focus()
        # Listing reads every file (about 0.2 s for 300 sessions): keep it off the UI.
        self.run_worker(self._load, thread=True, exit_on_error=False, description="list sessions")

    def _load(self) -> None:
        listing = scan_sessions(self.sessions_dir)
        self.app.call_from_thread(self._show, listing)

    def _show(self, listing: SessionListing) -> None:
        sessions = listing.sessions
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
        table = self.query_one(DataTable)
        for summary in sessions:
            table.add_row(
                # Text, not str: DataTable reads a str cell as markup.
                Text(one_line(summary.title or "(untitled)", 70)),
                Text(_when(summary.updated)),
                Text(one_line(summary.model or "–", 30)),
                Text(str(summary.message_count), justify="right"),
                Text(one_line(summary.id[:8]), style="dim"),
                key=summary.id,
            )
        if not sessions:
            none = "No readable sessions" if listing.unreadable else "No saved sessions yet"
            self.query_one("#resume-heading", Static).update(
                Content(f"{none} — press n to start one.")
            )

    @on(DataTable.RowSelected)
    def open_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        self.chat_app.open_session(event.row_key.value)

    def action_new(self) -> None:
        self.chat_app.open_session(None)

    def action_back(self) -> None:
        if self.as_start:
            self.chat_app.open_session(None)
        else:
            self.dismiss()
