"""Sampling parameters: the dials the user sets and every request carries exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

DEFAULT_MAX_TOKENS = 1024


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SamplingParams:
        """Read params from a session record, ignoring unknown keys and bad values."""
        if not isinstance(data, dict):
            return cls()
        base = cls()
        values: dict[str, Any] = {}
        for key, kind in (("temperature", float), ("top_p", float), ("max_tokens", int)):
            raw = data.get(key)
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                values[key] = kind(raw)
        seed = data.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            values["seed"] = seed
        return replace(base, **values)
