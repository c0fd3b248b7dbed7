"""A loopback Anthropic Messages server for tests and manual runs.

The OpenAI test server's sockets, lifecycle and request records (`openai_server`), with
Anthropic's routes: `POST /v1/messages` streams the events of a `Turn` (`message_start`,
`ping`, content blocks of thinking and text, `message_delta` with cumulative usage,
`message_stop`), or answers an HTTP error in Anthropic's shape; `POST
/v1/messages/count_tokens` counts a request by a simple rule (`count_tokens`) and
`GET /v1/models` lists the models, a page at a time (`limit`, `after_id`; `has_more`,
`first_id`, `last_id`). Structured outputs: a request's `output_config.format` must be
`{"type": "json_schema", "schema": {…}}`, and the deprecated beta `output_format` is
refused without its `anthropic-beta` header, as the API does; the reply is the turn's text
(script it as the JSON the schema asks for). Faults: an `error` event mid-stream (an
overloaded server at HTTP 200), a body that ends without `message_stop`, a dropped
connection.

    with AnthropicServer() as server:
        server.push(Turn.http_error(529, "overloaded_error", "Overloaded", retry_after=0))
        backend = AnthropicBackend("claude", server.base_url, "claude-test", "sk-ant-…")
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

from tests.support.openai_server import (
    OpenAIServer,
    RecordedRequest,
    _Connection,
    _head,
    _send_json,
    model_page,
)
from tests.support.replies import split_tokens

DEFAULT_REPLY = "Hello from the Anthropic test server."
MODEL_PAGE_DEFAULT = 20
"""Models on a page when the request names no `limit` (the API's default)."""
STRUCTURED_OUTPUTS_BETA = "structured-outputs-2025-11-13"
"""The 2025 beta's header value; `output_format` without it is refused."""


class Fault(StrEnum):
    """What goes wrong after `Turn.fault_after` text deltas of a 200 stream."""

    ERROR_EVENT = "error_event"
    """`event: error` with `Turn.error_type` (`overloaded_error` by default); the body ends."""
    END = "end"
    """The body ends cleanly, without `message_delta` or `message_stop`."""
    DROP = "drop"
    """The connection is closed mid-body."""
    STALL = "stall"
    """Nothing more is sent; the connection stays open until the client leaves."""


@dataclass
class Turn:
    """How the server answers one `POST /v1/messages`."""

    reply: str = DEFAULT_REPLY
    thinking: str = ""
    """Sent first as a thinking block of `thinking_delta`s (and a `signature_delta`)."""
    stop_reason: str | None = "end_turn"
    """None: no `message_delta` at all."""
    message_stop: bool = True
    pings: bool = True
    """A `ping` after `message_start` and between the blocks, as the real API sends."""
    input_tokens: int = 20
    """Uncached input tokens (Anthropic's `input_tokens` leaves cache reads and writes out)."""
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    usage_updates: int = 1
    """How many `message_delta`-style usage reports carry the (cumulative) output count:
    all but the last are sent early, with a smaller count (the last value wins)."""
    # HTTP errors.
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Faults in the stream.
    fault: Fault | None = None
    fault_after: int = 0
    error_type: str = "overloaded_error"
    error_message: str = "Overloaded"

    @classmethod
    def http_error(
        cls, status: int, error_type: str, message: str, *, retry_after: float | None = None
    ) -> Turn:
        """`{"type": "error", "error": {"type": …, "message": …}}` with `status`."""
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        body = {"type": "error", "error": {"type": error_type, "message": message}}
        return cls(status=status, body=body, headers=headers)


def count_tokens(body: dict[str, Any]) -> int:
    """The test server's token count of a request: words of the system prompt and of
    every message, plus 3 per message. Not a real tokenizer; a known rule to test by."""

    def words(content: Any) -> int:
        if isinstance(content, str):
            return len(content.split())
        if isinstance(content, list):
            return sum(words(b.get("text", "")) for b in content if isinstance(b, dict))
        return 0

    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    return words(body.get("system")) + sum(
        3 + words(m.get("content")) for m in messages if isinstance(m, dict)
    )


class AnthropicServer(OpenAIServer):
    """The server. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        default: Turn | None = None,
        *,
        models: tuple[str, ...] = ("claude-test",),
        api_key: str | None = None,
        model_page_cap: int = 1000,
        endless_models: bool = False,
        **kwargs: Any,
    ) -> None:
        """`api_key`: answer 401 to a request without exactly this `x-api-key`.
        `model_page_cap`: the most models on one page, whatever `limit` asks.
        `endless_models`: every page of the model list is new and says `has_more` (a
        hostile server a client must stop following)."""
        super().__init__(models=models, **kwargs)
        self.default_turn = default or Turn()
        self.api_key = api_key
        self.model_page_cap = model_page_cap
        self.endless_models = endless_models
        self._turns: deque[Turn] = deque()

    def push(self, *turns: Any) -> None:
        """Queue turns for the next `POST /v1/messages`, in order."""
        with self._lock:
            self._turns.extend(turns)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route.endswith("/messages")]

    @property
    def count_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route.endswith("/messages/count_tokens")]

    @property
    def model_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route.rstrip("/") == "/v1/models"]

    def _model_list(self, query: str) -> dict[str, Any]:
        """A page in Anthropic's shape: `data`, `has_more`, `first_id`, `last_id`."""
        models = self.models
        if self.endless_models:  # the page asked for, and one more after it, always
            after = dict(parse_qsl(query)).get("after_id", "model-0")
            start = int(after.rpartition("-")[2]) + 1 if after.startswith("model-") else 1
            models = tuple(f"model-{n}" for n in range(start, start + self.model_page_cap + 1))
        cap = self.model_page_cap
        ids, paging = model_page(models, query, "after_id", MODEL_PAGE_DEFAULT, cap)
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in ids
        ]
        return {"data": data, **paging}

    async def _route(self, record: RecordedRequest, conn: _Connection) -> str:
        path = record.route
        if self.api_key is not None and record.headers.get("x-api-key") != self.api_key:
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            await _send_json(conn, 401, {"type": "error", "error": error})
            return "complete"
        if record.method == "POST" and path.endswith("/messages/count_tokens"):
            body = record.body if isinstance(record.body, dict) else {}
            await _send_json(conn, 200, {"input_tokens": count_tokens(body)})
            return "complete"
        if record.method == "POST" and path.endswith("/messages"):
            with self._lock:
                turn = self._turns.popleft() if self._turns else self.default_turn
            if turn.status != 200 or turn.body is not None:
                data = json.dumps(turn.body or {}).encode()
                await conn.respond(turn.status, data, "application/json", turn.headers)
                return "complete"
            request = record.body if isinstance(record.body, dict) else {}
            refusal = _output_format_refusal(request, record.headers)
            if refusal is not None:
                error = {"type": "invalid_request_error", "message": refusal}
                await _send_json(conn, 400, {"type": "error", "error": error})
                return "complete"
            return await _MessageStream(turn, request, conn).run()
        return await super()._route(record, conn)


def _output_format_refusal(request: dict[str, Any], headers: dict[str, str]) -> str | None:
    """Why the API would refuse the request's structured-output fields, or None."""
    betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",")}
    if "output_format" in request and STRUCTURED_OUTPUTS_BETA not in betas:
        return "output_format: Extra inputs are not permitted"
    config = request.get("output_config")
    if config is None:
        return None
    form = config.get("format") if isinstance(config, dict) else None
    if form is None:
        return None
    if not isinstance(form, dict) or form.get("type") != "json_schema":
        return "output_config.format.type: Input should be 'json_schema'"
    if not isinstance(form.get("schema"), dict):
        return "output_config.format.schema: Field required"
    return None


class _MessageStream:
    """Writes one scripted Messages event stream."""

    def __init__(self, turn: Turn, request: dict[str, Any], conn: _Connection) -> None:
        self.turn = turn
        self.conn = conn
        self.model = str(request.get("model") or "claude-test")
        pieces = split_tokens(turn.reply)
        self.stop_reason = turn.stop_reason
        limit = request.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(pieces):
            pieces, self.stop_reason = pieces[:limit], "max_tokens"
        self.pieces = pieces
        self.thinking = split_tokens(turn.thinking)
        self.output_tokens = len(pieces) + len(self.thinking)

    async def run(self) -> str:
        t = self.turn
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        await self.conn.send(_head(200, {**headers, "Transfer-Encoding": "chunked"}))
        usage = {
            "input_tokens": t.input_tokens,
            "cache_creation_input_tokens": t.cache_creation_input_tokens,
            "cache_read_input_tokens": t.cache_read_input_tokens,
            "output_tokens": 1,
        }
        message: dict[str, Any] = {
            "id": "msg_llmchat_test",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        await self.event("message_start", {"message": message})
        await self.ping()
        index = 0
        if self.thinking:
            await self.block(index, {"type": "thinking", "thinking": ""})
            for piece in self.thinking:
                await self.delta(index, {"type": "thinking_delta", "thinking": piece})
            await self.delta(index, {"type": "signature_delta", "signature": "c2lnbmF0dXJl"})
            await self.event("content_block_stop", {"index": index})
            index += 1
            await self.ping()
        await self.block(index, {"type": "text", "text": ""})
        for number, piece in enumerate(self.pieces):
            if t.fault is not None and number == t.fault_after:
                return await self.fault()
            if t.usage_updates > 1 and number == len(self.pieces) // 2:
                for _ in range(t.usage_updates - 1):  # early, smaller counts
                    early = {"output_tokens": number + 1}
                    await self.event("message_delta", {"delta": {}, "usage": early})
            await self.delta(index, {"type": "text_delta", "text": piece})
        if t.fault is not None and t.fault_after >= len(self.pieces):
            return await self.fault()
        await self.event("content_block_stop", {"index": index})
        if self.stop_reason is not None:
            final = {"output_tokens": self.output_tokens}
            delta = {"stop_reason": self.stop_reason, "stop_sequence": None}
            await self.event("message_delta", {"delta": delta, "usage": final})
        if t.message_stop:
            await self.event("message_stop", {})
        await self.conn.end_body()
        return "complete"

    async def fault(self) -> str:
        t = self.turn
        if t.fault is Fault.DROP:
            self.conn.writer.transport.abort()
            return "dropped"
        if t.fault is Fault.STALL:
            await self.conn.stall()
            return "stalled"
        if t.fault is Fault.ERROR_EVENT:
            error = {"type": t.error_type, "message": t.error_message}
            await self.event("error", {"error": error})
        await self.conn.end_body()
        return "complete"

    async def block(self, index: int, content: dict[str, Any]) -> None:
        await self.event("content_block_start", {"index": index, "content_block": content})

    async def delta(self, index: int, delta: dict[str, Any]) -> None:
        await self.event("content_block_delta", {"index": index, "delta": delta})

    async def ping(self) -> None:
        if self.turn.pings:
            await self.event("ping", {})

    async def event(self, name: str, payload: dict[str, Any]) -> None:
        data = json.dumps({"type": name, **payload}, ensure_ascii=False)
        await self.conn.send_chunk(f"event: {name}\ndata: {data}\n\n".encode())
