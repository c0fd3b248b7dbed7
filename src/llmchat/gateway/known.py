"""The backends this run knows: each gateway with what was configured for it.

A gateway knows its backend object, not the user's settings for it (its kind, the idle
limit a stall ends at), and building the backend object imports httpx. The views that
show backends (the `backends` view, the status bar's breaker alarm, the stall count)
read these facts instead, and ask the gateway only for its live state: its breaker and,
once the server has answered, the model it named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmchat.gateway.breaker import BreakerState, CircuitBreaker

if TYPE_CHECKING:
    from llmchat.gateway.gateway import Gateway


@dataclass(frozen=True, slots=True)
class KnownBackend:
    """One gateway and the settings it was built from (never its key)."""

    gateway: Gateway
    name: str
    """The user's name for the backend (raw: show it through safe_text)."""
    kind: str
    """Its wire protocol: openai, llamacpp or anthropic."""
    model: str
    """The model configured; `model` gives the one the server named once it answered."""
    idle_timeout_s: float
    """How long a reply may go silent, once begun, before it ends as stalled."""

    @property
    def current_model(self) -> str:
        # `gateway.backend` would build the backend (and import httpx) if it were not
        # built yet; a gateway that has discovered its server has built it.
        return self.gateway.backend.model if self.gateway.discovered else self.model


class KnownBackends:
    """Every gateway the run has built, in the order they were built."""

    def __init__(self) -> None:
        self._known: dict[Gateway, KnownBackend] = {}

    def add(self, known: KnownBackend) -> None:
        self._known[known.gateway] = known

    def about(self, gateway: Gateway) -> KnownBackend | None:
        return self._known.get(gateway)

    def chain_of(self, gateway: Gateway) -> list[KnownBackend]:
        """`gateway` and its fallbacks, in the order a request tries them."""
        chain = [self.about(g) for g in (gateway, *gateway.fallbacks)]
        return [known for known in chain if known is not None]

    def all(self) -> list[KnownBackend]:
        return list(self._known.values())


@dataclass(frozen=True, slots=True)
class BreakerView:
    """A breaker as a person reads it: its state now, and how long until it probes."""

    state: BreakerState
    seconds_left: int
    """Whole seconds until one request may try again (0 unless open), rounded up so an
    open breaker never reads "0 s"."""
    failures: int

    @classmethod
    def of(cls, breaker: CircuitBreaker) -> BreakerView:
        # Read without `allow()`, which would hand out the probe: an open breaker whose
        # cooldown is over is shown as what the next request finds, half-open.
        left = breaker.remaining_s()
        state = breaker.state
        if state is BreakerState.OPEN and left <= 0:
            state = BreakerState.HALF_OPEN
        seconds = math.ceil(left) if state is BreakerState.OPEN else 0
        return cls(state, seconds, breaker.failures)

    def describe(self) -> str:
        """The state in words: closed, open 24 s, or half-open."""
        if self.state is BreakerState.OPEN:
            return f"open {self.seconds_left} s"
        return self.state.value
