"""A circuit breaker per backend: stop asking a server that keeps failing, for a while.

Closed, it lets every request through and counts consecutive failures before the first
token: the faults a retry could help with (connect, timeouts, 429, 5xx) and the
first-token deadline. Answers that say nothing about the server's health (a 401, a 400,
a model still loading) count as the server answering. After `threshold` failures in a
row it opens: requests fail fast (or go to the fallback) for `cooldown_s`. Then one
probe is let through (half-open): an answer closes it, a failure opens it again.

The clock is injected, so tests move time by hand instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from llmchat.core.events import ChatError, ErrorKind

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


def counts_as_failure(error: ChatError) -> bool:
    """Whether `error` says the server is failing (rather than refusing this request).

    A local server loading its model is not failing; auth, quota and content errors are
    the server answering, and another try (or another server) will not mend them.
    """
    if error.kind is ErrorKind.LOADING:
        return False
    return error.retryable or error.kind is ErrorKind.DEADLINE


@dataclass(slots=True)
class CircuitBreaker:
    threshold: int = 5
    """Consecutive failures that open the breaker."""
    cooldown_s: float = 30.0
    """How long it stays open before one probe request is let through."""
    clock: Clock = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    """Consecutive failures so far (kept while open, for the message)."""
    last_error: ChatError | None = None
    """The failure that opened it, or the latest one while closed."""
    _opened_at: float = 0.0
    _probing: bool = field(default=False, repr=False)

    def allow(self) -> bool:
        """Whether a request may go out now. After the cooldown the first caller gets
        the probe; while it is out, the others are refused."""
        if self.state is BreakerState.OPEN and self.remaining_s() <= 0:
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record(self, error: ChatError | None) -> None:
        """The outcome of a request that was allowed: None or a non-failure is an
        answer from the server; a failure counts towards opening."""
        self._probing = False
        if error is None or not counts_as_failure(error):
            self.state = BreakerState.CLOSED
            self.failures = 0
            return
        self.failures += 1
        self.last_error = error
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self._opened_at = self.clock()

    def release(self) -> None:
        """A request that was allowed ended without an outcome (cancelled): a probe that
        never finished must not keep the breaker shut; the next request probes again."""
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self.state is BreakerState.OPEN

    def remaining_s(self) -> float:
        """Seconds until the next probe may go out (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self.clock())

    def refusal(self, backend: str) -> ChatError:
        """The error a request gets while the breaker is shut."""
        last = self.last_error
        why = ""
        if last is not None:
            code = f"HTTP {last.status} " if last.status else ""
            why = f" (last: {code}{last.message})"
        wait = max(1, round(self.remaining_s()))
        return ChatError(
            last.kind if last is not None else ErrorKind.SERVER,
            f"backend {backend} is failing: {self.failures} errors in a row{why}; "
            f"trying again in {wait} s",
            retry_after_s=self.remaining_s(),
        )
