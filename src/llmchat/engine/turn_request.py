"""A turn's request, kept for the views that show it (the request inspector).

What the engine planned (the compiled request, the history it left out, a clipped reply
reserve) beside what the backend encoded and sent for it, attempt by attempt: a body the
backend adjusted and sent again, or a retry by the gateway, adds one more.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmchat.core.events import RequestSent
from llmchat.engine.events import RequestPlanned


@dataclass(frozen=True, slots=True)
class TurnRequest:
    planned: RequestPlanned
    sent: tuple[RequestSent, ...] = ()
    """Every request that went out for the turn, in order; empty if none could be sent
    (the server was unreachable before the backend got to it)."""

    @property
    def last_sent(self) -> RequestSent | None:
        """The body of the last attempt: the one the reply, or the failure, answered."""
        return self.sent[-1] if self.sent else None

    def with_sent(self, sent: RequestSent) -> TurnRequest:
        return replace(self, sent=(*self.sent, sent))

    def replanned(self, planned: RequestPlanned) -> TurnRequest:
        """The turn went to a fallback, planned for its own window: the bodies sent to
        the backends before it stay listed."""
        return replace(self, planned=planned)
