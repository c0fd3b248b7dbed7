"""An incremental Server-Sent Events decoder: bytes in, whole events out.

Pure and synchronous (no httpx, no asyncio) so any chunking of a stream can be tested
exhaustively. It follows the WHATWG event-stream rules that matter for LLM APIs:

- lines end in LF, CRLF or a lone CR, and a CRLF may be split across two chunks;
- bytes are buffered until a line is complete, so a multi-byte UTF-8 character split
  across chunks decodes intact;
- `:` lines are comments (keep-alives) and are skipped; `data:` lines accumulate and a
  blank line dispatches the event; `event:` names it; `id:` and `retry:` are ignored;
- an event without any `data:` line (or with only empty data) is not dispatched.

Two leniencies for real servers: `finish()` dispatches a last event that had no
trailing blank line (`data: [DONE]` then EOF), and old llama.cpp's non-standard
`error: {…}` line becomes an event named "error", the same shape as a standard
`event: error` + `data: {…}` pair.

Memory stays bounded: a line, or an event's accumulated data, longer than
`max_bytes` raises `SSEError` instead of growing the buffer forever.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MAX_BYTES = 1 << 20  # 1 MiB: far above any real chunk, far below trouble

_COMMENTS = re.compile(rb"(?::[^\r\n]*(?:\r\n|\n|\r(?!\Z)))+")
"""A run of whole comment lines. Skipped in one step: a "comment bomb" of millions of
`:` lines costs microseconds, not a Python loop turn per line. A CR as the buffer's last
byte is left to the line loop, which knows a LF may follow in the next chunk."""


class SSEError(ValueError):
    """The byte stream cannot be a sane event stream (for now: a line or event too long)."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. `data` has its `data:` lines joined with newlines."""

    data: str
    event: str = "message"


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events each chunk completes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skip_lf = False
        """The previous chunk ended in CR: a LF starting the next one belongs to it."""
        self._at_start = True
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume one chunk of any size; returns the events it completed, in order."""
        if self._skip_lf and chunk:
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
            self._skip_lf = False
        events: list[SSEEvent] = []
        buffer = self._buffer
        # What is already buffered holds no line end: search only the new bytes, so a
        # long line arriving in small pieces costs linear time, not quadratic.
        searched = len(buffer)
        buffer += chunk
        size = len(buffer)
        cr = buffer.find(b"\r", searched)
        lf = buffer.find(b"\n", searched)
        start = 0
        while cr != -1 or lf != -1:
            if buffer[start : start + 1] == b":":
                comments = _COMMENTS.match(buffer, start)
                if comments is not None:
                    self._at_start = False
                    start = comments.end()
                    cr = buffer.find(b"\r", start) if cr != -1 and cr < start else cr
                    lf = buffer.find(b"\n", start) if lf != -1 and lf < start else lf
                    continue
            if cr == -1 or (lf != -1 and lf < cr):
                end, start_next = lf, lf + 1
            elif cr + 1 < size:
                end = cr
                start_next = cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
            else:
                # A CR as the very last byte: the line is complete, but a LF may follow
                # in the next chunk and must not be read as an extra blank line.
                end, start_next = cr, cr + 1
                self._skip_lf = True
            self._check_size(end - start, "a line")
            event = self._line(bytes(buffer[start:end]))
            if event is not None:
                events.append(event)
            start = start_next
            if cr != -1 and cr < start:
                cr = buffer.find(b"\r", start)
            if lf != -1 and lf < start:
                lf = buffer.find(b"\n", start)
        del buffer[:start]
        self._check_size(len(buffer), "a line")
        return events

    def finish(self) -> list[SSEEvent]:
        """The stream ended: take an unterminated last line and a last undispatched event."""
        events: list[SSEEvent] = []
        if self._buffer:
            event = self._line(bytes(self._buffer))
            self._buffer.clear()
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _check_size(self, size: int, what: str) -> None:
        if size > self.max_bytes:
            limit = f"{self.max_bytes // 1024} KiB"
            raise SSEError(f"{what} in the event stream is longer than {limit}")

    def _line(self, raw: bytes) -> SSEEvent | None:
        line = raw.decode("utf-8", errors="replace")
        if self._at_start:
            self._at_start = False
            line = line.removeprefix("\ufeff")
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._append_data(value)
        elif name == "event":
            self._event = value
        elif name == "error":
            # Old llama.cpp: `error: {json}` instead of an `event: error` + `data:` pair.
            self._event = "error"
            self._append_data(value)
        # `id`, `retry` and unknown fields are ignored, as the spec says.
        return None

    def _append_data(self, value: str) -> None:
        self._data_size += len(value) + 1
        self._check_size(self._data_size, "an event")
        self._data.append(value)

    def _dispatch(self) -> SSEEvent | None:
        data = "\n".join(self._data)
        event = self._event or "message"
        self._data.clear()
        self._data_size = 0
        self._event = ""
        if not data:
            return None
        return SSEEvent(data=data, event=event)
