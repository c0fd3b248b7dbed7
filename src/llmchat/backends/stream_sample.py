"""The first and last few events of one streamed reply, kept as received for the
request inspector (`RawEvents`).

Cheap on purpose: while the reply streams, each event costs one count and, past the
first few, one append to a small ring (a reference, no copy, no formatting); the texts
are written out and cut once, when the reply ends.
"""

from __future__ import annotations

from collections import deque

from llmchat.backends.sse import SSEEvent
from llmchat.core.events import RawEvents
from llmchat.core.secrets import NO_SECRETS, SecretMask

KEPT = 3
"""Events kept from each end of a reply."""
EVENT_CHARS = 4096
"""Characters kept of each event's text; the rest is said to be cut."""


class StreamSample:
    """Keeps the first `KEPT` and the last `KEPT` events of a reply."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._first: list[SSEEvent] = []
        self._last: deque[SSEEvent] = deque(maxlen=kept)
        self.total = 0

    def keep(self, sse: SSEEvent) -> None:
        self.total += 1
        if self.total <= self._kept:
            self._first.append(sse)
        else:
            self._last.append(sse)

    def events(self, mask: SecretMask = NO_SECRETS) -> RawEvents:
        """The kept events as SSE text (comments and keep-alives are not kept), each
        cut to `EVENT_CHARS`, any run of a secret masked before the cut."""
        return RawEvents(
            first=tuple(_text(e, mask) for e in self._first),
            last=tuple(_text(e, mask) for e in self._last),
            total=self.total,
        )


def _text(sse: SSEEvent, mask: SecretMask) -> str:
    head = "" if sse.event == "message" else f"event: {sse.event}\n"
    text = head + "\n".join(f"data: {line}" for line in sse.data.split("\n"))
    # Masked before the cut (a cut secret is still a secret), but not all of a 1 MB line.
    whole = len(text)
    text = mask(text[: 2 * EVENT_CHARS])
    if whole > 2 * EVENT_CHARS:
        text += "⋯"
    if len(text) > EVENT_CHARS:
        text = f"{text[:EVENT_CHARS]}⋯ ({whole:,} characters, {EVENT_CHARS:,} kept)"
    return text
