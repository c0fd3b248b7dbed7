"""`inspect: latency` and `inspect: cache`: the session's replies turn by turn, as a
table with bars (see core/turn_history)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from llmchat.core.messages import Message
from llmchat.core.safe_text import visible
from llmchat.core.turn_history import cache_table, latency_table, turns


class TurnHistoryScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TurnHistoryScreen { align: center middle; }
    TurnHistoryScreen > VerticalScroll {
        width: 96%; height: 80%; padding: 0 1;
        background: $panel; border: round $primary;
    }
    TurnHistoryScreen .heading { text-style: bold; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="turn_history.close")]

    def __init__(self, thread: list[Message], view: str) -> None:
        super().__init__()
        self.view = view
        self.rows = turns(thread)

    def compose(self) -> ComposeResult:
        if self.view == "cache":
            title = "Prompt tokens reused from the cache, turn by turn"
            lines = cache_table(self.rows)
        else:
            title = "Latency turn by turn: time to first token grows with the prompt"
            lines = latency_table(self.rows)
        with VerticalScroll():
            yield Static(Content(title), classes="heading")
            yield Static(Content(visible("\n".join(lines))))
        yield Footer()
