"""Replies that are not what they claim: usage counts that are nonsense, and a "reply"
that is only a request to call a tool. Both must be said plainly and saved, never
crash pricing, never be kept as an empty complete answer."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.core.conversation import Conversation
from llmchat.core.events import Delta, ErrorKind, Failed, StreamEvent, UsageReport
from llmchat.core.messages import Message, Status
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from llmchat.store import load_session, new_session
from tests.support.openai_server import OpenAIServer, Script
from tests.test_cli import llmchat, sessions

pytestmark = pytest.mark.family("streams")

REQUEST = ChatRequest(messages=(WireMessage("user", "Hi"),), params=SamplingParams(max_tokens=64))
WEATHER = {
    "index": 0,
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


@pytest.fixture
async def backend(server: OpenAIServer) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend("local", server.base_url, "test-model")
    yield backend
    await backend.aclose()


async def run(backend: OpenAIBackend) -> list[StreamEvent]:
    return [event async for event in backend.stream(REQUEST)]


# -- usage --------------------------------------------------------------------------------


@pytest.mark.parametrize("completion", [-5, math.nan, 10**30, 3.5, "12", True])
async def test_nonsense_completion_counts_are_unknown(
    server: OpenAIServer, backend: OpenAIBackend, completion: Any
) -> None:
    server.push(Script(reply="fine", usage="finish", completion_tokens=completion))
    events = await run(backend)
    assert [e for e in events if isinstance(e, UsageReport)] == []
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "fine"


@pytest.mark.parametrize("prompt", [-7, 10**12])
async def test_a_nonsense_prompt_count_makes_the_usage_unknown(
    server: OpenAIServer, backend: OpenAIBackend, prompt: int
) -> None:
    server.push(Script(reply="fine", usage="finish", prompt_tokens=prompt))
    assert [e for e in await run(backend) if isinstance(e, UsageReport)] == []


async def test_cached_tokens_never_exceed_the_prompt(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="fine", usage="finish", prompt_tokens=10, cached_tokens=99))
    [usage] = [e for e in await run(backend) if isinstance(e, UsageReport)]
    assert usage.cached_tokens == 10


async def _service(server: OpenAIServer, folder: Path, pricer: Any) -> ChatService:
    conversation = Conversation(params=SamplingParams(max_tokens=64))
    new_session(folder, conversation)
    backend = OpenAIBackend("local", server.base_url, "gpt-4o")
    gateway = Gateway(backend, RetryPolicy(rng=random.Random(1)))
    meter = ContextMeter(conversation, gateway, "gpt-4o")
    await meter.prepare()
    return ChatService(conversation, gateway, meter, model=lambda: "gpt-4o", pricer=pricer)


async def ignore(_: EngineEvent) -> None:
    return None


async def test_a_pricer_that_fails_leaves_the_cost_unknown_and_the_reply_saved(
    server: OpenAIServer, tmp_path: Path
) -> None:
    def broken(_: Message) -> float | None:
        raise ValueError("Invalid usage value for output_tokens")

    service = await _service(server, tmp_path, broken)
    reply = await service.send("hi", ignore)
    assert reply is not None
    assert await service.price(reply, ignore) is None
    [path] = tmp_path.glob("*.jsonl")
    saved = load_session(path).messages[-1]
    assert (saved.status, saved.content, saved.cost_usd) == (
        Status.COMPLETE,
        reply.content,
        None,
    )


def test_print_mode_saves_a_reply_whose_usage_is_negative(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="Priced?", usage="finish", completion_tokens=-5))
    env = {"OPENAI_BASE_URL": server.base_url}
    result = llmchat("-p", "hi", "--model", "gpt-4o", home=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "Priced?\n"
    [summary] = sessions(tmp_path)
    saved = load_session(summary.path).messages[-1]
    assert (saved.status, saved.content) == (Status.COMPLETE, "Priced?")
    assert saved.usage is not None and saved.usage.estimated  # -5 is not a count


# -- a reply of only tool calls -------------------------------------------------------


async def test_a_reply_of_only_tool_calls_says_so_and_is_not_complete(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="", tool_calls=[WEATHER], finish_reason="tool_calls"))
    events = await run(backend)
    last = events[-1]
    assert isinstance(last, Failed)
    assert last.error.kind is ErrorKind.INCOMPLETE
    assert "asked for a tool (get_weather) llmchat does not offer" in last.error.message


async def test_a_tool_call_after_some_text_keeps_the_text_and_says_so(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="Let me check.", tool_calls=[WEATHER], finish_reason="tool_calls"))
    events = await run(backend)
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "Let me check."
    last = events[-1]
    assert isinstance(last, Failed) and "its text so far is kept" in last.error.message


async def test_finish_reason_tool_calls_alone_is_not_a_complete_reply(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="", finish_reason="tool_calls"))
    last = (await run(backend))[-1]
    assert isinstance(last, Failed) and "asked for a tool llmchat" in last.error.message


def test_print_mode_says_the_model_asked_for_a_tool(server: OpenAIServer, tmp_path: Path) -> None:
    server.push(Script(reply="", tool_calls=[WEATHER], finish_reason="tool_calls"))
    result = llmchat("-p", "weather?", home=tmp_path, env={"OPENAI_BASE_URL": server.base_url})
    assert result.returncode == 1
    assert "asked for a tool (get_weather) llmchat does not offer" in result.stderr
    [summary] = sessions(tmp_path)
    saved = load_session(summary.path).messages[-1]
    assert saved.status is Status.INCOMPLETE
    assert "get_weather" in (saved.error or "")
