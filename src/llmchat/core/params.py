"""Sampling parameters: the dials the user sets and every request carries exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_MAX_TOKENS = 1024
TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
MAX_TOKENS_RANGE = (1, 10_000_000)
TOP_K_RANGE = (0, 1000)
"""llama.cpp's top-k: 0 turns the cut off."""
MIN_P_RANGE = (0.0, 1.0)
SEED_RANGE = (-(2**63), 2**63 - 1)
"""What servers accept for a seed (a signed 64-bit integer; llama.cpp takes -1 as random)."""


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """What the next request will use. Always sent in full: servers' defaults differ."""

    temperature: float = 1.0
    """0–2. 1.0 is the API's neutral value."""
    top_p: float = 1.0
    """0–1. 1.0 disables nucleus sampling."""
    max_tokens: int = DEFAULT_MAX_TOKENS
    """Reserved for the reply; always set so a request can never run unbounded."""
    seed: int | None = None
    """Fixed seed for reproducible sampling where the server supports it."""
    top_k: int | None = None
    """llama.cpp's top-k cut; None: the server's default (read from its `/props` and sent
    as such, so the probability view shows what the server does). Other APIs take none."""
    min_p: float | None = None
    """llama.cpp's min-p cut (keep tokens at least min_p × the most likely one's
    probability); None: the server's default, as for `top_k`."""

    def in_range(self) -> SamplingParams:
        """These parameters with any value out of its range replaced by its default.

        Every request is built through this: whatever a file, a preset or a bug put in the
        dials, nothing out of range (NaN, a negative max_tokens) is ever sent."""
        default = SamplingParams()
        sound = SamplingParams(
            temperature=(
                self.temperature
                if _within(self.temperature, TEMPERATURE_RANGE)
                else default.temperature
            ),
            top_p=self.top_p if _within(self.top_p, TOP_P_RANGE) else default.top_p,
            max_tokens=(
                self.max_tokens
                if _within(self.max_tokens, MAX_TOKENS_RANGE, whole=True)
                else default.max_tokens
            ),
            seed=self.seed if _within(self.seed, SEED_RANGE, whole=True) else None,
            top_k=self.top_k if _within(self.top_k, TOP_K_RANGE, whole=True) else None,
            min_p=self.min_p if _within(self.min_p, MIN_P_RANGE) else None,
        )
        return self if sound == self else sound


def _within(value: object, bounds: tuple[float, float], *, whole: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if whole and not isinstance(value, int):
        return False
    return math.isfinite(value) and bounds[0] <= value <= bounds[1]
