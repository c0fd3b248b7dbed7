"""Sampling parameters: the dials the user sets and every request carries exactly."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_TOKENS = 1024
TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
MAX_TOKENS_RANGE = (1, 10_000_000)
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
