"""What is known about a hosted model from a maintained source: its window and prices.

genai-prices carries context windows and prices for many hosted models. It is imported
lazily (it brings pydantic), and only ever from a background thread: never on the
start-up path. An unknown model (any local one) simply has no info.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars for one turn, by part."""

    input_usd: float
    output_usd: float
    total_usd: float


def context_window(model: str | None) -> int | None:
    """The model's context window, if genai-prices knows the model."""
    found = _lookup(model)
    window = getattr(getattr(found, "model", None), "context_window", None) if found else None
    return window if isinstance(window, int) and window > 0 else None


def price(model: str | None, *, prompt: int, completion: int, cached: int = 0) -> Price | None:
    """What a turn cost, or None for a model genai-prices does not know."""
    found = _lookup(model, prompt=prompt, completion=completion, cached=cached)
    if found is None:
        return None
    return Price(
        input_usd=_usd(found.input_price),
        output_usd=_usd(found.output_price),
        total_usd=_usd(found.total_price),
    )


def _lookup(model: str | None, *, prompt: int = 0, completion: int = 0, cached: int = 0) -> Any:
    if not model:
        return None
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    usage = Usage(input_tokens=prompt, output_tokens=completion, cache_read_tokens=cached or None)
    try:
        return calc_price(usage, model_ref=model)
    except (LookupError, ValueError):
        return None


def _usd(value: Decimal | float | int | None) -> float:
    return float(value or 0)
