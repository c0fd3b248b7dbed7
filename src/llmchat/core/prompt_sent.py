"""What a reply's request held beyond its thread, as the engine planned it. Kept apart
from core/cache_explainer so the engine records it without loading the explainer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PromptSent:
    """What a reply's request held beyond its thread, as the engine planned it."""

    system: str
    """The system prompt sent ("" for none)."""
    left_out: int
    """The oldest history messages the window policy did not send."""
