"""Sampling presets for common jobs, and the rule of thumb for the two dials.

Temperature rescales the whole distribution; top-p cuts its tail. Moving both at once
makes their effects hard to tell apart, so the advice is to tune one while the other
stays neutral (T = 1.0, top-p = 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass

NEUTRAL_TEMPERATURE = 1.0
NEUTRAL_TOP_P = 1.0


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    temperature: float
    top_p: float
    max_tokens: int | None = None
    system: str | None = None
    json_output: bool = False
    """Suggests schema mode (structured output)."""


BUILT_IN: tuple[Preset, ...] = (
    Preset("SQL / schema mapping", 0.0, 1.0),
    Preset("JSON extraction / log parsing", 0.0, 1.0, json_output=True),
    Preset("RAG summary / factual Q&A", 0.25, 0.95),
    Preset("support chat", 0.6, 0.90),
    Preset("creative / brainstorming", 1.1, 0.85),
    Preset("neutral (API default)", 1.0, 1.0),
)


def both_dials_moved(temperature: float, top_p: float) -> bool:
    """True when neither dial is neutral: the hint to tune one at a time applies."""
    return abs(temperature - NEUTRAL_TEMPERATURE) > 1e-9 and abs(top_p - NEUTRAL_TOP_P) > 1e-9


def matching_preset(
    temperature: float, top_p: float, presets: tuple[Preset, ...] = BUILT_IN
) -> Preset | None:
    """The preset these values are, if any (to show its name while it is active)."""
    for preset in presets:
        same_t = abs(preset.temperature - temperature) < 1e-9
        if same_t and abs(preset.top_p - top_p) < 1e-9:
            return preset
    return None
