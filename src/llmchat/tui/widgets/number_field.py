"""A whole-number field whose value counts only when the user commits it.

Textual's `Input` posts `Changed` for every keystroke *and* for every value set from
code. A field that mirrors state and applies each change would echo its own updates back
(typed quickly, 40 became 4, 40, 4, … without end). This field instead posts one
`Committed` when the user presses Enter or leaves the field, and only if the text
differs from the value it was last shown; `show()` sets a value from elsewhere silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events, on
from textual.message import Message
from textual.widgets import Input


class NumberField(Input):
    @dataclass
    class Committed(Message):
        """The user committed `text` (Enter or leaving the field); not yet validated."""

        field: NumberField
        text: str

        @property
        def control(self) -> NumberField:
            return self.field

    def __init__(self, value: int | None, *, placeholder: str = "", id: str | None = None):
        shown = "" if value is None else str(value)
        super().__init__(shown, type="integer", placeholder=placeholder, id=id)
        self._shown = shown

    def show(self, value: int | None) -> None:
        """Show a value set elsewhere; posts nothing that the screen would apply."""
        self._shown = "" if value is None else str(value)
        if self.value != self._shown:
            # A value the user is halfway through typing is replaced: the committed
            # state is the truth, and the field must not disagree with it.
            self.value = self._shown

    def revert(self) -> None:
        """Back to the last value shown (after a rejected entry)."""
        self.value = self._shown

    def _commit(self) -> None:
        if self.value.strip() != self._shown:
            self.post_message(self.Committed(self, self.value.strip()))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._commit()

    def _on_blur(self, event: events.Blur) -> None:
        self._commit()
        super()._on_blur(event)
