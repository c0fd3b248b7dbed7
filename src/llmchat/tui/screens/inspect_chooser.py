"""F12: a small menu of the glass-box views, each on a letter (r request, t tokens, …).
The views themselves, and which of them the chat screen has, are in chat_inspect.py."""

from __future__ import annotations

from collections.abc import Sequence

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from llmchat.tui.screens.inspect_choice import InspectChoice

__all__ = ["InspectChoice", "InspectChooser"]


class InspectChooser(ModalScreen[str | None]):
    """Returns the action of the view picked (a letter, or Enter on a row), or None."""

    DEFAULT_CSS = """
    InspectChooser { align: center middle; }
    InspectChooser > Vertical {
        width: 46; max-width: 95%; height: auto; padding: 0 1;
        background: $panel; border: round $primary;
    }
    InspectChooser OptionList { height: auto; }
    """
    # F12 (or alt+i) again closes it, as it opened it.
    BINDINGS = [Binding("escape,f12,alt+i", "dismiss(None)", "Cancel", id="inspect_chooser.cancel")]

    def __init__(self, choices: Sequence[InspectChoice]) -> None:
        super().__init__()
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Inspect: a letter (Esc closes)")
            yield OptionList(
                *(Option(Content(f"{c.letter}  {c.title}")) for c in self.choices),
                id="inspect-views",
            )

    def on_key(self, event: events.Key) -> None:
        typed = (event.character or "").lower()  # caps lock or shift on: the same view
        for choice in self.choices:
            if typed == choice.letter:
                event.stop()
                self.dismiss(choice.action)
                return

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index].action)
