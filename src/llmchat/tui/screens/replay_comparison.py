"""Two replies to the same question side by side, each under its facts line: the
original and its replay on another backend, model or preset (siblings in the tree)."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from llmchat.core.messages import Message
from llmchat.core.reply_facts import reply_meta
from llmchat.core.safe_text import one_line, visible


def heading(message: Message, label: str) -> str:
    backend = one_line(message.backend or "?", 24)
    return f"{label}: {backend} · {one_line(message.model or '?', 40)}"


NARROW = 80
"""Columns below which the two replies are stacked, one above the other."""


class ReplayComparison(ModalScreen[None]):
    DEFAULT_CSS = """
    ReplayComparison { align: center middle; }
    ReplayComparison > #replies {
        layout: horizontal; width: 98%; height: 90%;
        background: $panel; border: round $primary;
    }
    ReplayComparison.-narrow > #replies { layout: vertical; width: 100%; height: 1fr; }
    ReplayComparison .column { width: 1fr; height: 1fr; padding: 0 1; }
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
        # Each reply scrolls with its heading and facts: on a small terminal a long
        # facts line must not leave the reply no room.
        with Container(id="replies"):
            for message, label in ((self.original, "Before"), (self.replayed, replayed)):
                with VerticalScroll(classes="column"):
                    yield Static(Content(heading(message, label)), classes="heading")
                    yield Static(Content(visible(reply_meta(message))), classes="facts")
                    yield Static(Content(visible(message.content)), classes="reply")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
