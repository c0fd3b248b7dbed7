"""Pick a sampling preset (for a replay of the last request with its dials)."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from llmchat.core.presets import Preset
from llmchat.core.safe_text import one_line


class PresetPicker(ModalScreen[Preset | None]):
    DEFAULT_CSS = """
    PresetPicker { align: center middle; }
    PresetPicker > Vertical {
        width: 80; max-width: 95%; height: auto; max-height: 80%; padding: 1 2;
        background: $panel; border: round $primary;
    }
    PresetPicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="preset_picker.cancel")]

    def __init__(self, presets: Sequence[Preset], question: str) -> None:
        super().__init__()
        self.presets = tuple(presets)
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(self._question))
            # Content, not str: an option's str prompt is read as markup (user presets).
            yield OptionList(
                *(
                    Option(Content(f"{one_line(p.name, 40)} · T {p.temperature:g} p {p.top_p:g}"))
                    for p in self.presets
                )
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.presets[event.option_index])
