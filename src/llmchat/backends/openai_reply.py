"""Reading one OpenAI-style streamed reply: decoded SSE events in, core events out.

Pure (no I/O, no httpx): `ReplyReader` is fed the events of one 200 stream and tracks
how it ended. It accepts the variants servers really send: a null first `content`,
`reasoning_content`, usage on a `choices: []` chunk, on the finish chunk or on every
chunk, `choices` null or missing, llama.cpp `timings` with or without `cache_n`, and
errors as `data: {"error": …}` or old llama.cpp's `error:` line.
"""

from __future__ import annotations

import json
import math
from typing import Any

from llmchat.backends.errors import excerpt, stream_error
from llmchat.backends.sse import SSEEvent
from llmchat.core.events import (
    ChatError,
    Delta,
    ErrorKind,
    Failed,
    Finished,
    Probabilities,
    Reasoning,
    ServerTimings,
    StreamEvent,
    UsageReport,
)
from llmchat.core.safe_text import one_line
from llmchat.core.secrets import NO_SECRETS, SecretMask
from llmchat.core.token_probs import from_wire

HEAD_EXCERPT_BYTES = 512
"""Bytes kept from the start of a stream, to show when it turns out not to be SSE."""


class ReplyReader:
    """Folds the decoded events of one reply into core events and remembers how it ended.

    Usage and timings are held back and emitted once, just before the final event,
    because servers send them on different chunks (or on every chunk).
    """

    def __init__(self, backend: str, mask: SecretMask = NO_SECRETS) -> None:
        self.backend = backend
        self.mask = mask
        """Hides the backend's secrets in whatever of the server's text an error quotes."""
        self.finish_reason: str | None = None
        self.done = False
        self.error: ChatError | None = None
        self.usage: UsageReport | None = None
        self.timings: ServerTimings | None = None
        self.saw_data = False
        self.head = bytearray()
        self.tools: list[str] = []
        """Tools the model asked to call (llmchat offers none), by name."""
        self.asked_tool = False
        self.wrote = False
        """Some reply text arrived."""

    @property
    def ended(self) -> bool:
        return self.done or self.error is not None

    def note_bytes(self, chunk: bytes) -> None:
        """Keep the start of the body, to quote if it turns out not to be an event stream."""
        if len(self.head) < HEAD_EXCERPT_BYTES:
            self.head += chunk[: HEAD_EXCERPT_BYTES - len(self.head)]

    def fail(self, kind: ErrorKind, message: str) -> None:
        """Record a failure found outside the events (bad framing, timeout); first one wins."""
        if self.error is None:
            status = 200 if kind is ErrorKind.PROTOCOL else None  # the status it came with
            self.error = ChatError(kind, message, status=status)

    def json_object(self, sse: SSEEvent, what: str) -> dict[str, Any] | None:
        """The event's data as a JSON object, or None after failing the stream with why
        (not JSON; JSON but not an object: `what` names what an object was expected as)."""
        try:
            data = json.loads(sse.data)
        except ValueError:
            self.fail(ErrorKind.PROTOCOL, f"invalid JSON in the stream: {self._quote(sse.data)}")
            return None
        if not isinstance(data, dict):
            self.fail(
                ErrorKind.PROTOCOL, f"unexpected {what} in the stream: {self._quote(sse.data)}"
            )
            return None
        return data

    def _quote(self, data: str) -> str:
        """A short excerpt of the server's data, secrets masked before the cut."""
        return one_line(self.mask(data), 80)

    def take(self, sse: SSEEvent) -> list[StreamEvent]:
        """The Delta/Reasoning events one SSE event carries; records finish, usage, errors."""
        self.saw_data = True
        if sse.event == "error":
            self.error = stream_error(sse.data, backend=self.backend, mask=self.mask)
            return []
        if sse.data.strip() == "[DONE]":
            self.done = True
            return []
        chunk = self.json_object(sse, "chunk")
        if chunk is None:
            return []
        if chunk.get("error"):
            self.error = stream_error(sse.data, backend=self.backend, mask=self.mask)
            return []
        events: list[StreamEvent] = []
        choices = chunk.get("choices")  # may be [], null or missing on usage chunks
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                events.extend(self._choice(choice))
        if isinstance(chunk.get("usage"), dict):
            self.usage = _usage(chunk["usage"]) or self.usage
        if isinstance(chunk.get("timings"), dict):
            self.timings = timings_of(chunk["timings"])
        return events

    def _choice(self, choice: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        delta = choice.get("delta")
        if isinstance(delta, dict):
            thinking = delta.get("reasoning_content")
            if not isinstance(thinking, str):
                thinking = delta.get("reasoning")  # OpenRouter's name for the same thing
            if isinstance(thinking, str) and thinking:
                events.append(Reasoning(thinking))
            content = delta.get("content")  # null in llama.cpp's first chunk
            if isinstance(content, str) and content:
                self.wrote = True
                events.append(Delta(content))
                if (logprobs := choice.get("logprobs")) is not None:
                    tokens = from_wire(logprobs)
                    if tokens:
                        events.append(Probabilities(tokens))
            calls = delta.get("tool_calls")
            if isinstance(calls, list) and calls:
                self._note_tools(calls)
            legacy = delta.get("function_call")  # the pre-tools spelling
            if isinstance(legacy, dict) and legacy:
                self._note_tools([{"function": legacy}])
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = reason
        return events

    def _note_tools(self, calls: list[Any]) -> None:
        self.asked_tool = True
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            if isinstance(name, str) and name and len(self.tools) < 5:
                name = one_line(name, 40)
                if name not in self.tools:
                    self.tools.append(name)

    def _tool_error(self) -> ChatError:
        """A reply that stops to call a tool is not a complete answer: llmchat sends no
        tools and runs none, so say so rather than keep an empty "complete" reply."""
        named = f" ({', '.join(self.tools)})" if self.tools else ""
        written = "; its text so far is kept" if self.wrote else " instead of answering"
        return ChatError(
            ErrorKind.INCOMPLETE,
            f"the model asked for a tool{named} llmchat does not offer{written}",
        )

    def outcome(self) -> list[StreamEvent]:
        """Usage and timings if any, then the one final event."""
        events: list[StreamEvent] = [e for e in (self.usage, self.timings) if e is not None]
        if self.error is not None:
            events.append(Failed(self.error))
        elif self.asked_tool or self.finish_reason in ("tool_calls", "function_call"):
            events.append(Failed(self._tool_error()))
        elif self.finish_reason is not None or self.done:
            events.append(Finished(self.finish_reason or "unknown"))
        elif not self.saw_data and self.head:
            text = excerpt(self.head.decode("utf-8", errors="replace"), self.mask)
            events.append(
                Failed(
                    ChatError(
                        ErrorKind.PROTOCOL, f"the body is not an event stream: {text}", status=200
                    )
                )
            )
        else:
            unfinished = (
                "the stream ended before the reply was finished (no finish_reason, no [DONE])"
            )
            events.append(Failed(ChatError(ErrorKind.INCOMPLETE, unfinished)))
        return events


MAX_COUNT = 100_000_000
"""More tokens than any context window holds: a larger count is nonsense, not usage."""


def int_or_none(value: Any) -> int | None:
    """A count from the server, or None when it is not one: negative, NaN, fractional
    or absurd numbers are outside input, and unknown is better than wrong."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    count = int(value)
    return count if 0 <= count <= MAX_COUNT else None


def _float(value: Any) -> float | None:
    """A duration or rate from the server, or None when it is negative, NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0 <= number < 1e12 else None


def _usage(usage: dict[str, Any]) -> UsageReport | None:
    """The counts, or None (estimated downstream) unless both are sane: a reply whose
    completion count is wrong would be priced and shown wrong."""
    prompt = int_or_none(usage.get("prompt_tokens"))
    completion = int_or_none(usage.get("completion_tokens"))
    if completion is None or (prompt is None and usage.get("prompt_tokens") is not None):
        return None
    details = usage.get("prompt_tokens_details")
    cached = int_or_none(details.get("cached_tokens")) if isinstance(details, dict) else None
    prompt = prompt or 0
    return UsageReport(
        prompt_tokens=prompt, completion_tokens=completion, cached_tokens=min(cached or 0, prompt)
    )


def timings_of(timings: dict[str, Any]) -> ServerTimings:
    return ServerTimings(
        prompt_n=int_or_none(timings.get("prompt_n")),
        prompt_ms=_float(timings.get("prompt_ms")),
        predicted_n=int_or_none(timings.get("predicted_n")),
        predicted_ms=_float(timings.get("predicted_ms")),
        cache_n=int_or_none(timings.get("cache_n")),  # missing in old llama.cpp builds
    )
