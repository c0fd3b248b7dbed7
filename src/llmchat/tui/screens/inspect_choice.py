"""One row of the F12 inspect menu. Apart from the menu's screen (inspect_chooser.py)
so the chat screen lists its views without loading the menu until F12 is pressed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InspectChoice:
    letter: str
    """Lower case; the menu takes it in either case."""
    title: str
    action: str
    """The chat screen's action that opens the view ("inspect_cache")."""
