"""What is known about a hosted model from a maintained source: its window and prices.

genai-prices carries context windows and prices for many hosted models. It is imported
lazily (it brings pydantic), and only ever from a background thread: never on the
start-up path. An unknown model (any local one) simply has no info.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmchat.core.messages import Message


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """Prices the user set for a model in the config (`[pricing."model"]`), per million."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    """Cached prompt tokens; None: charged as ordinary input."""


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


def price(
    model: str | None, *, prompt: int, completion: int, cached: int = 0, cache_write: int = 0
) -> Price | None:
    """What a turn cost, or None for a model genai-prices does not know. `prompt` is
    every input token, `cached` (read) and `cache_write` (written) among them."""
    found = _lookup(
        model, prompt=prompt, completion=completion, cached=cached, cache_write=cache_write
    )
    if found is None:
        return None
    return Price(
        input_usd=_usd(found.input_price),
        output_usd=_usd(found.output_price),
        total_usd=_usd(found.total_price),
    )


def _lookup(
    model: str | None,
    *,
    prompt: int = 0,
    completion: int = 0,
    cached: int = 0,
    cache_write: int = 0,
) -> Any:
    if not model:
        return None
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    try:  # Usage itself refuses negative or NaN counts with a ValueError
        usage = Usage(
            input_tokens=prompt,
            output_tokens=completion,
            cache_read_tokens=cached or None,
            cache_write_tokens=cache_write or None,
        )
        return calc_price(usage, model_ref=model)
    except (LookupError, ValueError):
        return None


def _usd(value: Decimal | float | int | None) -> float:
    return float(value or 0)


def turn_cost(
    model: str | None,
    *,
    prompt: int,
    completion: int,
    cached: int = 0,
    cache_write: int = 0,
    free: bool = False,
    overrides: Mapping[str, PriceOverride] | None = None,
) -> float | None:
    """US dollars for one turn: 0 on a free backend (a llama.cpp server), the config's
    price for the model if set, else genai-prices'; None ("n/a") for a model nobody
    prices. A price set in the config charges cache writes as plain input."""
    if free:
        return 0.0
    override = (overrides or {}).get(model or "")
    if override is not None:
        cached_rate = override.cached_input_per_mtok
        if cached_rate is None:
            cached_rate = override.input_per_mtok
        fresh = max(0, prompt - cached)
        return (
            fresh * override.input_per_mtok
            + cached * cached_rate
            + completion * override.output_per_mtok
        ) / 1_000_000
    found = price(
        model, prompt=prompt, completion=completion, cached=cached, cache_write=cache_write
    )
    return None if found is None else found.total_usd


def reply_cost(
    message: Message,
    *,
    model: str | None,
    free: bool,
    overrides: Mapping[str, PriceOverride] | None = None,
) -> float | None:
    """The cost of an assistant message from its usage (None when it has none)."""
    usage = message.usage
    if usage is None:
        return None
    return turn_cost(
        message.model or model,
        prompt=usage.prompt,
        completion=usage.completion,
        cached=usage.cached,
        cache_write=usage.cache_write,
        free=free,
        overrides=overrides,
    )
