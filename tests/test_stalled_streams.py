"""A stream that goes quiet after its first token: the idle timeout, over loopback HTTP.

Every value is a fraction of a second and the server really stalls (it sends nothing
and keeps the connection open), so each test waits about as long as its idle timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.config import CliOverrides, parse_config, resolve_backend
from llmchat.core.events import ChatError, Delta, ErrorKind, Failed, FellBack, Finished, StreamEvent
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.gateway.gateway import Gateway
from llmchat.launch import make_backend
from tests.support import anthropic_server
from tests.support.anthropic_server import AnthropicServer, Turn
from tests.support.openai_server import Fault, OpenAIServer, Script

pytestmark = pytest.mark.family("streams")

E = TypeVar("E")

REQUEST = ChatRequest(
    messages=(WireMessage("user", "Hello?"),),
    params=SamplingParams(temperature=0.2, max_tokens=64),
)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


async def run(source: OpenAIBackend | Gateway) -> list[StreamEvent]:
    try:
        return [event async for event in source.stream(REQUEST)]
    finally:
        await source.aclose()


def text(events: list[StreamEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, Delta))


def failure(events: list[StreamEvent]) -> ChatError:
    assert isinstance(events[-1], Failed), events
    assert sum(isinstance(event, Failed | Finished) for event in events) == 1
    return events[-1].error


def stalling(**fields: object) -> Script:
    return Script(reply="one two three", fault=Fault.STALL, fault_after=2, **fields)  # type: ignore[arg-type]


async def test_a_stall_after_the_first_token_ends_as_a_clear_error_naming_the_backend(
    server: OpenAIServer,
) -> None:
    server.push(stalling())
    backend = OpenAIBackend("remote", server.base_url, "m", idle_timeout=0.2)
    error = failure(await run(backend))
    assert error.kind is ErrorKind.TIMEOUT
    assert error.message == "no data from remote for 0.2 s: the stream stalled"
    assert error.backend == "remote"


async def test_a_stalled_reply_keeps_the_text_that_arrived(server: OpenAIServer) -> None:
    server.push(stalling())
    events = await run(OpenAIBackend("remote", server.base_url, "m", idle_timeout=0.2))
    assert text(events) == "one two"


async def test_the_idle_timeout_does_not_apply_before_the_first_token(
    server: OpenAIServer,
) -> None:
    # A long prefill is the first-token deadline's business, not a stall.
    server.push(Script(reply="slow start", first_delay=0.4))
    backend = OpenAIBackend(
        "local", server.base_url, "m", idle_timeout=0.1, read_timeout=5, first_token_timeout=5
    )
    events = await run(backend)
    assert isinstance(events[-1], Finished)
    assert text(events) == "slow start"


async def test_a_slow_but_steady_stream_is_not_stalled(server: OpenAIServer) -> None:
    server.push(Script(reply="a b c d e", rate=20))  # a chunk every 50 ms
    events = await run(OpenAIBackend("remote", server.base_url, "m", idle_timeout=0.3))
    assert isinstance(events[-1], Finished)
    assert text(events) == "a b c d e"


async def test_a_stall_is_not_retried_nor_sent_to_a_fallback(server: OpenAIServer) -> None:
    with OpenAIServer() as other:
        server.push(stalling(), Script(reply="again"))
        other.push(Script(reply="from the fallback"))
        backup = Gateway(OpenAIBackend("backup", other.base_url, "m"))
        gateway = Gateway(
            OpenAIBackend("remote", server.base_url, "m", idle_timeout=0.2), fallbacks=(backup,)
        )
        events = await run(gateway)
        assert other.chat_requests == []
    assert text(events) == "one two"
    assert "stalled" in failure(events).message
    assert not any(isinstance(event, FellBack) for event in events)
    assert len(server.chat_requests) == 1


async def test_a_backends_configured_idle_timeout_applies_to_its_stream(
    server: OpenAIServer,
) -> None:
    config, _ = parse_config(
        f'[timeouts]\nidle = 60\n[backends.lab]\nbase_url = "{server.base_url}"\nmodel = "m"\n'
        "timeouts = { idle = 0.25 }\n"
    )
    resolved = resolve_backend(config, {}, CliOverrides(backend="lab")).backend
    assert resolved is not None
    backend = make_backend(resolved, config)
    assert isinstance(backend, OpenAIBackend)
    server.push(stalling())
    error = failure(await run(backend))
    assert error.message == "no data from lab for 0.25 s: the stream stalled"


async def test_an_anthropic_stream_that_stalls_ends_the_same_way() -> None:
    with AnthropicServer() as server:
        server.push(Turn(reply="one two three", fault=anthropic_server.Fault.STALL, fault_after=2))
        backend = AnthropicBackend("claude", server.base_url, "claude-x", idle_timeout=0.2)
        events = await run(backend)
    assert failure(events).message == "no data from claude for 0.2 s: the stream stalled"
    assert text(events) == "one two"
