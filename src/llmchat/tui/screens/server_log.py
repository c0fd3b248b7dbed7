"""The output of the llama-server llmchat started (its log file, newest lines last)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from llmchat.core.safe_text import visible
from llmchat.local.server_process import ManagedServer


class ServerLogScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ServerLogScreen { align: center middle; }
    ServerLogScreen > Vertical {
        width: 95%; height: 90%; background: $panel; border: round $primary;
    }
    ServerLogScreen #log-path { height: 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="server_log.close")]

    def __init__(self, server: ManagedServer) -> None:
        super().__init__()
        self.server = server

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Content(f"{visible(str(self.server.log_path))} — Esc closes"), id="log-path"
            )
            yield Log(highlight=False)

    def on_mount(self) -> None:
        log = self.query_one(Log)
        log.write_lines(visible(line) for line in self.server.log_tail(500).splitlines())
        log.scroll_end(animate=False)
