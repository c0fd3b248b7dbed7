"""Reading one Anthropic Messages stream: decoded SSE events in, core events out.

Pure (no I/O, no httpx), like `openai_reply`, whose bookkeeping (the head kept for a
body that is not a stream, the first failure winning, tools asked for) it shares. The
events: `message_start` (the prompt's usage, cache reads and writes included),
`content_block_start`, `content_block_delta` (`text_delta` → `Delta`, `thinking_delta`
→ `Reasoning`; `signature_delta` carries nothing to show), `content_block_stop`,
`message_delta` (the stop reason, and usage that is cumulative: the last value wins),
`message_stop`, `ping`, and `error`, which arrives at HTTP 200 mid-stream
(`overloaded_error` included).
"""

from __future__ import annotations

from typing import Any

from llmchat.backends.errors import error_message, error_object
from llmchat.backends.openai_reply import ReplyReader, int_or_none
from llmchat.backends.sse import SSEEvent
from llmchat.core.events import (
    ChatError,
    Delta,
    ErrorKind,
    Failed,
    Finished,
    Reasoning,
    StreamEvent,
    UsageReport,
)

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
"""Anthropic's stop reasons in the core's words ("length": cut by max_tokens)."""

SERVER_SIDE_ERRORS = frozenset({"overloaded_error", "api_error"})
"""Error types in a stream that say the server, not the request, failed: worth a retry
while nothing has been shown (the gateway decides)."""


class AnthropicReplyReader(ReplyReader):
    """Folds the events of one Messages stream into core events."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counts: dict[str, int] = {}
        """The latest of each usage count (`input_tokens`, `output_tokens`, …)."""

    def take(self, sse: SSEEvent) -> list[StreamEvent]:
        self.saw_data = True
        data = self.json_object(sse, "event")
        if data is None:
            return []
        kind = data.get("type") if isinstance(data.get("type"), str) else sse.event
        if kind == "error" or sse.event == "error":
            self.error = self._stream_error(sse.data)
            return []
        if kind == "message_start":
            message = data.get("message")
            if isinstance(message, dict):
                self._note_usage(message.get("usage"))
        elif kind == "content_block_start":
            block = data.get("content_block")
            if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use"):
                self._note_tools([{"function": {"name": block.get("name")}}])
            elif isinstance(block, dict) and block.get("type") == "text":
                return self._text(block.get("text"))
        elif kind == "content_block_delta":
            return self._delta(data.get("delta"))
        elif kind == "message_delta":
            delta = data.get("delta")
            reason = delta.get("stop_reason") if isinstance(delta, dict) else None
            if isinstance(reason, str) and reason:
                self.finish_reason = STOP_REASONS.get(reason, reason)
            self._note_usage(data.get("usage"))
        elif kind == "message_stop":
            self.done = True
        # ping, content_block_stop and unknown new event types carry nothing to show.
        return []

    def _delta(self, delta: Any) -> list[StreamEvent]:
        if not isinstance(delta, dict):
            return []
        match delta.get("type"):
            case "text_delta":
                return self._text(delta.get("text"))
            case "thinking_delta":
                thinking = delta.get("thinking")
                return [Reasoning(thinking)] if isinstance(thinking, str) and thinking else []
            case "input_json_delta":
                self.asked_tool = True
        return []

    def _text(self, text: Any) -> list[StreamEvent]:
        if isinstance(text, str) and text:
            self.wrote = True
            return [Delta(text)]
        return []

    def _note_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ):
            count = int_or_none(usage.get(key))
            if count is not None:
                self._counts[key] = count
        self.usage = self._usage()

    def _usage(self) -> UsageReport | None:
        """The counts in the core's terms: the prompt is every input token, cache reads
        and writes included (Anthropic's `input_tokens` leaves them out)."""
        output = self._counts.get("output_tokens")
        if output is None:
            return None
        written = self._counts.get("cache_creation_input_tokens", 0)
        read = self._counts.get("cache_read_input_tokens", 0)
        prompt = self._counts.get("input_tokens", 0) + written + read
        return UsageReport(
            prompt_tokens=prompt,
            completion_tokens=output,
            cached_tokens=read,
            cache_write_tokens=written,
        )

    def _stream_error(self, payload: str) -> ChatError:
        error = error_object(payload)
        message = error_message(error, payload, self.mask)
        kind = str(error.get("type", "")) if error is not None else ""
        if kind == "overloaded_error":
            return ChatError(
                ErrorKind.SERVER,
                f"the server is overloaded and stopped mid-reply ({message})",
                backend=self.backend,
            )
        if kind in SERVER_SIDE_ERRORS:
            return ChatError(
                ErrorKind.SERVER,
                f"the server failed mid-reply ({kind}: {message})",
                backend=self.backend,
            )
        named = f"{kind}: " if kind and kind != "error" else ""
        return ChatError(
            ErrorKind.STREAM,
            f"the server reported an error mid-reply ({named}{message})",
            backend=self.backend,
        )

    def outcome(self) -> list[StreamEvent]:
        if self.error is None and self.finish_reason is None and not self.done:
            events: list[StreamEvent] = [self.usage] if self.usage is not None else []
            if self.saw_data:
                unfinished = (
                    "the stream ended before the reply was finished "
                    "(no stop_reason, no message_stop)"
                )
                return [*events, Failed(ChatError(ErrorKind.INCOMPLETE, unfinished))]
        if self.error is None and self.finish_reason == "tool_use":
            self.asked_tool = True
        events = super().outcome()
        if self.finish_reason is None and self.done and self.error is None:
            # message_stop without a stop_reason: complete, for want of anything better.
            return [e if not isinstance(e, Finished) else Finished("stop") for e in events]
        return events
