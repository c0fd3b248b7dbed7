"""A small modal that asks for one line of text (a session title, a file path)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label


class TextLineScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    TextLineScreen { align: center middle; }
    TextLineScreen > Vertical {
        width: 70; height: auto; padding: 1 2;
        background: $panel; border: round $primary;
    }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="text_line.cancel")]

    def __init__(
        self,
        title: str,
        *,
        prompt: str = "Session title (Enter saves, Esc cancels)",
        suggester: Suggester | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._prompt = prompt
        self._suggester = suggester

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._prompt)
            yield Input(self._title, id="title", suggester=self._suggester)

    @on(Input.Submitted)
    def save(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
