"""The Anthropic Messages backend against a loopback server that speaks the protocol.

No mocking: each test scripts the real test server (`tests/support/anthropic_server.py`),
streams over a real socket, and checks the events and what the server received.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.backends.base import BackendError
from llmchat.config import Config, parse_config, resolve_backend
from llmchat.config.resolve import ResolvedBackend
from llmchat.core.conversation import Conversation
from llmchat.core.events import (
    Delta,
    DialsFitted,
    ErrorKind,
    Failed,
    Finished,
    Reasoning,
    RequestSent,
    Retrying,
    Started,
    StreamEvent,
    UsageReport,
)
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.structured import OutputSchema
from llmchat.engine.context_meter import ContextMeter
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from llmchat.launch import make_backend as make_launch_backend
from llmchat.paths import AppPaths
from llmchat.store import list_sessions, load_session
from tests.support.anthropic_server import (
    DEFAULT_REPLY,
    AnthropicServer,
    Fault,
    Turn,
    count_tokens,
)
from tests.support.replies import split_tokens

E = TypeVar("E")

KEY = "sk-ant-test-0123456789abcdef"
HINT = "environment variable ANTHROPIC_API_KEY"
REQUEST = ChatRequest(
    messages=(
        WireMessage("system", "Be brief."),
        WireMessage("user", "Hello?"),
        WireMessage("assistant", "Hi."),
        WireMessage("user", "How are you?"),
    ),
    params=SamplingParams(temperature=0.2, top_p=1.0, max_tokens=4096),
)


@pytest.fixture
def server() -> Iterator[AnthropicServer]:
    with AnthropicServer(api_key=KEY) as server:
        yield server


def make_backend(server: AnthropicServer, **options: Any) -> AnthropicBackend:
    settings: dict[str, Any] = {"api_key": KEY, "api_key_hint": HINT}
    settings.update(options)
    return AnthropicBackend("claude", server.base_url, "claude-test", **settings)


@pytest.fixture
async def backend(server: AnthropicServer) -> AsyncIterator[AnthropicBackend]:
    backend = make_backend(server)
    yield backend
    await backend.aclose()


async def run(backend: Any, request: ChatRequest = REQUEST) -> list[StreamEvent]:
    return [event async for event in backend.stream(request)]


def text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))


def only(kind: type[E], events: list[StreamEvent]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def ending(events: list[StreamEvent]) -> Finished | Failed:
    assert len(only(Finished, events)) + len(only(Failed, events)) == 1, events
    last = events[-1]
    assert isinstance(last, Finished | Failed)
    return last


# -- the request ---------------------------------------------------------------------


async def test_the_request_goes_to_messages_with_the_key_and_version_headers(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    await run(backend)
    sent = server.message_requests[0]
    assert sent.route == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers


async def test_the_system_prompt_is_top_level_and_max_tokens_always_sent(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    await run(backend)
    body = server.message_requests[0].body
    assert body["system"][0]["text"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 4096
    assert body["stream"] is True
    assert body["temperature"] == 0.2
    assert "top_p" not in body  # 1.0 is the same as leaving it out; recent models refuse both


async def test_messages_are_content_blocks(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    await run(backend)
    first = server.message_requests[0].body["messages"][0]
    assert first["content"] == [{"type": "text", "text": "Hello?"}]


async def test_prompt_caching_marks_the_system_prompt_and_the_last_user_turn(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    await run(backend)
    body = server.message_requests[0].body
    ephemeral = {"type": "ephemeral"}
    assert body["system"][0]["cache_control"] == ephemeral
    marked = [m for m in body["messages"] if "cache_control" in m["content"][0]]
    assert marked == [body["messages"][-1]]
    assert marked[0]["content"][0]["cache_control"] == ephemeral


async def test_prompt_caching_can_be_turned_off(server: AnthropicServer) -> None:
    backend = make_backend(server, prompt_caching=False)
    await run(backend)
    await backend.aclose()
    assert "cache_control" not in server.message_requests[0].raw.decode()


async def test_temperature_above_one_is_clamped_and_a_moved_top_p_is_sent(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    request = ChatRequest(REQUEST.messages, SamplingParams(temperature=1.5, top_p=0.8))
    await run(backend, request)
    body = server.message_requests[0].body
    assert body["temperature"] == 1.0
    assert body["top_p"] == 0.8


async def test_the_request_sent_is_reported_byte_for_byte(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    events = await run(backend)
    sent = only(RequestSent, events)
    assert len(sent) == 1
    assert sent[0].url.endswith("/v1/messages")
    assert sent[0].body.encode() == server.message_requests[0].raw
    assert KEY not in sent[0].body


async def test_an_empty_turn_is_left_out_of_the_request(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    messages = (WireMessage("user", "Hi"), WireMessage("assistant", ""), WireMessage("user", "?"))
    await run(backend, ChatRequest(messages, SamplingParams()))
    sent = server.message_requests[0].body["messages"]
    assert [m["content"][0]["text"] for m in sent] == ["Hi", "?"]


async def test_schema_mode_is_refused_plainly_before_anything_is_sent(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    schema = OutputSchema("answer", {"type": "object"})
    events = await run(backend, ChatRequest(REQUEST.messages, REQUEST.params, schema=schema))
    failed = ending(events)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.BAD_REQUEST
    assert "schema mode" in failed.error.message
    assert server.message_requests == []


# -- the stream ----------------------------------------------------------------------


async def test_text_deltas_stream_and_end_turn_finishes_as_stop(
    backend: AnthropicBackend,
) -> None:
    events = await run(backend)
    assert isinstance(events[1], Started)
    assert text(events) == "Hello from the Anthropic test server."
    assert ending(events) == Finished("stop")


@pytest.mark.family("streams")
async def test_thinking_deltas_arrive_as_reasoning(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    server.push(Turn(thinking="Let me think about it.", reply="Fine."))
    events = await run(backend)
    assert "".join(e.text for e in only(Reasoning, events)) == "Let me think about it."
    assert text(events) == "Fine."
    first_reasoning = next(i for i, e in enumerate(events) if isinstance(e, Reasoning))
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, Delta))
    assert first_reasoning < first_delta
    assert ending(events) == Finished("stop")


@pytest.mark.family("streams")
async def test_pings_are_ignored(server: AnthropicServer, backend: AnthropicBackend) -> None:
    server.push(Turn(pings=True, thinking="Hm."))
    events = await run(backend)
    assert text(events) == "Hello from the Anthropic test server."
    assert ending(events) == Finished("stop")


async def test_max_tokens_stop_reason_is_a_truncated_reply(
    backend: AnthropicBackend,
) -> None:
    request = ChatRequest(REQUEST.messages, SamplingParams(max_tokens=3))
    events = await run(backend, request)
    assert ending(events) == Finished("length")


@pytest.mark.family("streams")
async def test_usage_is_cumulative_and_the_last_value_wins(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    server.push(Turn(usage_updates=3, input_tokens=20))
    events = await run(backend)
    usage = only(UsageReport, events)
    assert len(usage) == 1
    assert usage[0].completion_tokens == len(split_tokens(DEFAULT_REPLY))
    assert usage[0].prompt_tokens == 20


async def test_usage_carries_cache_reads_and_writes_in_a_total_prompt(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    server.push(
        Turn(input_tokens=1000, cache_read_input_tokens=10_000, cache_creation_input_tokens=2000)
    )
    events = await run(backend)
    (usage,) = only(UsageReport, events)
    assert usage.prompt_tokens == 13_000
    assert usage.cached_tokens == 10_000
    assert usage.cache_write_tokens == 2000


@pytest.mark.family("streams")
async def test_an_overloaded_error_event_at_http_200_keeps_the_partial_text(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    server.push(Turn(fault=Fault.ERROR_EVENT, fault_after=3))
    events = await run(backend)
    failed = ending(events)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.SERVER
    assert failed.error.backend == "claude"
    assert "overloaded" in failed.error.message
    assert text(events) == "Hello from the"
    assert "claude: " in failed.error.one_line()


@pytest.mark.family("streams")
async def test_another_error_event_is_a_stream_error_naming_its_type(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    server.push(Turn(fault=Fault.ERROR_EVENT, error_type="invalid_request_error", fault_after=1))
    failed = ending(await run(backend))
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.STREAM
    assert "invalid_request_error" in failed.error.message


@pytest.mark.family("streams")
async def test_a_stream_that_ends_without_message_stop_is_incomplete(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    server.push(Turn(fault=Fault.END, fault_after=2))
    failed = ending(await run(backend))
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.INCOMPLETE


@pytest.mark.family("streams")
async def test_a_dropped_connection_is_incomplete_with_the_text_kept(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    server.push(Turn(fault=Fault.DROP, fault_after=2))
    events = await run(backend)
    failed = ending(events)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.INCOMPLETE
    assert text(events) == "Hello from"


# -- HTTP errors ---------------------------------------------------------------------


@pytest.mark.family("retries")
async def test_overloaded_529_with_retry_after_is_retried_by_the_gateway(
    server: AnthropicServer,
) -> None:
    server.push(Turn.http_error(529, "overloaded_error", "Overloaded", retry_after=0.01))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    gateway = Gateway(make_backend(server), RetryPolicy(), sleep=sleep)
    events = [event async for event in gateway.stream(REQUEST)]
    await gateway.aclose()
    (retry,) = only(Retrying, events)
    assert "529" in retry.reason and "Overloaded" in retry.reason
    assert waits == [0.01]
    assert text(events) == "Hello from the Anthropic test server."
    assert ending(events) == Finished("stop")


@pytest.mark.family("retries")
async def test_an_overloaded_error_event_before_any_text_is_retried(
    server: AnthropicServer,
) -> None:
    server.push(Turn(fault=Fault.ERROR_EVENT, fault_after=0))

    async def sleep(seconds: float) -> None:
        pass

    gateway = Gateway(make_backend(server), RetryPolicy(), sleep=sleep)
    events = [event async for event in gateway.stream(REQUEST)]
    await gateway.aclose()
    assert len(only(Retrying, events)) == 1
    assert ending(events) == Finished("stop")


@pytest.mark.family("retries")
async def test_rate_limit_429_carries_retry_after(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    server.push(Turn.http_error(429, "rate_limit_error", "Number of requests", retry_after=7))
    failed = ending(await run(backend))
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.RATE_LIMIT
    assert failed.error.retry_after_s == 7


@pytest.mark.family("retries")
@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, "invalid_request_error", ErrorKind.BAD_REQUEST),
        (403, "permission_error", ErrorKind.AUTH),
        (404, "not_found_error", ErrorKind.NOT_FOUND),
        (413, "request_too_large", ErrorKind.BAD_REQUEST),
        (500, "api_error", ErrorKind.SERVER),
    ],
)
async def test_http_errors_map_to_their_kinds(
    server: AnthropicServer,
    backend: AnthropicBackend,
    status: int,
    error_type: str,
    kind: ErrorKind,
) -> None:
    server.push(Turn.http_error(status, error_type, "the server says no"))
    failed = ending(await run(backend))
    assert isinstance(failed, Failed)
    assert failed.error.kind is kind
    assert failed.error.status == status
    assert "the server says no" in failed.error.message
    assert failed.error.retryable is (kind is ErrorKind.SERVER)


async def test_a_prompt_too_long_is_a_context_overflow_with_its_numbers(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    prose = "prompt is too long: 201234 tokens > 200000 maximum"
    server.push(Turn.http_error(400, "invalid_request_error", prose))
    failed = ending(await run(backend))
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.CONTEXT_OVERFLOW
    assert (failed.error.prompt_tokens, failed.error.context_window) == (201234, 200000)


@pytest.mark.family("secrets")
async def test_a_401_names_the_key_to_check_and_never_shows_it(
    server: AnthropicServer,
) -> None:
    wrong = "sk-ant-wrong-key-9876543210"
    backend = make_backend(server, api_key=wrong)
    events = await run(backend)
    await backend.aclose()
    failed = ending(events)
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.AUTH
    assert failed.error.status == 401
    assert "ANTHROPIC_API_KEY" in failed.error.message
    assert wrong not in repr(events)
    assert wrong not in repr(backend)


@pytest.mark.family("secrets")
async def test_a_key_echoed_by_the_server_is_masked(server: AnthropicServer) -> None:
    backend = make_backend(server)
    server.push(Turn.http_error(400, "invalid_request_error", f"bad header x-api-key: {KEY}"))
    events = await run(backend)
    await backend.aclose()
    failed = ending(events)
    assert isinstance(failed, Failed)
    assert KEY not in failed.error.message
    assert KEY not in repr(events)


# -- counting ------------------------------------------------------------------------


async def test_prompts_are_counted_exactly_by_count_tokens(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    assert backend.capabilities.counts_exactly
    counted = await backend.count_prompt(REQUEST.messages)
    (sent,) = server.count_requests
    assert sent.headers["x-api-key"] == KEY
    assert sent.body["model"] == "claude-test"
    assert "cache_control" not in sent.raw.decode()
    assert counted.exact
    assert counted.tokens == count_tokens(sent.body) == 2 + (3 + 1) + (3 + 1) + (3 + 3)


async def test_a_draft_is_counted_once_per_text(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    assert await backend.count_text("three little words") == 3 + 3
    assert await backend.count_text("three little words") == 6
    assert len(server.count_requests) == 1


async def test_counting_offline_raises_so_the_gauge_estimates() -> None:
    backend = AnthropicBackend("claude", "http://127.0.0.1:9/v1", "claude-test", KEY)
    with pytest.raises(BackendError) as raised:
        await backend.count_prompt(REQUEST.messages)
    await backend.aclose()
    assert raised.value.error.kind is ErrorKind.CONNECT
    assert KEY not in str(raised.value)


async def test_models_are_listed(backend: AnthropicBackend) -> None:
    assert await backend.list_models() == ["claude-test"]


# -- configuration -------------------------------------------------------------------


def resolved_from(text: str, env: dict[str, str]) -> ResolvedBackend:
    resolution = resolve_backend(parse_config(text)[0], env)
    assert resolution.backend is not None
    return resolution.backend


def test_kind_anthropic_defaults_to_anthropics_api_a_claude_and_its_key_variable() -> None:
    resolved = resolved_from('[backends.claude]\nkind = "anthropic"\n', {"ANTHROPIC_API_KEY": KEY})
    assert resolved.kind == "anthropic"
    assert resolved.base_url == "https://api.anthropic.com/v1"
    assert resolved.model == "claude-sonnet-4-5"
    assert resolved.api_key is not None and resolved.api_key.reveal() == KEY
    assert resolved.key_source == HINT


@pytest.mark.family("secrets")
def test_anthropic_api_key_is_never_sent_to_another_host() -> None:
    text = '[backends.claude]\nkind = "anthropic"\nbase_url = "https://proxy.example/v1"\n'
    resolved = resolved_from(text, {"ANTHROPIC_API_KEY": KEY})
    assert resolved.api_key is None


def test_without_a_key_anthropics_host_gets_a_notice_naming_the_variable() -> None:
    resolution = resolve_backend(parse_config('[backends.c]\nkind = "anthropic"\n')[0], {})
    assert any("ANTHROPIC_API_KEY" in notice for notice in resolution.notices)


def test_launch_builds_the_anthropic_backend_for_the_kind() -> None:
    resolved = resolved_from('[backends.claude]\nkind = "anthropic"\n', {"ANTHROPIC_API_KEY": KEY})
    backend = make_launch_backend(resolved, Config())
    assert isinstance(backend, AnthropicBackend)
    assert backend.api_key_hint == HINT
    assert KEY not in repr(backend)


# -- the context gauge ---------------------------------------------------------------


async def meter_for(server: AnthropicServer) -> ContextMeter:
    conversation = Conversation()
    conversation.set_system("Be brief.")
    conversation.add_user("Hello there?")
    meter = ContextMeter(conversation, Gateway(make_backend(server)), "claude-test")
    await meter.prepare()
    return meter


async def test_the_gauge_counts_the_history_exactly_with_count_tokens(
    server: AnthropicServer,
) -> None:
    meter = await meter_for(server)
    budget = await meter.measure("")
    await meter.gateway.aclose()
    assert budget.exact
    assert budget.history == 2 + (3 + 2)  # the test server's rule (count_tokens)
    assert len(server.count_requests) == 1


async def test_the_gauge_estimates_and_says_so_when_the_server_cannot_count(
    server: AnthropicServer,
) -> None:
    meter = await meter_for(server)
    server.stop()
    budget = await meter.measure("a draft")
    await meter.gateway.aclose()
    assert not budget.exact
    assert budget.history > 0


# -- the command, end to end ---------------------------------------------------------


def test_print_mode_answers_through_an_anthropic_backend_and_keeps_the_cache_usage(
    server: AnthropicServer, tmp_path: Path
) -> None:
    server.push(Turn(reply="Forty-two.", input_tokens=5, cache_read_input_tokens=900, pings=True))
    config = tmp_path / "config.toml"
    config.write_text(
        "[backends.claude]\n"
        'kind = "anthropic"\n'
        f'base_url = "{server.base_url}"\n'
        'model = "claude-test"\n'
        'api_key_env = "TEST_ANTHROPIC_KEY"\n'
    )
    config.chmod(0o600)
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_", "ANTHR"))
    }
    environment.update(
        LLMCHAT_HOME=str(tmp_path), LLMCHAT_CONFIG=str(config), TEST_ANTHROPIC_KEY=KEY
    )
    result = subprocess.run(
        [sys.executable, "-m", "llmchat", "-p", "the answer?"],
        input="",
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Forty-two.\n"
    assert server.message_requests[0].headers["x-api-key"] == KEY
    [summary] = list_sessions(AppPaths.from_env({"LLMCHAT_HOME": str(tmp_path)}).sessions_dir)
    reply = load_session(summary.path).messages[-1]
    assert reply.usage is not None
    assert (reply.usage.prompt, reply.usage.cached) == (905, 900)
    assert KEY not in summary.path.read_text()


async def test_a_model_refusing_both_dials_is_answered_after_one_visible_adjustment(
    server: AnthropicServer, backend: AnthropicBackend
) -> None:
    refusal = (
        "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
    )
    server.push(Turn.http_error(400, "invalid_request_error", refusal), Turn(reply="Fine."))
    request = ChatRequest(REQUEST.messages, SamplingParams(temperature=0.2, top_p=0.8))
    events = await run(backend, request)
    assert ending(events) == Finished("stop")
    assert [e.learnt for e in only(DialsFitted, events)] == [True]
    first, second = (r.body for r in server.message_requests)
    assert "temperature" in first and "top_p" in first
    assert ("temperature" in second) != ("top_p" in second)
