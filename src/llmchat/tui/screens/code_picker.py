"""Pick one of a reply's code blocks to copy: the newest (last in the reply) first."""

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

from llmchat.core.copy_text import CodeBlock
from llmchat.core.safe_text import one_line


def describe(block: CodeBlock, number: int) -> Content:
    """One line per block: its number in the reply, language, size and first line."""
    language = one_line(block.language, 20) or "text"
    lines = f"{block.line_count} line" + ("" if block.line_count == 1 else "s")
    # Content, not str: an option's str prompt is read as markup.
    return Content(f"{number}. {language} · {lines} · {one_line(block.first_line, 60)}")


class CodeBlockPicker(ModalScreen[CodeBlock | None]):
    DEFAULT_CSS = """
    CodeBlockPicker { align: center middle; }
    CodeBlockPicker > Vertical {
        width: 90; max-width: 95%; height: auto; max-height: 80%; padding: 1 2;
        background: $panel; border: round $primary;
    }
    CodeBlockPicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="code_picker.cancel")]

    def __init__(self, blocks: Sequence[CodeBlock]) -> None:
        super().__init__()
        # Numbered in reply order, listed newest first: the last block is usually the
        # finished version of what the reply built up.
        self._choices = list(reversed(list(enumerate(blocks, start=1))))

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Copy which code block? (Enter copies, Esc cancels)")
            yield OptionList(
                *(Option(describe(block, number)) for number, block in self._choices),
                id="code-blocks",
            )

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._choices[event.option_index][1])
