"""A keyboard-first slider: Textual has none, so this is a small reusable one.

Focus it, then: ←/→ (or ↓/↑) move one step, shift with them moves ten, Home/End go to
the ends, `n` resets to the neutral value, and typing a number then Enter sets it exactly.
A click or a drag sets it by position. The user's moves post `Slider.Changed`, and `value_text` is
the plain-text form of its state for screen readers and tests.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

TRACK_MIN = 10


class Slider(Widget, can_focus=True):
    DEFAULT_CSS = """
    Slider { height: 1; width: 1fr; color: $text-muted; }
    Slider:focus { color: $accent; text-style: bold; }
    Slider.-locked { color: $text-disabled; text-style: italic; }
    """
    BINDINGS = [
        Binding("right,up", "step(1)", "More", show=False),
        Binding("left,down", "step(-1)", "Less", show=False),
        Binding("shift+right,shift+up", "step(10)", "Much more", show=False),
        Binding("shift+left,shift+down", "step(-10)", "Much less", show=False),
        Binding("home", "to_end(0)", "Minimum", show=False),
        Binding("end", "to_end(1)", "Maximum", show=False),
        Binding("n", "reset", "Neutral", show=False),
    ]

    value: reactive[float] = reactive(0.0)

    @dataclass
    class Changed(Message):
        slider: Slider
        value: float

        @property
        def control(self) -> Slider:
            return self.slider

    def __init__(
        self,
        label: str,
        *,
        minimum: float,
        maximum: float,
        step: float,
        value: float,
        neutral: float,
        id: str | None = None,
        decimals: int = 2,
    ) -> None:
        super().__init__(id=id)
        self.decimals = decimals
        self.label = label
        self.minimum, self.maximum, self.step_size = minimum, maximum, step
        self.neutral = neutral
        self._typed = ""
        self.locked: str | None = None
        """Why moving this dial does nothing for the model in use (it is not sent)."""
        self.set_reactive(Slider.value, self._clamp(value))
        self.tooltip = f"{label}: ←/→ step, shift for ×10, type a number + Enter, n = neutral"

    def _clamp(self, value: float) -> float:
        steps = round((value - self.minimum) / self.step_size)
        snapped = self.minimum + steps * self.step_size
        return round(min(self.maximum, max(self.minimum, snapped)), 6)

    @property
    def value_text(self) -> str:
        locked = f" (locked: {self.locked})" if self.locked else ""
        return f"{self.label} {self.value:.{self.decimals}f}{locked}"

    def set_value(self, value: float) -> None:
        """Show a value set elsewhere. Posts nothing: only the user's own moves do, so a
        slider that mirrors state cannot echo a change back into it."""
        self.value = self._clamp(value)

    def set_locked(self, reason: str | None) -> None:
        """Show the dial as one the model ignores (None: as a live one again)."""
        self.locked = reason
        self.set_class(reason is not None, "-locked")

    def _move_to(self, value: float) -> None:
        if self.locked is not None:
            self.notify(
                f"{self.label.strip()} is locked: {self.locked}.",
                title="Sampling",
                severity="warning",
                markup=False,
            )
            return
        before = self.value
        self.set_value(value)
        if self.value != before:
            self.post_message(self.Changed(self, self.value))

    def action_step(self, steps: int) -> None:
        self._move_to(self.value + steps * self.step_size)

    def action_to_end(self, which: int) -> None:
        self._move_to(self.maximum if which else self.minimum)

    def action_reset(self) -> None:
        self._move_to(self.neutral)

    async def _on_key(self, event: events.Key) -> None:
        char = event.character
        if char is not None and (char.isdigit() or (char == "." and "." not in self._typed)):
            self._typed += char
            event.stop()
            self.refresh()
        elif event.key == "enter" and self._typed:
            event.stop()
            with contextlib.suppress(ValueError):  # "." alone: keep the old value
                self._take_typed(float(self._typed))
            self._typed = ""
            self.refresh()
        elif event.key == "backspace" and self._typed:
            event.stop()
            self._typed = self._typed[:-1]
            self.refresh()

    def _take_typed(self, typed: float) -> None:
        self._move_to(typed)
        if not self.minimum <= typed <= self.maximum:
            # Said, not silently ignored: the user typed a number the dial cannot take.
            self.notify(
                f"{self.label.strip()} goes from {self.minimum:g} to {self.maximum:g}: "
                f"{self._typed} set to {self.value:.2f}.",
                title="Sampling",
                severity="warning",
                markup=False,
            )

    def _value_at(self, x: int) -> float:
        track = self._track_width()
        start = len(self.label) + 2
        share = min(1.0, max(0.0, (x - start) / max(1, track - 1)))
        return self.minimum + share * (self.maximum - self.minimum)

    def on_click(self, event: events.Click) -> None:
        self.focus()
        self._move_to(self._value_at(event.x))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if event.button:
            self._move_to(self._value_at(event.x))

    def _track_width(self) -> int:
        return max(TRACK_MIN, self.size.width - len(self.label) - 10)

    def render(self) -> Content:
        track = self._track_width()
        share = (self.value - self.minimum) / (self.maximum - self.minimum)
        knob = min(track - 1, round(share * (track - 1)))
        bar = "━" * knob + "●" + "─" * (track - knob - 1)
        shown = f"{self._typed}▏" if self._typed else f"{self.value:.{self.decimals}f}"
        if self.locked is not None:
            bar = "╌" * track
            shown = "🔒"
        return Content(f"{self.label} ▕{bar}▏ {shown}")
