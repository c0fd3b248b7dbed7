"""Two replies to the same question side by side, each under its facts line: the
original and its replay on another backend, model or preset (siblings in the tree)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from llmchat.core.messages import Message
from llmchat.core.reply_facts import reply_meta
from llmchat.core.safe_text import one_line, visible


def heading(message: Message, label: str) -> str:
    backend = one_line(message.backend or "?", 24)
    return f"{label}: {backend} · {one_line(message.model or '?', 40)}"


class ReplayComparison(ModalScreen[None]):
    DEFAULT_CSS = """
    ReplayComparison { align: center middle; }
    ReplayComparison > Horizontal {
        width: 98%; height: 90%; background: $panel; border: round $primary;
    }
    ReplayComparison .column { width: 1fr; padding: 0 1; }
    ReplayComparison .heading { text-style: bold; }
    ReplayComparison .facts { color: $text-muted; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="replay_comparison.close")]

    def __init__(self, original: Message, replayed: Message, how: str = "") -> None:
        """`how`: what the replay changed, in words ("with the preset support chat")."""
        super().__init__()
        self.original = original
        self.replayed = replayed
        self.how = how

    def compose(self) -> ComposeResult:
        replayed = f"Replayed {self.how}".rstrip()
        with Horizontal():
            for message, label in ((self.original, "Before"), (self.replayed, replayed)):
                with Vertical(classes="column"):
                    yield Static(Content(heading(message, label)), classes="heading")
                    yield Static(Content(visible(reply_meta(message))), classes="facts")
                    with VerticalScroll():
                        yield Static(Content(visible(message.content)), classes="reply")
        yield Footer()
