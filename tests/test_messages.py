"""`Message` records (see `store.session_format`): what a session file line holds, and how
a line becomes a message again.

Round trips go through `json.dumps(ensure_ascii=True)` as the session file does, so
every record is checked to survive as exactly one line of ASCII.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmchat.core.messages import Message, Role, Status, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.store.session_format import message_from_json, timing_to_json, to_json

FULL_TIMING = Timing(
    ttft_ms=180.0,
    total_ms=1480.5,
    tok_s=73.1,
    prefill_ms=60.0,
    prefill_tokens=812,
    decode_ms=1300.0,
    decode_tokens=95,
    cache_tokens=512,
)


def assistant(status: Status = Status.COMPLETE, **changes: Any) -> Message:
    """An assistant message with every field set."""
    fields: dict[str, Any] = {
        "role": Role.ASSISTANT,
        "content": "The answer is 42.",
        "id": "a1b2c3d4e5f6",
        "parent": "0f1e2d3c4b5a",
        "ts": "2026-01-02T03:04:05.678901Z",
        "tokens": 95,
        "status": status,
        "backend": "local",
        "model": "qwen2.5-7b",
        "params": SamplingParams(temperature=0.2, top_p=0.9, max_tokens=1024, seed=7),
        "usage": Usage(prompt=812, completion=95, cached=512, estimated=False),
        "timing": FULL_TIMING,
        "cost_usd": 0.00042,
        "error": "local: HTTP 500 server error (boom)" if status is Status.ERROR else None,
    }
    fields.update(changes)
    return Message(**fields)


def from_record(record: Any) -> Message:
    return message_from_json(record, lambda warning: None)


def through_a_file_line(message: Message) -> Message:
    line = json.dumps(to_json(message), ensure_ascii=True)
    assert "\n" not in line
    assert line.isascii()
    return from_record(json.loads(line))


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_assistant_message_round_trips_every_field(status: Status) -> None:
    message = assistant(status)
    assert through_a_file_line(message) == message


def test_user_message_round_trips_every_field_it_has() -> None:
    message = Message(
        role=Role.USER,
        content="What is the answer?",
        id="0f1e2d3c4b5a",
        parent="ffffffffffff",
        ts="2026-01-02T03:04:00.000000Z",
        tokens=12,
    )
    assert through_a_file_line(message) == message


def test_system_message_round_trips() -> None:
    message = Message(role=Role.SYSTEM, content="Be brief.", id="s1", ts="t")
    assert through_a_file_line(message) == message


def test_estimated_usage_round_trips() -> None:
    message = assistant(usage=Usage(completion=10, estimated=True))
    assert through_a_file_line(message).usage == Usage(completion=10, estimated=True)


def test_partly_known_timing_round_trips_with_the_unknown_figures_left_out() -> None:
    timing = Timing(ttft_ms=200.0, total_ms=900.0)
    message = assistant(timing=timing)
    assert to_json(message)["timing"] == {"ttft_ms": 200.0, "total_ms": 900.0}
    assert through_a_file_line(message).timing == timing


def test_assistant_message_without_optional_facts_round_trips() -> None:
    message = assistant(
        tokens=None,
        backend=None,
        model=None,
        params=None,
        usage=None,
        timing=None,
        cost_usd=None,
        error=None,
    )
    assert through_a_file_line(message) == message


def test_parentless_first_message_round_trips() -> None:
    message = Message(role=Role.USER, content="hi", parent=None)
    assert through_a_file_line(message).parent is None


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(exclude_categories=())))
def test_any_text_round_trips_exactly(text: str) -> None:
    message = assistant(content=text, error=text)
    loaded = through_a_file_line(message)
    assert loaded.content == text
    assert loaded.error == text


def test_record_has_the_documented_shape() -> None:
    record = to_json(assistant())
    assert record == {
        "type": "message",
        "id": "a1b2c3d4e5f6",
        "parent": "0f1e2d3c4b5a",
        "role": "assistant",
        "content": "The answer is 42.",
        "ts": "2026-01-02T03:04:05.678901Z",
        "tokens": 95,
        "status": "complete",
        "backend": "local",
        "model": "qwen2.5-7b",
        "params": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 1024, "seed": 7},
        "usage": {"prompt": 812, "completion": 95, "cached": 512, "estimated": False},
        "timing": timing_to_json(FULL_TIMING),
        "cost_usd": 0.00042,
        "error": None,
        "finish_reason": None,
    }


def test_a_reply_cut_at_max_tokens_is_complete_but_marked_cut_off() -> None:
    loaded = through_a_file_line(assistant(finish_reason="length"))
    assert loaded.status is Status.COMPLETE
    assert loaded.cut_off


def test_user_record_carries_no_assistant_facts() -> None:
    record = to_json(Message(role=Role.USER, content="hi"))
    assert set(record) == {"type", "id", "parent", "role", "content", "ts"}


# -- wrong shapes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        {"content": "no role"},
        {"role": "robot", "content": "unknown role"},
        {"role": None, "content": "null role"},
        {"role": ["user"], "content": "role in a list"},
        {"role": 1, "content": "numeric role"},
        {"role": "user"},
        {"role": "user", "content": None},
        {"role": "user", "content": 42},
        {"role": "user", "content": ["a", "b"]},
        {"role": "assistant", "content": {"text": "nested"}},
    ],
    ids=repr,
)
def test_record_without_a_valid_role_and_text_raises_value_error(record: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        from_record(record)


@pytest.mark.parametrize("record", [[], ["role", "user"], "message", 42, None], ids=repr)
def test_record_that_is_not_an_object_raises_value_error(record: Any) -> None:
    with pytest.raises(ValueError):
        from_record(record)


def test_unknown_status_loads_as_incomplete() -> None:
    record = {"role": "assistant", "content": "partial", "status": "exploded"}
    assert from_record(record).status is Status.INCOMPLETE


def test_missing_status_loads_as_complete() -> None:
    assert from_record({"role": "user", "content": "hi"}).status is Status.COMPLETE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tokens", "12"),
        ("tokens", 1.5),
        ("tokens", True),
        ("cost_usd", "0.1"),
        ("cost_usd", True),
        ("cost_usd", None),
        ("backend", 3),
        ("model", ["m"]),
        ("error", {"message": "x"}),
        ("parent", 7),
        ("usage", [1, 2]),
        ("timing", "fast"),
        ("params", "hot"),
    ],
    ids=repr,
)
def test_optional_field_of_the_wrong_type_is_dropped(field: str, value: Any) -> None:
    record = to_json(assistant()) | {field: value}
    assert getattr(from_record(record), field) is None


def test_missing_id_and_timestamp_are_filled_in() -> None:
    message = from_record({"role": "user", "content": "hi", "id": 5, "ts": None})
    assert isinstance(message.id, str)
    assert message.id
    assert isinstance(message.ts, str)
    assert message.ts


def test_wrongly_typed_usage_and_timing_figures_are_not_trusted() -> None:
    record = to_json(assistant()) | {
        "usage": {"prompt": "812", "completion": True, "cached": None, "estimated": True},
        "timing": {"ttft_ms": "180", "total_ms": False, "tok_s": 12.5},
    }
    message = from_record(record)
    assert message.usage == Usage(prompt=0, completion=0, cached=0, estimated=True)
    assert message.timing == Timing(tok_s=12.5)


def test_unknown_params_keys_are_ignored() -> None:
    record = to_json(assistant())
    record["params"] = {**record["params"], "mirostat": 2, "temperature": "hot"}
    params = from_record(record).params
    assert params == SamplingParams(temperature=1.0, top_p=0.9, max_tokens=1024, seed=7)
