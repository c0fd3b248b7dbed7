"""What a turn costs: the maintained price list, the config's own prices, local models."""

from __future__ import annotations

import pytest

from llmchat.core.messages import Message, Role, Usage
from llmchat.core.model_info import PriceOverride, context_window, reply_cost, turn_cost


def test_a_free_backend_costs_nothing() -> None:
    assert turn_cost("anything", prompt=10_000, completion=10_000, free=True) == 0.0


def test_a_model_nobody_prices_has_no_cost() -> None:
    assert turn_cost("my-own-finetune", prompt=100, completion=100) is None


def test_a_known_hosted_model_is_priced_from_the_maintained_list() -> None:
    cost = turn_cost("gpt-4o-mini", prompt=1_000_000, completion=0)
    assert cost is not None and 0 < cost < 10


def test_cached_prompt_tokens_cost_less() -> None:
    fresh = turn_cost("gpt-4o-mini", prompt=1000, completion=0)
    cached = turn_cost("gpt-4o-mini", prompt=1000, completion=0, cached=1000)
    assert fresh is not None and cached is not None and cached < fresh


def test_the_configs_price_wins_and_is_per_million_tokens() -> None:
    overrides = {"gpt-4o-mini": PriceOverride(2.0, 8.0, cached_input_per_mtok=0.5)}
    cost = turn_cost(
        "gpt-4o-mini", prompt=1_000_000, completion=500_000, cached=200_000, overrides=overrides
    )
    assert cost == pytest.approx(0.8 * 2.0 + 0.2 * 0.5 + 0.5 * 8.0)


def test_a_reply_is_priced_from_its_usage_and_model() -> None:
    reply = Message(Role.ASSISTANT, "hi", model="gpt-4o-mini", usage=Usage(100, 50))
    assert reply_cost(reply, model=None, free=False) == turn_cost(
        "gpt-4o-mini", prompt=100, completion=50
    )
    assert reply_cost(Message(Role.ASSISTANT, "hi"), model="gpt-4o", free=False) is None


def test_the_window_of_a_known_model_comes_from_the_list() -> None:
    assert context_window("gpt-4o-mini") == 128_000
    assert context_window("not-a-model") is None
