"""The OpenAI-compatible backend against our loopback server: every event path and fault.

No mocking: each test scripts the real test server, streams over a real socket, and
checks the events (and, where it matters, what the server received).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest

from llmchat.backends.base import BackendError
from llmchat.backends.errors import parse_retry_after
from llmchat.backends.openai import OpenAIBackend
from llmchat.core.events import (
    ChatError,
    Delta,
    ErrorKind,
    Failed,
    Finished,
    Reasoning,
    RequestSent,
    ServerTimings,
    Started,
    StreamEvent,
    UsageReport,
)
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from tests.support.openai_server import CAPTIVE_PORTAL, Fault, OpenAIServer, Script

E = TypeVar("E")

KEY = "sk-test-0123456789abcdef"
REQUEST = ChatRequest(
    messages=(WireMessage("system", "Be brief."), WireMessage("user", "Hello?")),
    params=SamplingParams(temperature=0.2, top_p=0.9, max_tokens=4096),
)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def make_backend(server: OpenAIServer, **options: object) -> OpenAIBackend:
    settings: dict[str, object] = {"api_key": KEY, "api_key_hint": "TEST_API_KEY"}
    settings.update(options)
    return OpenAIBackend("local", server.base_url, "test-model", **settings)  # type: ignore[arg-type]


@pytest.fixture
async def backend(server: OpenAIServer) -> AsyncIterator[OpenAIBackend]:
    backend = make_backend(server)
    yield backend
    await backend.aclose()


async def run(backend: OpenAIBackend, request: ChatRequest = REQUEST) -> list[StreamEvent]:
    return [event async for event in backend.stream(request)]


def text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))


def only(kind: type[E], events: list[StreamEvent]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def ending(events: list[StreamEvent]) -> Finished | Failed:
    """The final event, checking it is the only Finished/Failed in the stream."""
    assert len(only(Finished, events)) + len(only(Failed, events)) == 1, events
    assert isinstance(events[-1], Finished | Failed)
    return events[-1]


def failure(events: list[StreamEvent]) -> ChatError:
    end = ending(events)
    assert isinstance(end, Failed), events
    assert end.error.backend == "local"
    return end.error


# -- a well-behaved stream --------------------------------------------------------------


async def test_reply_arrives_as_deltas_whose_text_is_the_reply(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="Hi there, this is a reply with ünïcode 🙂."))
    assert text(await run(backend)) == "Hi there, this is a reply with ünïcode 🙂."


async def test_started_comes_first_after_the_request_naming_backend_and_model(
    backend: OpenAIBackend,
) -> None:
    events = await run(backend)
    assert isinstance(events[0], RequestSent)
    assert events[1] == Started(backend="local", model="test-model")
    assert len(only(Started, events)) == 1


async def test_finished_comes_last_with_the_servers_finish_reason(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(finish_reason="length"))
    assert ending(await run(backend)) == Finished("length")


async def test_null_first_content_gives_no_empty_delta(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="Hi", null_first_content=True))
    assert only(Delta, await run(backend)) == [Delta("Hi")]


async def test_reasoning_content_arrives_as_reasoning_events(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reasoning="Let me think.", reply="42"))
    events = await run(backend)
    assert "".join(e.text for e in only(Reasoning, events)) == "Let me think."
    assert text(events) == "42"


async def test_chunks_of_several_tokens_give_the_same_text(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.generated(50, tokens_per_chunk=7))
    script = Script.generated(50)
    assert text(await run(backend)) == script.reply


async def test_markdown_reply_arrives_byte_identical(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    script = Script.generated(300, markdown=True)
    server.push(script)
    assert text(await run(backend)) == script.reply


@pytest.mark.parametrize(
    "framing",
    [
        {"crlf": True},
        {"comments": True},
        {"byte_writes": True},
        {"done_blank_line": False},
        {"crlf": True, "comments": True, "byte_writes": True},
    ],
    ids=["crlf", "comments", "one-byte-writes", "done-without-blank-line", "all"],
)
async def test_framing_variants_give_the_same_reply(
    server: OpenAIServer, backend: OpenAIBackend, framing: dict[str, Any]
) -> None:
    server.push(Script(reply="Grüße, 世界! One two three.", **framing))
    events = await run(backend)
    assert text(events) == "Grüße, 世界! One two three."
    assert ending(events) == Finished("stop")


async def test_done_without_finish_reason_is_complete(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(finish_reason=None))
    assert isinstance(ending(await run(backend)), Finished)


async def test_finish_reason_without_done_is_complete(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(done=False))
    assert ending(await run(backend)) == Finished("stop")


# -- usage and timings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "placement",
    [
        {"usage": "final"},
        {"usage": "final", "usage_choices": "null"},
        {"usage": "final", "usage_choices": "missing"},
        {"usage": "finish"},
        {"usage": "every"},
    ],
    ids=["choices-empty", "choices-null", "choices-missing", "on-finish-chunk", "on-every-chunk"],
)
async def test_usage_is_reported_once_wherever_the_server_puts_it(
    server: OpenAIServer, backend: OpenAIBackend, placement: dict[str, Any]
) -> None:
    server.push(Script(reply="one two three", prompt_tokens=40, cached_tokens=32, **placement))
    events = await run(backend)
    assert only(UsageReport, events) == [UsageReport(40, 3, cached_tokens=32)]


async def test_usage_comes_before_finished(server: OpenAIServer, backend: OpenAIBackend) -> None:
    events = await run(backend)
    assert isinstance(events[-2], UsageReport)
    assert isinstance(events[-1], Finished)


async def test_no_usage_from_the_server_means_no_usage_event(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(usage="none"))
    events = await run(backend)
    assert only(UsageReport, events) == []
    assert isinstance(ending(events), Finished)


async def test_llama_timings_become_server_timings(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="a b c d", timings=True, prompt_tokens=10, cached_tokens=4))
    timings = only(ServerTimings, await run(backend))
    assert timings == [
        ServerTimings(prompt_n=6, prompt_ms=12.5, predicted_n=4, predicted_ms=250.0, cache_n=4)
    ]


async def test_timings_without_cache_n_from_old_builds_leave_it_unknown(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(timings=True, timings_cache_n=False))
    (timings,) = only(ServerTimings, await run(backend))
    assert timings.cache_n is None
    assert timings.prompt_n is not None


# -- the request ------------------------------------------------------------------------


async def test_request_carries_exactly_the_chosen_params(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    await run(backend)
    body = server.chat_requests[0].body
    assert body == {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello?"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 4096,
    }


async def test_seed_is_sent_when_set(server: OpenAIServer, backend: OpenAIBackend) -> None:
    request = ChatRequest(REQUEST.messages, SamplingParams(seed=1234))
    await run(backend, request)
    assert server.chat_requests[0].body["seed"] == 1234


async def test_max_completion_tokens_replaces_max_tokens_when_configured(
    server: OpenAIServer,
) -> None:
    backend = make_backend(server, max_tokens_field="max_completion_tokens")
    await run(backend)
    await backend.aclose()
    body = server.chat_requests[0].body
    assert body["max_completion_tokens"] == 4096
    assert "max_tokens" not in body


async def test_configured_stop_strings_are_sent_and_are_the_body_the_user_sees(
    server: OpenAIServer,
) -> None:
    backend = make_backend(server, stop=("\nUser:",))
    await run(backend)
    await backend.aclose()
    body = server.chat_requests[0].body
    assert body["stop"] == ["\nUser:"]
    assert body == backend.request_body(REQUEST)


async def test_extra_body_is_sent_but_cannot_override_the_params(server: OpenAIServer) -> None:
    extra = {"top_k": 40, "cache_prompt": True, "temperature": 1.5, "max_tokens": 9}
    backend = make_backend(server, extra_body=extra)
    await run(backend)
    await backend.aclose()
    body = server.chat_requests[0].body
    assert (body["top_k"], body["cache_prompt"]) == (40, True)
    assert (body["temperature"], body["max_tokens"]) == (0.2, 4096)


async def test_a_model_named_in_the_request_wins(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    request = ChatRequest(REQUEST.messages, REQUEST.params, model="other-model")
    events = await run(backend, request)
    assert server.chat_requests[0].body["model"] == "other-model"
    assert only(Started, events) == [Started(backend="local", model="other-model")]


async def test_the_key_is_sent_as_a_bearer_token(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    await run(backend)
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_no_key_means_no_authorization_header(server: OpenAIServer) -> None:
    backend = make_backend(server, api_key=None)
    await run(backend)
    await backend.aclose()
    assert "authorization" not in server.chat_requests[0].headers


# -- HTTP errors before the stream --------------------------------------------------------


async def test_401_is_an_auth_error_naming_the_key_to_check(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.http_error(401, "Incorrect API key provided", code="invalid_api_key"))
    error = failure(await run(backend))
    assert (error.kind, error.status) == (ErrorKind.AUTH, 401)
    assert "TEST_API_KEY" in error.message


async def test_auth_error_never_contains_the_key_even_if_the_server_echoes_it(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.http_error(401, f"Incorrect API key provided: {KEY}"))
    error = failure(await run(backend))
    assert KEY not in error.one_line()
    assert KEY not in repr(error)
    assert KEY not in repr(backend)


async def test_401_without_a_key_says_to_set_one(server: OpenAIServer) -> None:
    backend = make_backend(server, api_key=None)
    server.push(Script.http_error(401, "Missing bearer"))
    error = failure(await run(backend))
    await backend.aclose()
    assert "no API key was sent; set TEST_API_KEY" in error.message


async def test_403_is_an_auth_error(server: OpenAIServer, backend: OpenAIBackend) -> None:
    server.push(Script.http_error(403, "Project does not have access to model"))
    assert failure(await run(backend)).kind is ErrorKind.AUTH


async def test_404_is_not_found_naming_the_url(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.http_error(404, "The model `nope` does not exist", code="model_not_found"))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.NOT_FOUND
    assert f"{server.base_url}/chat/completions" in error.message


@pytest.mark.parametrize("status", [408, 409, 429])
async def test_throttling_statuses_are_rate_limits(
    server: OpenAIServer, backend: OpenAIBackend, status: int
) -> None:
    server.push(Script.http_error(status, "Rate limit reached", code="rate_limit_exceeded"))
    error = failure(await run(backend))
    assert (error.kind, error.status) == (ErrorKind.RATE_LIMIT, status)
    assert error.retryable


async def test_429_insufficient_quota_is_quota_and_not_retryable(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.http_error(429, "You exceeded your quota", code="insufficient_quota"))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.QUOTA
    assert not error.retryable


async def test_retry_after_seconds_header_is_parsed(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.http_error(429, "slow down", headers={"Retry-After": "7"}))
    assert failure(await run(backend)).retry_after_s == 7.0


async def test_retry_after_ms_is_read_before_retry_after(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    headers = {"retry-after-ms": "1500", "retry-after": "30"}
    server.push(Script.http_error(429, "slow down", headers=headers))
    assert failure(await run(backend)).retry_after_s == 1.5


def test_retry_after_http_date_is_seconds_from_now() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    headers = {"Retry-After": "Thu, 01 Jan 2026 12:00:42 GMT"}
    assert parse_retry_after(headers, now=now) == 42.0


def test_retry_after_date_in_the_past_is_zero() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "Wed, 31 Dec 2025 00:00:00 GMT"}, now=now) == 0.0


@pytest.mark.parametrize("value", ["soon", "-3", "", "nan"])
def test_unparsable_retry_after_is_ignored(value: str) -> None:
    assert parse_retry_after({"retry-after": value}) is None


async def test_openai_context_overflow_carries_its_numbers(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    message = (
        "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9000 tokens. Please reduce the length of the messages."
    )
    server.push(Script.http_error(400, message, code="context_length_exceeded"))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.CONTEXT_OVERFLOW
    assert (error.prompt_tokens, error.context_window) == (9000, 8192)
    assert "9000" in error.message and "8192" in error.message


async def test_llama_context_overflow_carries_its_numbers(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(
        Script.http_error(
            400,
            "the request exceeds the available context size, try increasing it",
            type="exceed_context_size_error",
            code=400,
            n_prompt_tokens=5000,
            n_ctx=4096,
        )
    )
    error = failure(await run(backend))
    assert error.kind is ErrorKind.CONTEXT_OVERFLOW
    assert (error.prompt_tokens, error.context_window) == (5000, 4096)


@pytest.mark.parametrize("status", [400, 422])
async def test_other_client_errors_are_bad_requests_quoting_the_server(
    server: OpenAIServer, backend: OpenAIBackend, status: int
) -> None:
    server.push(Script.http_error(status, "temperature must be <= 2", code="invalid_value"))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.BAD_REQUEST
    assert "temperature must be <= 2" in error.message
    assert len(server.chat_requests) == 1


async def test_503_loading_model_is_loading(server: OpenAIServer, backend: OpenAIBackend) -> None:
    server.push(Script.http_error(503, "Loading model", type="unavailable_error", code=503))
    assert failure(await run(backend)).kind is ErrorKind.LOADING


@pytest.mark.parametrize("status", [500, 502, 503, 529])
async def test_server_errors_are_retryable_server_errors(
    server: OpenAIServer, backend: OpenAIBackend, status: int
) -> None:
    server.push(Script.http_error(status, "Overloaded"))
    error = failure(await run(backend))
    assert (error.kind, error.status) == (ErrorKind.SERVER, status)
    assert error.retryable


async def test_html_error_page_gives_a_short_sanitised_excerpt(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.html(status=502))
    error = failure(await run(backend))
    assert (error.kind, error.status) == (ErrorKind.SERVER, 502)
    assert "Hotel Wi-Fi" in error.message
    assert "\x1b" not in error.message and "<" not in error.message


async def test_huge_error_body_is_read_only_in_part(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(status=500, body="x" * (32 * 1024 * 1024)))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.SERVER
    assert len(error.message) < 300
    assert server.chat_requests[0].client_disconnected


async def test_redirect_is_a_protocol_error_naming_where_it_points(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(status=302, body="", headers={"Location": "http://portal.example/login"}))
    error = failure(await run(backend))
    assert (error.kind, error.status) == (ErrorKind.PROTOCOL, 302)
    assert "http://portal.example/login" in error.message
    assert len(server.chat_requests) == 1


# -- not a stream -----------------------------------------------------------------------


async def test_captive_portal_at_200_is_a_protocol_error_with_an_excerpt(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script.html(status=200))
    error = failure(await run(backend))
    assert (error.kind, error.status) == (ErrorKind.PROTOCOL, 200)
    assert "text/html" in error.message and "Hotel Wi-Fi" in error.message
    assert "\x1b" not in error.message


async def test_html_labelled_as_an_event_stream_is_a_protocol_error(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(body=CAPTIVE_PORTAL, content_type="text/event-stream"))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.PROTOCOL
    assert "not an event stream" in error.message and "Hotel Wi-Fi" in error.message


async def test_json_error_at_200_is_classified_by_its_code(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(body={"error": {"code": 429, "message": "busy"}}))
    assert failure(await run(backend)).kind is ErrorKind.RATE_LIMIT


async def test_wrong_content_type_is_a_protocol_error(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(content_type="application/json"))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.PROTOCOL
    assert "application/json" in error.message


# -- faults mid-stream ------------------------------------------------------------------


async def test_error_event_mid_stream_fails_with_stream_error_keeping_the_text(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="one two three", fault=Fault.ERROR_EVENT, fault_after=2))
    events = await run(backend)
    error = failure(events)
    assert error.kind is ErrorKind.STREAM
    assert "the model crashed" in error.message
    assert error.one_line().startswith("local: ")
    assert text(events) == "one two"


async def test_old_llama_error_line_fails_with_stream_error(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="one two three", fault=Fault.LLAMA_ERROR_LINE, fault_after=1))
    events = await run(backend)
    assert failure(events).kind is ErrorKind.STREAM
    assert text(events) == "one"


async def test_clean_end_without_finish_or_done_is_incomplete(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="one two three", fault=Fault.END, fault_after=2))
    events = await run(backend)
    assert failure(events).kind is ErrorKind.INCOMPLETE
    assert text(events) == "one two"


async def test_dropped_connection_mid_reply_is_incomplete(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="one two three", fault=Fault.DROP, fault_after=2))
    events = await run(backend)
    assert failure(events).kind is ErrorKind.INCOMPLETE
    assert text(events) == "one two"


async def test_stall_after_some_tokens_is_a_timeout_keeping_the_text(server: OpenAIServer) -> None:
    backend = make_backend(server, read_timeout=0.5)
    server.push(Script(reply="one two three", fault=Fault.STALL, fault_after=2))
    events = await run(backend)
    await backend.aclose()
    error = failure(events)
    assert error.kind is ErrorKind.TIMEOUT
    assert "0.5 s" in error.message
    assert text(events) == "one two"


async def test_invalid_json_chunk_is_a_protocol_error_with_an_excerpt(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(fault=Fault.INVALID_JSON, fault_after=1))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.PROTOCOL
    assert "oops" in error.message


async def test_endless_line_is_a_protocol_error_and_the_connection_is_dropped(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(fault=Fault.ENDLESS_LINE, fault_after=1))
    error = failure(await run(backend))
    assert error.kind is ErrorKind.PROTOCOL
    assert "longer than" in error.message
    assert server.chat_requests[0].client_disconnected


# -- stream_options fallback --------------------------------------------------------------


async def test_rejected_stream_options_are_retried_once_without_them(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="fine", reject_stream_options=True))
    events = await run(backend)
    assert text(events) == "fine"
    assert isinstance(ending(events), Finished)
    first, second = server.chat_requests
    assert "stream_options" in first.body
    assert "stream_options" not in second.body
    assert only(Started, events) == [Started("local", "test-model")]


# -- connection faults --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_server_is_a_connect_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend("local", url, "m")
    events = await run(backend)
    await backend.aclose()
    error = failure(events)
    assert error.kind is ErrorKind.CONNECT
    assert url in error.message
    assert [event for event in events if not isinstance(event, RequestSent)] == [Failed(error)]


async def test_base_url_without_a_scheme_is_a_bad_request_not_a_crash() -> None:
    backend = OpenAIBackend("local", "localhost:8080/v1", "m")
    error = failure(await run(backend))
    await backend.aclose()
    assert error.kind is ErrorKind.BAD_REQUEST


# -- cancel -------------------------------------------------------------------------------


async def test_closing_the_stream_early_closes_the_connection(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="one two three", fault=Fault.STALL, fault_after=2))
    stream = backend.stream(REQUEST)
    async for event in stream:
        if isinstance(event, Delta):
            break
    await stream.aclose()
    assert server.chat_requests[0].client_disconnected


async def test_cancelling_the_consuming_task_closes_the_connection(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="one two three", fault=Fault.STALL, fault_after=2))
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for event in backend.stream(REQUEST):
            if isinstance(event, Delta):
                first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.chat_requests[0].client_disconnected


# -- the client ---------------------------------------------------------------------------


async def test_one_client_serves_every_request(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    client = backend.client
    await run(backend)
    await run(backend)
    assert backend.client is client
    assert len(server.chat_requests) == 2


async def test_aclose_closes_an_owned_client(backend: OpenAIBackend) -> None:
    client = backend.client
    await backend.aclose()
    assert client.is_closed


async def test_aclose_leaves_a_shared_client_open(server: OpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        backend = make_backend(server, client=client)
        assert text(await run(backend)) == Script().reply
        await backend.aclose()
        assert not client.is_closed


def test_an_unknown_max_tokens_field_is_refused() -> None:
    with pytest.raises(ValueError, match="max_tokens_field"):
        OpenAIBackend("x", "http://h/v1", "m", max_tokens_field="max_new_tokens")  # type: ignore[arg-type]


# -- models ---------------------------------------------------------------------------------


async def test_list_models_returns_the_names_sorted_and_exactly_as_listed() -> None:
    """Sent back and stored as listed; only a view neutralises them (`one_line`)."""
    with OpenAIServer(models=("b-model", "a-model", "evil\x1b[2Jmodel")) as server:
        backend = make_backend(server)
        names = await backend.list_models()
        await backend.aclose()
    assert names == ["a-model", "b-model", "evil\x1b[2Jmodel"]


async def test_list_models_failure_raises_backend_error(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    backend.base_url = backend.base_url + "/missing"
    with pytest.raises(BackendError) as caught:
        await backend.list_models()
    assert caught.value.error.kind is ErrorKind.NOT_FOUND


async def test_with_no_model_configured_the_servers_own_model_is_asked_for() -> None:
    with OpenAIServer(models=("served-model",)) as server:
        backend = OpenAIBackend("local", server.base_url, "default")
        try:
            events = [
                e
                async for e in backend.stream(
                    ChatRequest((WireMessage("user", "hi"),), SamplingParams())
                )
            ]
        finally:
            await backend.aclose()
    assert server.chat_requests[0].body["model"] == "served-model"
    assert any(isinstance(e, Started) and e.model == "served-model" for e in events)


async def test_a_reply_cut_at_max_tokens_finishes_with_length(server: OpenAIServer) -> None:
    server.push(Script.generated(50))
    backend = OpenAIBackend("test", server.base_url, "test-model")
    request = ChatRequest(REQUEST.messages, SamplingParams(max_tokens=5))
    try:
        events = [event async for event in backend.stream(request)]
    finally:
        await backend.aclose()
    assert events[-1] == Finished("length")
