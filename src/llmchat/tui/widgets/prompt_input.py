"""The multi-line prompt: Enter sends, ctrl+j (or shift/alt+enter where the terminal
reports them) inserts a newline."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea

NEWLINE_KEYS = frozenset({"ctrl+j", "shift+enter", "alt+enter", "ctrl+enter"})


# The prompt is a few lines tall; these keys would page within it. The chat wins them.
SCROLL_KEYS: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
    Binding("pageup", "screen.scroll_chat('up')", "Scroll up", show=False),
    Binding("pagedown", "screen.scroll_chat('down')", "Scroll down", show=False),
    Binding("ctrl+home", "screen.scroll_chat('top')", "Top of chat", show=False),
    Binding("ctrl+end", "screen.scroll_chat('bottom')", "End of chat", show=False),
]


class PromptInput(TextArea):
    """Where the user writes. Posts `PromptInput.Submitted` on Enter."""

    BINDINGS = SCROLL_KEYS

    DEFAULT_CSS = """
    PromptInput { height: auto; min-height: 3; max-height: 12; }
    """

    @dataclass
    class Submitted(Message):
        text: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            placeholder="Message — Enter sends · ctrl+j newline · Esc stops a reply · F1 help",
        )

    def render_line(self, y: int) -> Strip:
        # TextArea wraps its placeholder at the content width, and wrapping at width 0
        # raises (a frame laid out mid-resize, or a terminal a few columns wide).
        if self.content_size.width <= 0:
            return Strip.blank(max(0, self.size.width))
        return super().render_line(y)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text
            if text.strip():
                self.post_message(self.Submitted(text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        await super()._on_key(event)
