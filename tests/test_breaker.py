"""The circuit breaker: opens after failures in a row, fails fast, probes once, closes.

Time is a fake clock moved by hand; the gateway's sleep is a fake too. Nothing waits.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.core.events import ChatError, ErrorKind, Failed, Finished, Retrying, StreamEvent
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.gateway.breaker import BreakerState, CircuitBreaker, counts_as_failure
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from tests.support.openai_server import OpenAIServer, Script

pytestmark = pytest.mark.family("retries")

REQUEST = ChatRequest(
    messages=(WireMessage("user", "Hello?"),), params=SamplingParams(max_tokens=32)
)
DOWN = ChatError(ErrorKind.CONNECT, "connection refused", backend="local")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def breaker(clock: FakeClock, threshold: int = 3, cooldown_s: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker(threshold=threshold, cooldown_s=cooldown_s, clock=clock)


def fail(b: CircuitBreaker, times: int, error: ChatError = DOWN) -> None:
    for _ in range(times):
        assert b.allow()
        b.record(error)


# -- the state machine ------------------------------------------------------------------


def test_a_new_breaker_is_closed_and_lets_requests_through(clock: FakeClock) -> None:
    b = breaker(clock)
    assert b.state is BreakerState.CLOSED
    assert b.allow()


def test_it_opens_after_the_threshold_of_failures_in_a_row(clock: FakeClock) -> None:
    b = breaker(clock, threshold=3)
    fail(b, 2)
    assert b.state is BreakerState.CLOSED
    fail(b, 1)
    assert b.state is BreakerState.OPEN
    assert not b.allow()


def test_an_answer_in_between_resets_the_count(clock: FakeClock) -> None:
    b = breaker(clock, threshold=3)
    fail(b, 2)
    assert b.allow()
    b.record(None)
    fail(b, 2)
    assert b.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    "kind",
    [
        ErrorKind.AUTH,
        ErrorKind.QUOTA,
        ErrorKind.BAD_REQUEST,
        ErrorKind.CONTEXT_OVERFLOW,
        ErrorKind.NOT_FOUND,
        ErrorKind.LOADING,
    ],
)
def test_auth_quota_content_and_loading_do_not_count(clock: FakeClock, kind: ErrorKind) -> None:
    b = breaker(clock, threshold=2)
    fail(b, 5, ChatError(kind, "no"))
    assert b.state is BreakerState.CLOSED
    assert not counts_as_failure(ChatError(kind, "no"))


@pytest.mark.parametrize(
    "kind",
    [
        ErrorKind.CONNECT,
        ErrorKind.TIMEOUT,
        ErrorKind.DEADLINE,
        ErrorKind.SERVER,
        ErrorKind.RATE_LIMIT,
    ],
)
def test_transport_deadline_and_retryable_errors_count(clock: FakeClock, kind: ErrorKind) -> None:
    b = breaker(clock, threshold=2)
    fail(b, 2, ChatError(kind, "down"))
    assert b.state is BreakerState.OPEN


def test_while_open_the_refusal_says_who_how_often_and_when(clock: FakeClock) -> None:
    b = breaker(clock, threshold=3, cooldown_s=30)
    fail(b, 3)
    clock.now += 10
    error = b.refusal("local")
    assert error.one_line() == (
        "backend local is failing: 3 errors in a row (last: connection refused); "
        "trying again in 20 s"
    )
    assert error.retry_after_s == pytest.approx(20)


def test_after_the_cooldown_exactly_one_probe_goes_out(clock: FakeClock) -> None:
    b = breaker(clock, threshold=1, cooldown_s=30)
    fail(b, 1)
    clock.now += 29.9
    assert not b.allow()
    clock.now += 0.1
    assert b.allow()
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow()  # the probe is out: the others still fail fast


def test_a_probe_that_succeeds_closes_it(clock: FakeClock) -> None:
    b = breaker(clock, threshold=1)
    fail(b, 1)
    clock.now += 30
    assert b.allow()
    b.record(None)
    assert b.state is BreakerState.CLOSED
    assert b.failures == 0
    assert b.allow() and b.allow()


def test_a_probe_that_fails_opens_it_again_for_a_whole_cooldown(clock: FakeClock) -> None:
    b = breaker(clock, threshold=3, cooldown_s=30)
    fail(b, 3)
    clock.now += 30
    assert b.allow()
    b.record(DOWN)
    assert b.state is BreakerState.OPEN
    assert b.remaining_s() == pytest.approx(30)
    assert not b.allow()


def test_a_cancelled_probe_lets_the_next_request_probe(clock: FakeClock) -> None:
    b = breaker(clock, threshold=1)
    fail(b, 1)
    clock.now += 30
    assert b.allow()
    b.release()
    assert b.allow()


# -- through the gateway, over loopback HTTP ---------------------------------------------


@pytest.fixture
async def backend(server: OpenAIServer) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend("local", server.base_url, "test-model")
    yield backend
    await backend.aclose()


async def run(gateway: Gateway) -> list[StreamEvent]:
    return [event async for event in gateway.stream(REQUEST)]


async def test_the_gateway_opens_fails_fast_and_closes_after_a_good_probe(
    server: OpenAIServer, backend: OpenAIBackend, clock: FakeClock
) -> None:
    b = breaker(clock, threshold=3, cooldown_s=30)
    gateway = Gateway(
        backend, RetryPolicy(max_retries=5, rng=random.Random(1)), sleep=no_sleep, breaker=b
    )
    server.push(*[Script.http_error(503, "overloaded") for _ in range(3)])
    events = await run(gateway)
    # Three failures opened it: the retries stop there, with the breaker's error.
    assert len(server.chat_requests) == 3
    assert len([e for e in events if isinstance(e, Retrying)]) == 2
    assert isinstance(events[-1], Failed)
    assert "backend local is failing: 3 errors in a row" in events[-1].error.message
    assert "HTTP 503" in events[-1].error.message

    # Open: the next request fails fast, without reaching the server.
    events = await run(gateway)
    assert isinstance(events[-1], Failed)
    assert "trying again in 30 s" in events[-1].error.message
    assert len(server.chat_requests) == 3

    # After the cooldown one probe goes out; the server answers, so it closes.
    clock.now += 30
    events = await run(gateway)
    assert isinstance(events[-1], Finished)
    assert len(server.chat_requests) == 4
    assert b.state is BreakerState.CLOSED


async def test_a_failed_probe_through_the_gateway_is_not_retried_and_reopens(
    server: OpenAIServer, backend: OpenAIBackend, clock: FakeClock
) -> None:
    b = breaker(clock, threshold=2, cooldown_s=30)
    gateway = Gateway(backend, RetryPolicy(rng=random.Random(1)), sleep=no_sleep, breaker=b)
    server.push(*[Script.http_error(500, "boom") for _ in range(3)])
    await run(gateway)
    assert b.state is BreakerState.OPEN
    clock.now += 30
    events = await run(gateway)
    assert len(server.chat_requests) == 3  # two that opened it, one probe
    assert isinstance(events[-1], Failed)
    assert b.state is BreakerState.OPEN


async def test_auth_errors_never_open_the_breaker(
    server: OpenAIServer, backend: OpenAIBackend, clock: FakeClock
) -> None:
    b = breaker(clock, threshold=2)
    gateway = Gateway(backend, RetryPolicy(), sleep=no_sleep, breaker=b)
    server.push(*[Script.http_error(401, "bad key") for _ in range(4)])
    for _ in range(4):
        events = await run(gateway)
        assert isinstance(events[-1], Failed)
        assert events[-1].error.kind is ErrorKind.AUTH
    assert len(server.chat_requests) == 4
    assert b.state is BreakerState.CLOSED
