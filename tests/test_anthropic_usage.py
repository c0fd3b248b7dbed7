"""Prompt-cache usage (Anthropic's cache reads and writes) from the stream to the price,
the session file and the facts line under a reply."""

from __future__ import annotations

import json

import pytest

from llmchat.core.events import Finished, Started, UsageReport
from llmchat.core.messages import Message, Role, Usage
from llmchat.core.model_info import reply_cost, turn_cost
from llmchat.core.params import SamplingParams
from llmchat.core.reply_facts import reply_meta
from llmchat.core.turn import Turn
from llmchat.store.session_format import (
    message_to_json,
    sound_line,
    sound_message,
    usage_from_json,
    usage_to_json,
)

CACHED = Usage(prompt=13_000, completion=100, cached=10_000, cache_write=2000)


def test_a_turn_keeps_the_cache_writes_the_server_reported() -> None:
    turn = Turn(SamplingParams())
    turn.feed(Started("claude", "claude-sonnet-4-5"))
    turn.feed(UsageReport(13_000, 100, cached_tokens=10_000, cache_write_tokens=2000))
    turn.feed(Finished("stop"))
    assert turn.to_message().usage == CACHED


def test_cache_reads_and_writes_are_priced_as_such() -> None:
    # protocols.md, checked against genai-prices: $0.015 with the cache, $0.0405 without.
    cost = turn_cost(
        "claude-sonnet-4-5", prompt=13_000, completion=100, cached=10_000, cache_write=2000
    )
    uncached = turn_cost("claude-sonnet-4-5", prompt=13_000, completion=100)
    assert cost == pytest.approx(0.015)
    assert uncached == pytest.approx(0.0405)


def test_a_reply_is_priced_from_its_stored_usage() -> None:
    message = Message(Role.ASSISTANT, "Hi", model="claude-sonnet-4-5", usage=CACHED)
    assert reply_cost(message, model=None, free=False) == pytest.approx(0.015)


def test_cache_writes_round_trip_through_the_session_file() -> None:
    message = Message(Role.ASSISTANT, "Hi", id="a1", ts="2026-12-01T00:00:00Z", usage=CACHED)
    record = message_to_json(message)
    assert record["usage"]["cache_write"] == 2000
    line = json.dumps(record, ensure_ascii=True).encode()
    assert sound_message(record) == message
    assert sound_line(line) == message
    assert usage_from_json(record["usage"]) == CACHED


def test_a_reply_without_cache_writes_is_stored_as_before() -> None:
    usage = Usage(prompt=12, completion=3, cached=0)
    assert usage_to_json(usage) == {"prompt": 12, "completion": 3, "cached": 0, "estimated": False}


def test_the_facts_line_shows_tokens_read_from_and_written_to_the_cache() -> None:
    message = Message(Role.ASSISTANT, "Hi", usage=CACHED)
    line = reply_meta(message)
    assert "13.0k→100 tok" in line
    assert "10.0k from cache, 2000 cached" in line
    plain = reply_meta(Message(Role.ASSISTANT, "Hi", usage=Usage(12, 3)))
    assert "cache" not in plain
