"""The multi-line prompt: Enter sends, ctrl+j (or shift/alt+enter where the terminal
reports them) inserts a newline."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = frozenset({"ctrl+j", "shift+enter", "alt+enter", "ctrl+enter"})


class PromptInput(TextArea):
    """Where the user writes. Posts `PromptInput.Submitted` on Enter."""

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
