"""A turn's request, kept for the views that show it (the request inspector).

What the engine planned (the compiled request, the history it left out, a clipped reply
reserve) beside what the backend encoded and sent for it, attempt by attempt: a body the
backend adjusted and sent again, or a retry by the gateway, adds one more. Then the
reply side: the first and last raw stream events, usage and timings as received, and
the reply saved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmchat.core.events import DialsFitted, RawEvents, RequestSent, ServerTimings, UsageReport
from llmchat.core.messages import Message
from llmchat.engine.events import RequestPlanned


@dataclass(frozen=True, slots=True)
class TurnRequest:
    planned: RequestPlanned
    sent: tuple[RequestSent, ...] = ()
    """Every request that went out for the turn, in order; empty if none could be sent
    (the server was unreachable before the backend got to it)."""
    fitted: tuple[str, ...] = ()
    """What was changed in the dials for the model (a range clamped, a dial the model
    refuses left out, one its server's 400 just taught), every note of the turn."""
    raw: RawEvents | None = None
    """The reply's first and last stream events as received (None: no stream was read)."""
    usage: UsageReport | None = None
    """The usage the server reported, as received (None: it sent none)."""
    timings: ServerTimings | None = None
    """The server's own timings (llama-server), as received."""
    reply: Message | None = None
    """The reply saved for this request (its client-side timings, its status)."""

    @property
    def last_sent(self) -> RequestSent | None:
        """The body of the last attempt: the one the reply, or the failure, answered."""
        return self.sent[-1] if self.sent else None

    def with_sent(self, sent: RequestSent) -> TurnRequest:
        return replace(self, sent=(*self.sent, sent))

    def with_reply_event(
        self, event: DialsFitted | RawEvents | UsageReport | ServerTimings
    ) -> TurnRequest:
        if isinstance(event, DialsFitted):
            return replace(self, fitted=(*self.fitted, *event.notes))
        if isinstance(event, RawEvents):
            return replace(self, raw=event)
        if isinstance(event, UsageReport):
            return replace(self, usage=event)
        return replace(self, timings=event)

    def replanned(self, planned: RequestPlanned) -> TurnRequest:
        """The turn went to a fallback, planned for its own window: the bodies sent to
        the backends before it stay listed."""
        return replace(self, planned=planned)
