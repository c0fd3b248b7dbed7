"""The exact body sent, as the engine reports it: what the server received, byte for byte.

The backend reports each HTTP request of a turn (`RequestSent`) before it goes out; the
gateway passes every attempt on; the engine keeps the last turn's request as planned
beside each body sent (`ChatService.last_request`), for the request inspector. All of it
over the loopback server, which records the raw bytes it received.
"""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.core.conversation import Conversation
from llmchat.core.events import RequestSent, Retrying, Started, StreamEvent
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent, RequestPlanned
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from llmchat.headless import EXIT_OK, ask
from llmchat.store import new_session
from tests.support.openai_server import OpenAIServer, Script

KEY = "sk-test-0123456789abcdef"
REQUEST = ChatRequest(
    messages=(WireMessage("system", "Be brief."), WireMessage("user", 'Grüße 🙂 "quoted"')),
    params=SamplingParams(temperature=0.2, max_tokens=64),
)


@pytest.fixture
async def backend(server: OpenAIServer) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend("local", server.base_url, "test-model", api_key=KEY)
    yield backend
    await backend.aclose()


async def no_sleep(seconds: float) -> None:
    return None


def sent(events: list[StreamEvent] | list[EngineEvent]) -> list[RequestSent]:
    return [event for event in events if isinstance(event, RequestSent)]


def received(server: OpenAIServer) -> list[bytes]:
    return [request.raw for request in server.chat_requests]


# -- the backend --------------------------------------------------------------------------


async def test_the_body_reported_is_the_bytes_the_server_received(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    events = [event async for event in backend.stream(REQUEST)]
    [request] = sent(events)
    assert [request.body.encode()] == received(server)
    assert (request.method, request.url) == ("POST", f"{server.base_url}/chat/completions")
    assert request.payload()["messages"][1]["content"] == 'Grüße 🙂 "quoted"'


async def test_a_body_adjusted_and_sent_again_is_reported_each_time(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="fine", reject_stream_options=True))
    events = [event async for event in backend.stream(REQUEST)]
    first, second = sent(events)
    assert [first.body.encode(), second.body.encode()] == received(server)
    assert "stream_options" in first.payload()
    assert "stream_options" not in second.payload()


async def test_llama_cpp_extras_are_in_the_body_reported(server: OpenAIServer) -> None:
    backend = LlamaCppBackend("local", server.base_url, "test-model")
    try:
        events = [event async for event in backend.stream(REQUEST)]
    finally:
        await backend.aclose()
    [request] = sent(events)
    assert request.payload()["cache_prompt"] is True
    assert [request.body.encode()] == received(server)


async def test_the_request_reported_carries_no_api_key(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    events = [event async for event in backend.stream(REQUEST)]
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(sent(events))


async def test_a_password_in_the_url_is_not_reported(server: OpenAIServer) -> None:
    url = server.base_url.replace("http://", "http://user:hunter2@")
    backend = OpenAIBackend("local", url, "test-model")
    try:
        events = [event async for event in backend.stream(REQUEST)]
    finally:
        await backend.aclose()
    [request] = sent(events)
    assert request.url == f"{server.base_url}/chat/completions"
    assert "hunter2" not in repr(request)


# -- the gateway --------------------------------------------------------------------------


async def test_every_attempt_of_a_retried_turn_is_reported_in_order(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.http_error(500, "try again"), Script(reply="ok"))
    gateway = Gateway(backend, RetryPolicy(rng=random.Random(1)), sleep=no_sleep)
    events = [event async for event in gateway.stream(REQUEST)]
    kinds = [type(event) for event in events[:4]]
    assert kinds == [RequestSent, Retrying, RequestSent, Started]
    assert [request.body.encode() for request in sent(events)] == received(server)


# -- the engine ---------------------------------------------------------------------------


async def service_for(
    server: OpenAIServer, folder: Path, *, max_tokens: int = 64, window: int | None = None
) -> ChatService:
    conversation = Conversation(params=SamplingParams(max_tokens=max_tokens))
    new_session(folder, conversation)
    backend = OpenAIBackend("local", server.base_url, "test-model", api_key=KEY)
    gateway = Gateway(backend, RetryPolicy(rng=random.Random(1)), sleep=no_sleep)
    meter = ContextMeter(conversation, gateway, "test-model", configured_window=window)
    await meter.prepare()
    return ChatService(conversation, gateway, meter, model=lambda: "test-model")


async def test_the_service_keeps_the_planned_request_beside_each_body_sent(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script.http_error(503, "overloaded"), Script(reply="hi"))
    service = await service_for(server, tmp_path)
    reported: list[EngineEvent] = []

    async def report(event: EngineEvent) -> None:
        reported.append(event)

    await service.send("hello", report)
    await service.gateway.aclose()
    last = service.last_request
    assert last is not None
    [planned] = [event for event in reported if isinstance(event, RequestPlanned)]
    assert last.planned is planned
    assert last.sent == tuple(sent(reported))
    assert [request.body.encode() for request in last.sent] == received(server)
    assert last.last_sent is last.sent[-1]


async def test_history_the_plan_left_out_is_not_in_the_body_sent(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="one " * 30), Script(reply="two"))
    service = await service_for(server, tmp_path, max_tokens=40, window=200)

    async def report(event: EngineEvent) -> None:
        return None

    await service.send("first " + "padding " * 60, report)
    await service.send("second", report)
    await service.gateway.aclose()
    last = service.last_request
    assert last is not None and last.last_sent is not None
    assert last.planned.skipped == 2
    body = last.last_sent.payload()
    assert body["messages"] == [{"role": "user", "content": "second"}]
    assert [{"role": m.role, "content": m.content} for m in last.planned.request.messages] == (
        body["messages"]
    )


async def test_print_mode_prints_only_the_reply(server: OpenAIServer, tmp_path: Path) -> None:
    server.push(Script(reply="hi there"))
    service = await service_for(server, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    status = await ask(service, "hello", out=out, err=err)
    await service.gateway.aclose()
    assert (status, out.getvalue(), err.getvalue()) == (EXIT_OK, "hi there\n", "")
    assert service.last_request is not None and len(service.last_request.sent) == 1
