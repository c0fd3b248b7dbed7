"""The gateway's retry policy, end to end: the real OpenAI backend against the loopback server.

The gateway's `sleep` is a fake that records each delay and returns at once, so backoff,
jitter and Retry-After are checked exactly and no test waits for real.
"""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TypeVar

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.core.events import (
    ChatError,
    Delta,
    ErrorKind,
    Failed,
    Finished,
    Loading,
    Reasoning,
    RequestSent,
    Retrying,
    Started,
    StreamEvent,
)
from llmchat.core.params import SamplingParams
from llmchat.core.request import SERVER_DEFAULT_MODEL, ChatRequest, WireMessage
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from tests.support.openai_server import Fault, OpenAIServer, Script

pytestmark = pytest.mark.family("retries")

E = TypeVar("E")

KEY = "sk-test-0123456789abcdef"
REQUEST = ChatRequest(
    messages=(WireMessage("user", "Hello?"),),
    params=SamplingParams(temperature=0.2, max_tokens=64),
)


class FakeSleep:
    """Records each requested delay (and, if given, logs it) instead of sleeping."""

    def __init__(self, log: list[object] | None = None) -> None:
        self.delays: list[float] = []
        self.log = log

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.log is not None:
            self.log.append(("sleep", seconds))


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def backend(server: OpenAIServer) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend(
        "local", server.base_url, "test-model", api_key=KEY, api_key_hint="TEST_API_KEY"
    )
    yield backend
    await backend.aclose()


def gateway_for(backend: OpenAIBackend, sleep: FakeSleep, **policy: object) -> Gateway:
    policy.setdefault("rng", random.Random(1234))
    return Gateway(backend, RetryPolicy(**policy), sleep=sleep)  # type: ignore[arg-type]


async def run(gateway: Gateway) -> list[StreamEvent]:
    return [event async for event in gateway.stream(REQUEST)]


def only(kind: type[E], events: list[StreamEvent]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


def text(events: list[StreamEvent]) -> str:
    return "".join(event.text for event in only(Delta, events))


def failure(events: list[StreamEvent]) -> ChatError:
    assert isinstance(events[-1], Failed), events
    assert len(only(Failed, events)) == 1
    return events[-1].error


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def nominal_backoff(policy: RetryPolicy, attempt: int) -> float:
    return min(policy.base_delay_s * 2 ** (attempt - 1), policy.max_delay_s)


# -- retried before the first token -------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 529], ids=lambda status: f"HTTP {status}")
async def test_transient_http_error_before_the_first_token_is_retried(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep, status: int
) -> None:
    server.push(Script.http_error(status, "try again"), Script(reply="Hi there!"))
    events = await run(gateway_for(backend, sleep))
    assert isinstance(events[-1], Finished)
    assert text(events) == "Hi there!"
    assert len(server.chat_requests) == 2
    assert len(sleep.delays) == 1


async def test_refused_connection_is_retried_until_the_limit_then_reported(
    sleep: FakeSleep,
) -> None:
    backend = OpenAIBackend("local", f"http://127.0.0.1:{closed_port()}/v1", "test-model")
    try:
        events = await run(gateway_for(backend, sleep, max_retries=3))
    finally:
        await backend.aclose()
    error = failure(events)
    assert error.kind is ErrorKind.CONNECT
    assert "cannot connect" in error.message
    assert len(only(Retrying, events)) == 3
    assert len(sleep.delays) == 3


async def test_timeout_before_the_first_token_is_retried(
    server: OpenAIServer, sleep: FakeSleep
) -> None:
    server.push(Script(fault=Fault.STALL, fault_after=0), Script(reply="late but here"))
    backend = OpenAIBackend("local", server.base_url, "test-model", read_timeout=0.2)
    try:
        events = await run(gateway_for(backend, sleep))
    finally:
        await backend.aclose()
    assert text(events) == "late but here"
    assert "no data from the server" in only(Retrying, events)[0].reason


async def test_loading_model_is_announced_then_retried(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(Script.http_error(503, "Loading model"), Script(reply="ready"))
    events = await run(gateway_for(backend, sleep))
    assert [type(event) for event in events[:3]] == [RequestSent, Loading, RequestSent]
    assert not any(isinstance(event, Retrying) for event in events)
    assert text(events) == "ready"


async def test_a_loading_server_is_waited_for_beyond_the_retry_limit(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(*[Script.http_error(503, "Loading model")] * 6, Script(reply="ready"))
    events = await run(gateway_for(backend, sleep, max_retries=1))
    assert sum(isinstance(event, Loading) for event in events) == 6
    assert text(events) == "ready"


async def test_waiting_for_a_loading_server_is_bounded(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.default = Script.http_error(503, "Loading model")
    gateway = gateway_for(backend, sleep, max_retries=0)
    gateway.policy = replace(gateway.policy, max_loading_s=3.0)
    events = await run(gateway)
    assert isinstance(events[-1], Failed)
    assert events[-1].error.kind is ErrorKind.LOADING
    assert 3.0 <= sum(sleep.delays) <= 3.0 + 2.0


# -- backoff --------------------------------------------------------------------------------


async def test_backoff_delays_grow_and_stay_within_the_jittered_policy(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(*[Script.http_error(500, f"boom {n}") for n in range(4)], Script(reply="ok"))
    gateway = gateway_for(backend, sleep, max_retries=4)
    events = await run(gateway)
    assert text(events) == "ok"
    policy = gateway.policy
    assert len(sleep.delays) == 4
    for attempt, delay in enumerate(sleep.delays, start=1):
        nominal = nominal_backoff(policy, attempt)
        assert nominal * (1 - policy.jitter) <= delay <= nominal
    assert sleep.delays == sorted(sleep.delays)
    assert len(set(sleep.delays)) == 4


async def test_backoff_is_jittered_not_the_bare_exponential(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(*[Script.http_error(500, "boom") for _ in range(4)], Script(reply="ok"))
    gateway = gateway_for(backend, sleep, max_retries=4)
    await run(gateway)
    bare = [nominal_backoff(gateway.policy, attempt) for attempt in range(1, 5)]
    assert sleep.delays != bare


async def test_total_wait_is_bounded_by_the_policy(
    sleep: FakeSleep,
) -> None:
    backend = OpenAIBackend("local", f"http://127.0.0.1:{closed_port()}/v1", "test-model")
    policy_fields = {"max_retries": 6, "base_delay_s": 0.5, "max_delay_s": 4.0}
    try:
        await run(gateway_for(backend, sleep, **policy_fields))
    finally:
        await backend.aclose()
    assert max(sleep.delays) <= 4.0
    assert sum(sleep.delays) <= 0.5 + 1.0 + 2.0 + 4.0 * 3


def test_same_seed_gives_the_same_delays() -> None:
    error = ChatError(ErrorKind.SERVER, "boom", status=500)
    first = RetryPolicy(max_retries=5, rng=random.Random(99))
    second = RetryPolicy(max_retries=5, rng=random.Random(99))
    delays = [first.delay(n, error) for n in range(1, 6)]
    assert delays == [second.delay(n, error) for n in range(1, 6)]


# -- Retry-After ------------------------------------------------------------------------------


async def test_retry_after_ms_is_honoured(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    limited = Script.http_error(429, "slow down", headers={"retry-after-ms": "1500"})
    server.push(limited, Script(reply="ok"))
    events = await run(gateway_for(backend, sleep))
    assert sleep.delays == [1.5]
    assert only(Retrying, events)[0].delay_s == 1.5


async def test_retry_after_seconds_is_honoured(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    limited = Script.http_error(429, "slow down", headers={"Retry-After": "3"})
    server.push(limited, Script(reply="ok"))
    await run(gateway_for(backend, sleep))
    assert sleep.delays == [3.0]


async def test_retry_after_ms_wins_over_retry_after(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    headers = {"retry-after": "20", "retry-after-ms": "250"}
    server.push(Script.http_error(503, "busy", headers=headers), Script(reply="ok"))
    await run(gateway_for(backend, sleep))
    assert sleep.delays == [0.25]


async def test_retry_after_on_a_server_error_is_honoured(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(Script.http_error(503, "busy", headers={"retry-after": "2"}), Script(reply="ok"))
    await run(gateway_for(backend, sleep))
    assert sleep.delays == [2.0]


async def test_retry_after_beyond_the_cap_is_not_waited_for_and_says_when_to_retry(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    limited = Script.http_error(429, "slow down", headers={"retry-after": "120"})
    server.push(limited, Script(reply="never asked for"))
    events = await run(gateway_for(backend, sleep, max_retry_after_s=60.0))
    error = failure(events)
    assert error.kind is ErrorKind.RATE_LIMIT
    assert "retry in 120 s" in error.one_line()
    assert sleep.delays == []
    assert only(Retrying, events) == []
    assert len(server.chat_requests) == 1


async def test_retry_after_cap_is_the_policy_setting(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    limited = Script.http_error(429, "slow down", headers={"retry-after-ms": "30000"})
    server.push(limited, Script(reply="never asked for"))
    events = await run(gateway_for(backend, sleep, max_retry_after_s=10.0))
    assert "retry in 30 s" in failure(events).message
    assert sleep.delays == []


# -- not retried ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.BAD_REQUEST),
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (404, ErrorKind.NOT_FOUND),
        (422, ErrorKind.BAD_REQUEST),
    ],
    ids=lambda value: str(value),
)
async def test_client_error_is_not_retried(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep, status: int, kind: ErrorKind
) -> None:
    server.push(Script.http_error(status, "no"), Script(reply="never asked for"))
    events = await run(gateway_for(backend, sleep))
    error = failure(events)
    assert (error.kind, error.status) == (kind, status)
    assert len(server.chat_requests) == 1
    assert only(Retrying, events) == []
    assert sleep.delays == []


async def test_auth_error_names_the_key_to_check_without_showing_it(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(Script.http_error(401, f"Incorrect API key provided: {KEY}"))
    error = failure(await run(gateway_for(backend, sleep)))
    assert "TEST_API_KEY" in error.one_line()
    assert KEY not in error.one_line()


async def test_quota_exhausted_is_not_retried(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    quota = Script.http_error(
        429, "You exceeded your current quota", code="insufficient_quota", type="insufficient_quota"
    )
    server.push(quota, Script(reply="never asked for"))
    events = await run(gateway_for(backend, sleep))
    assert failure(events).kind is ErrorKind.QUOTA
    assert len(server.chat_requests) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    ("fault", "kind"),
    [(Fault.DROP, ErrorKind.INCOMPLETE), (Fault.ERROR_EVENT, ErrorKind.STREAM)],
    ids=str,
)
async def test_failure_after_the_first_token_is_not_retried_and_the_partial_came_through(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep, fault: Fault, kind: ErrorKind
) -> None:
    server.push(
        Script(reply="one two three four", fault=fault, fault_after=2), Script(reply="again")
    )
    events = await run(gateway_for(backend, sleep))
    assert text(events) == "one two"
    assert failure(events).kind is kind
    assert len(server.chat_requests) == 1
    assert only(Retrying, events) == []
    assert sleep.delays == []


async def test_retryable_failure_after_the_first_token_is_not_retried(
    server: OpenAIServer, sleep: FakeSleep
) -> None:
    # A timeout would be retried before any text; after some, the partial must stand.
    server.push(
        Script(reply="one two three", fault=Fault.STALL, fault_after=1), Script(reply="again")
    )
    backend = OpenAIBackend("local", server.base_url, "test-model", read_timeout=0.2)
    try:
        events = await run(gateway_for(backend, sleep))
    finally:
        await backend.aclose()
    assert text(events) == "one"
    assert failure(events).kind is ErrorKind.TIMEOUT
    assert len(server.chat_requests) == 1
    assert sleep.delays == []


async def test_shown_reasoning_counts_as_the_first_token(
    server: OpenAIServer, sleep: FakeSleep
) -> None:
    server.push(
        Script(reasoning="thinking it over", reply="x", fault=Fault.STALL, fault_after=0),
        Script(reply="again"),
    )
    backend = OpenAIBackend("local", server.base_url, "test-model", read_timeout=0.2)
    try:
        events = await run(gateway_for(backend, sleep))
    finally:
        await backend.aclose()
    assert "".join(e.text for e in only(Reasoning, events)) == "thinking it over"
    assert failure(events).kind is ErrorKind.TIMEOUT
    assert len(server.chat_requests) == 1


# -- what the caller sees ----------------------------------------------------------------------


async def test_a_retrying_event_comes_before_each_retry(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    log: list[object] = []
    sleep = FakeSleep(log)
    server.push(Script.http_error(500, "boom"), Script.http_error(502, "bad gateway"))
    server.push(Script(reply="ok"))
    async for event in gateway_for(backend, sleep).stream(REQUEST):
        if isinstance(event, Retrying):
            log.append(("retrying", event.attempt, event.delay_s))
        elif isinstance(event, Started):
            log.append("started")
    d1, d2 = sleep.delays
    assert log == [
        ("retrying", 1, d1),
        ("sleep", d1),
        ("retrying", 2, d2),
        ("sleep", d2),
        "started",
    ]


async def test_retrying_event_gives_the_reason_in_one_line(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(Script.http_error(500, "the GPU\nfell over"), Script(reply="ok"))
    events = await run(gateway_for(backend, sleep))
    reason = only(Retrying, events)[0].reason
    assert reason.startswith("local: HTTP 500")
    assert "the GPU fell over" in reason


async def test_after_the_last_retry_the_last_error_is_reported(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(
        Script.http_error(500, "first"),
        Script.http_error(503, "second"),
        Script.http_error(502, "third"),
        Script(reply="never asked for"),
    )
    events = await run(gateway_for(backend, sleep, max_retries=2))
    error = failure(events)
    assert error.status == 502
    assert "third" in error.message
    assert len(server.chat_requests) == 3
    assert [r.attempt for r in only(Retrying, events)] == [1, 2]
    assert len(sleep.delays) == 2


async def test_no_retries_when_the_policy_allows_none(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(Script.http_error(500, "boom"), Script(reply="never asked for"))
    events = await run(gateway_for(backend, sleep, max_retries=0))
    assert failure(events).status == 500
    assert len(server.chat_requests) == 1
    assert sleep.delays == []


async def test_a_retried_request_is_sent_unchanged(
    server: OpenAIServer, backend: OpenAIBackend, sleep: FakeSleep
) -> None:
    server.push(Script.http_error(429, "slow down"), Script(reply="ok"))
    await run(gateway_for(backend, sleep))
    first, second = (request.body for request in server.chat_requests)
    assert first == second


# -- a server that is down, then up --------------------------------------------------------


async def test_a_server_that_was_down_is_asked_for_its_model_once_it_is_up(
    sleep: FakeSleep,
) -> None:
    port = closed_port()
    backend = OpenAIBackend("local", f"http://127.0.0.1:{port}/v1", SERVER_DEFAULT_MODEL)
    gateway = gateway_for(backend, sleep, max_retries=0)
    try:
        assert not await gateway.discover()
        assert gateway.unreachable is not None
        assert gateway.unreachable.kind is ErrorKind.CONNECT
        assert failure(await run(gateway)).kind is ErrorKind.CONNECT
        with OpenAIServer(port=port, models=("real-model",)) as server:
            events = await run(gateway)
    finally:
        await gateway.aclose()
    assert isinstance(events[-1], Finished)
    assert server.chat_requests[0].body["model"] == "real-model"
    assert only(Started, events)[0].model == "real-model"
    assert gateway.discovered and gateway.unreachable is None


async def test_a_server_that_answers_is_asked_what_it_is_only_once(
    server: OpenAIServer, sleep: FakeSleep
) -> None:
    server.models = ()  # it answers, but names no model: "default" it stays
    backend = OpenAIBackend("local", server.base_url, SERVER_DEFAULT_MODEL)
    gateway = gateway_for(backend, sleep)
    try:
        assert await gateway.discover()
        await run(gateway)
        await run(gateway)
    finally:
        await gateway.aclose()
    assert [r.path for r in server.requests if r.method == "GET"] == ["/v1/models", "/props"]
    assert [r.body["model"] for r in server.chat_requests] == ["default", "default"]
