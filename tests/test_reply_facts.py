"""The facts line an export writes under a reply is the one the chat screen shows."""

from __future__ import annotations

import pytest

from llmchat.core.messages import Message, Role, Status, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.core.reply_facts import reply_meta
from llmchat.tui.widgets import message_meta

REPLIES = {
    "complete": Message(
        Role.ASSISTANT,
        "x",
        model="gpt-4o",
        params=SamplingParams(temperature=0.7),
        usage=Usage(prompt=812, completion=95, cached=400),
        timing=Timing(ttft_ms=180.0, tok_s=73.1, prefill_ms=60.0, prefill_tokens=812),
        cost_usd=0.00042,
    ),
    "cut off": Message(
        Role.ASSISTANT, "x", finish_reason="length", params=SamplingParams(max_tokens=64)
    ),
    "failed over": Message(Role.ASSISTANT, "x", backend="backup", fell_back_from="main", model="m"),
    "error": Message(Role.ASSISTANT, "", status=Status.ERROR, error="HTTP 500\n\x1b[31m"),
    "estimated": Message(
        Role.ASSISTANT, "x", usage=Usage(completion=20_000, estimated=True), cost_usd=0.2
    ),
}


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_the_export_and_the_chat_screen_give_a_reply_the_same_facts(name: str) -> None:
    reply = REPLIES[name]
    assert reply_meta(reply) == message_meta.reply_meta(reply)
    assert reply_meta(reply).startswith(("✓", "⚠", "✗"))
