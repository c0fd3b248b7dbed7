"""A loopback OpenAI Chat Completions server for tests, benchmarks and manual runs.

It speaks HTTP/1.1 by hand over asyncio sockets, so every fault is exact: a status with
any body and headers, an error event mid-stream, old llama.cpp's `error:` line, a
connection dropped mid-body, a stall, an endless line, an HTML page. It runs its own event
loop in a background thread, so sync tests, async tests and Textual `run_test()` tests
all use it the same way:

    with OpenAIServer() as server:
        server.push(Script(reply="Hi!"), Script.http_error(429, "slow down"))
        backend = OpenAIBackend("test", server.base_url, "test-model")
        ...
        assert server.requests[0].body["temperature"] == 0.2

Each POST to /v1/chat/completions takes the next queued `Script`, or the default one.
Other routes (`/v1/models`, llama-server's `/props`, `/tokenize`, …) can be given a
script of their own with `server.answer(path, script)`: a slowloris `/props`, an echo.
Routes are matched on the path without its query, which is recorded as sent.
Every request is recorded (`RecordedRequest`), including whether the client hung up
before the response was fully sent (`client_disconnected`): that is how tests see that
a cancel really closed the connection. GET /v1/models and /health answer too; with
`model_page_size` the model list comes in pages (`has_more`, `last_id`, `after=`), as
some OpenAI-compatible servers send it.

By hand (for the TUI and for benchmarks):

    python -m tests.support.openai_server --port 8000 --tokens 2000 --rate 0 [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import socket
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import parse_qsl

from tests.support.replies import markdown_reply, prose_reply, split_tokens

DEFAULT_REPLY = "Hello from the llmchat test server."
CAPTIVE_PORTAL = (
    "<!DOCTYPE html><html><head><title>Hotel Wi-Fi \x1b[31mLogin</title></head>"
    "<body><h1>Welcome!</h1><p>Please accept the terms to continue.</p></body></html>"
)
"""A captive-portal page, with an escape sequence a client must not show raw."""


class Fault(StrEnum):
    """What goes wrong after `Script.fault_after` content chunks of a 200 stream."""

    ERROR_EVENT = "error_event"
    """`data: {"error": …}`, then the body ends without [DONE] (OpenAI, OpenRouter)."""
    LLAMA_ERROR_LINE = "llama_error_line"
    """Old llama.cpp's non-standard `error: {…}` line, then the body ends."""
    DROP = "drop"
    """The connection is closed mid-body (an incomplete chunked body)."""
    END = "end"
    """The body ends cleanly but with no finish_reason and no [DONE]."""
    STALL = "stall"
    """Nothing more is sent; the connection stays open until the client leaves."""
    INVALID_JSON = "invalid_json"
    """One `data:` line that is not JSON; the stream then carries on."""
    ENDLESS_LINE = "endless_line"
    """A `data:` line that never ends, until the client hangs up: a client whose memory
    is not bounded never finishes reading it."""
    COMMENT_BOMB = "comment_bomb"
    """`Script.bomb_bytes` of `:` comment lines (endless if 0), then the stream goes on.
    With `gzip` it is a few KB on the wire for each MB it decodes to."""


UsagePlacement = Literal["final", "finish", "every", "none"]


@dataclass
class Script:
    """How the server answers one chat request. The defaults are a well-behaved llama.cpp."""

    # The reply.
    reply: str = DEFAULT_REPLY
    reasoning: str = ""
    """Sent first as `delta.reasoning_content` chunks, like a reasoning model."""
    finish_reason: str | None = "stop"
    """None: no finish chunk at all."""
    # How it is cut and paced.
    tokens_per_chunk: int = 1
    byte_writes: bool = False
    """Write the response one byte per TCP send, splitting lines and UTF-8 anywhere."""
    first_delay: float = 0.0
    """Seconds between the response headers and the first chunk (time to first token)."""
    rate: float = 0.0
    """Tokens per second; 0 sends as fast as possible."""
    # What the chunks carry.
    usage: UsagePlacement = "final"
    """final: a `choices: []` chunk, only when the client asked with stream_options (new
    servers); finish: on the finish chunk (older builds); every: on every chunk; none."""
    usage_choices: Literal["empty", "null", "missing"] = "empty"
    """How the final usage chunk spells "no choices"."""
    prompt_tokens: int = 12
    cached_tokens: int = 0
    timings: bool = False
    """Send llama.cpp `timings` on the last chunk."""
    timings_cache_n: bool = True
    """False: leave `cache_n` out of the timings, like old llama.cpp builds."""
    null_first_content: bool = True
    """The first chunk is `{"role": "assistant", "content": null}`, as llama.cpp sends."""
    # Framing.
    crlf: bool = False
    comments: bool = False
    """A `: keep-alive` comment line before every event."""
    done: bool = True
    done_blank_line: bool = True
    """False: `data: [DONE]` ends the body without its blank line."""
    # Answers other than a stream.
    status: int = 200
    body: str | bytes | dict[str, Any] | None = None
    """A whole non-stream body (a dict is sent as JSON). Set with a status for errors."""
    content_type: str | None = None
    """Overrides the content type of the body or of the stream."""
    headers: dict[str, str] = field(default_factory=dict)
    reject_stream_options: bool = False
    """Answer 400 to a request carrying `stream_options`; this script then serves the
    retry without it (some hosts reject the field)."""
    # Faults in the stream.
    fault: Fault | None = None
    fault_after: int = 0
    """Content chunks sent before the fault."""
    error_message: str = "the model crashed"
    bomb_bytes: int = 0
    """COMMENT_BOMB: bytes of `:\\n` lines; 0 sends them until the client leaves."""
    # Hostile servers.
    endless: bool = False
    """Ignore max_tokens and send the reply's tokens again and again, never finishing."""
    header_delay: float = 0.0
    """Slowloris: send the response head one byte every this many seconds."""
    echo_header: str | None = None
    """Answer `status` with a JSON error whose message quotes this request header
    (`auth=<value>` for `authorization`), like a debugging proxy echoing credentials."""
    gzip: bool = False
    """`Content-Encoding: gzip`, each event flushed so it can be read at once."""
    coalesce: bool = False
    """Hold the whole body and write it in one send, so a client reads it in one go."""
    completion_tokens: Any = None
    """Reported instead of the real completion count (-5, NaN, 10**30: hostile usage)."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """`delta.tool_calls` entries sent after the reply (set finish_reason="tool_calls")."""
    logprobs: Any = None
    """Sent as every content chunk's `logprobs` instead of made-up ones, asked or not
    (hostile probabilities)."""

    @classmethod
    def generated(cls, tokens: int, *, markdown: bool = False, **fields: Any) -> Script:
        """A reply of `tokens` tokens of prose, or of at least that many in rich Markdown."""
        return cls(reply=markdown_reply(tokens) if markdown else prose_reply(tokens), **fields)

    @classmethod
    def http_error(
        cls, status: int, message: str, *, headers: dict[str, str] | None = None, **error: Any
    ) -> Script:
        """An OpenAI/llama.cpp-style JSON error: `{"error": {"message": …, **error}}`."""
        error.setdefault("type", "error")
        body = {"error": {"message": message, **error}}
        return cls(status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def html(cls, status: int = 200, page: str = CAPTIVE_PORTAL) -> Script:
        return cls(status=status, body=page, content_type="text/html; charset=utf-8")


@dataclass
class RecordedRequest:
    """One request as the server received it, and how its response ended."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any
    """The parsed JSON body, or None."""
    raw: bytes = field(default=b"", repr=False)
    """The body's bytes exactly as received."""
    outcome: str | None = None
    """complete | disconnected (the client left first) | dropped (a DROP fault)."""
    _ended: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait_ended(self, timeout: float = 5.0) -> str | None:
        """Block until the response is over (the server runs in its own thread)."""
        self._ended.wait(timeout)
        return self.outcome

    @property
    def route(self) -> str:
        """The path without its query."""
        return self.path.partition("?")[0]

    @property
    def query(self) -> str:
        return self.path.partition("?")[2]

    @property
    def client_disconnected(self) -> bool:
        return self.wait_ended() == "disconnected"


class _ClientGone(Exception):
    """The client closed its end before the response was complete."""


class _Connection:
    """One accepted socket: sends, paces, and notices when the client hangs up."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.byte_writes = False
        self.compressor: Any = None
        """A zlib compressor for a gzip body (`Script.gzip`)."""
        self.held: bytearray | None = None
        """The body so far, while it is held for one send (`Script.coalesce`)."""
        # Started once the request is read: any later read is EOF (clients don't pipeline).
        self.gone = asyncio.ensure_future(self._watch(reader))

    @staticmethod
    async def _watch(reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass

    async def send(self, data: bytes) -> None:
        if self.gone.done():
            raise _ClientGone
        pieces = [data[i : i + 1] for i in range(len(data))] if self.byte_writes else [data]
        try:
            for piece in pieces:
                self.writer.write(piece)
                await self.writer.drain()
        except ConnectionError as exc:
            raise _ClientGone from exc

    async def send_chunk(self, data: bytes, *, flush: bool = True) -> None:
        """One piece of a `Transfer-Encoding: chunked` body (compressed for gzip; `flush`
        False lets the compressor pack it with what follows)."""
        if self.compressor is not None:
            data = self.compressor.compress(data)
            if flush:
                data += self.compressor.flush(zlib.Z_SYNC_FLUSH)
        if not data:
            return
        framed = b"%x\r\n%s\r\n" % (len(data), data)
        if self.held is not None:
            self.held += framed
        else:
            await self.send(framed)

    async def end_body(self) -> None:
        """The last chunk (and the rest of a gzip body, and a held body)."""
        if self.compressor is not None:
            rest, self.compressor = self.compressor.flush(), None
            await self.send_chunk(rest)
        held, self.held = self.held, None
        await self.send(bytes(held or b"") + b"0\r\n\r\n")

    async def send_head(self, head: bytes, delay: float) -> None:
        if delay <= 0:
            await self.send(head)
            return
        for index in range(len(head)):
            await self.send(head[index : index + 1])
            await self.pause(delay)

    async def pause(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.wait([self.gone], timeout=seconds)
        if self.gone.done():
            raise _ClientGone

    async def stall(self) -> None:
        await asyncio.shield(self.gone)
        raise _ClientGone

    async def respond(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str],
        *,
        header_delay: float = 0.0,
    ) -> None:
        """A whole (non-stream) response, written in pieces so a hang-up is noticed;
        with `header_delay`, its head one byte at a time (slowloris)."""
        head = _head(
            status, {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}
        )
        await self.send_head(head, header_delay)
        for start in range(0, len(body), 65536):
            await self.send(body[start : start + 65536])


def logprobs_of(pieces: list[str], index: int, top: int) -> dict[str, Any]:
    """Made-up but consistent log-probabilities for the tokens of one chunk, as OpenAI
    and llama-server send them: the chosen token is the most likely, with probability
    0.9, 0.6 or 0.3 in turn, and `top` alternatives of falling probability."""
    content = []
    for offset, piece in enumerate(pieces):
        chosen = (0.9, 0.6, 0.3)[(index + offset) % 3]
        rest = 1.0 - chosen
        alternatives = [{"token": piece, "logprob": math.log(chosen), "bytes": None}]
        for rank in range(1, top):
            share = rest / 2**rank
            alternatives.append(
                {"token": f"{piece.strip() or '_'}~{rank}", "logprob": math.log(share)}
            )
        content.append(
            {
                "token": piece,
                "logprob": math.log(chosen),
                "bytes": list(piece.encode()),
                "top_logprobs": alternatives[:top],
            }
        )
    return {"content": content}


def _head(status: int, headers: dict[str, str]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"  # 529 and friends
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join([*lines, "Connection: close", "", ""])).encode("latin-1")


class OpenAIServer:
    """The server. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        default: Script | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: tuple[str, ...] = ("test-model",),
        picky: dict[str, Picky] | None = None,
        model_page_size: int | None = None,
    ) -> None:
        """`picky` names models that refuse sampling dials, as today's hosted ones do.
        `model_page_size`: list the models that many at a time (None: all at once)."""
        self.picky = dict(picky or {})
        self.model_page_size = model_page_size
        self.default = default or Script()
        self.host = host
        self.port = port
        self.models = models
        self._scripts: deque[Script] = deque()
        self._answers: dict[str, Script] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._startup_error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def push(self, *scripts: Script) -> None:
        """Queue scripts for the next chat requests, in order."""
        with self._lock:
            self._scripts.extend(scripts)

    def answer(self, path: str, script: Script) -> None:
        """Answer every request to `path` (without query, e.g. "/props") with `script`'s
        status, body, headers, `header_delay` and `echo_header`, instead of the usual."""
        with self._lock:
            self._answers[path] = script

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route.endswith("/chat/completions")]

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="openai-test-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def stop(self) -> None:
        """Close the listener, cancel open responses (stalls included) and join the thread."""
        thread, self._thread = self._thread, None
        if thread is None or not thread.is_alive():
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the thread that called start()
            self._startup_error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    # -- one connection ----------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:  # so byte_writes really leave as separate TCP segments
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        record: RecordedRequest | None = None
        connection: _Connection | None = None
        try:
            record = await _read_request(reader)
            if record is None:
                return
            with self._lock:
                self._requests.append(record)
            connection = _Connection(reader, writer)
            record.outcome = await self._route(record, connection)
        except _ClientGone:
            if record is not None:
                record.outcome = "disconnected"
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            if connection is not None:
                connection.gone.cancel()
            writer.close()
            if record is not None:
                record._ended.set()
            self._tasks.discard(task)

    async def _route(self, record: RecordedRequest, conn: _Connection) -> str:
        path = record.route
        with self._lock:
            answer = self._answers.get(path)
        if answer is not None:
            await _send_script(conn, answer, record)
        elif record.method == "GET" and path.rstrip("/") in ("/v1/models", "/models"):
            await _send_json(conn, 200, self._model_list(record.query))
        elif record.method == "GET" and path == "/health":
            await _send_json(conn, 200, {"status": "ok"})
        elif record.method == "POST" and path.endswith("/chat/completions"):
            return await self._chat(record, conn)
        else:
            error = {"message": f"no route {record.method} {record.path}", "type": "not_found"}
            await _send_json(conn, 404, {"error": error})
        return "complete"

    def _model_list(self, query: str) -> dict[str, Any]:
        entries = [{"id": m, "object": "model", "owned_by": "llmchat-test"} for m in self.models]
        if self.model_page_size is None:
            return {"object": "list", "data": entries}
        size = self.model_page_size
        ids, paging = model_page(self.models, query, "after", size, size)
        return {"object": "list", "data": [e for e in entries if e["id"] in ids], **paging}

    def _next_script(self) -> Script:
        with self._lock:
            return self._scripts.popleft() if self._scripts else self.default

    async def _chat(self, record: RecordedRequest, conn: _Connection) -> str:
        request = record.body if isinstance(record.body, dict) else {}
        refusal = _refusal(self.picky.get(str(request.get("model"))), request)
        if refusal is not None:  # answered before any script is used up
            await _send_json(conn, 400, {"error": refusal})
            return "complete"
        script = self._next_script()
        conn.byte_writes = script.byte_writes
        if script.reject_stream_options and "stream_options" in request:
            with self._lock:
                self._scripts.appendleft(script)  # it also serves the retry
            error = {
                "message": "Unrecognized request argument supplied: stream_options",
                "type": "invalid_request_error",
                "param": "stream_options",
                "code": None,
            }
            await _send_json(conn, 400, {"error": error})
            return "complete"
        if script.status != 200 or script.body is not None or script.echo_header:
            await _send_script(conn, script, record)
            return "complete"
        return await _Stream(script, request, conn).run()


Picky = Literal["no_dials", "one_dial"]
"""no_dials: a GPT-5-style model, refusing temperature and top_p other than 1 (naming
the `param`); one_dial: a recent Claude, refusing temperature and top_p together."""


def _refusal(picky: Picky | None, request: dict[str, Any]) -> dict[str, Any] | None:
    if picky == "no_dials":
        for dial in ("temperature", "top_p"):
            if dial in request and request[dial] != 1:
                message = (
                    f"Unsupported value: '{dial}' does not support {request[dial]} with this "
                    "model. Only the default (1) value is supported."
                )
                return {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": dial,
                    "code": "unsupported_value",
                }
    if picky == "one_dial" and "temperature" in request and "top_p" in request:
        return {
            "type": "invalid_request_error",
            "message": "`temperature` and `top_p` cannot both be specified for this model. "
            "Please use only one.",
        }
    return None


class _Stream:
    """Writes one scripted event stream."""

    def __init__(self, script: Script, request: dict[str, Any], conn: _Connection) -> None:
        self.script = script
        self.conn = conn
        self.model = str(request.get("model") or "test-model")
        options = request.get("stream_options")
        self.include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self.eol = "\r\n" if script.crlf else "\n"
        pieces = split_tokens(script.reply)
        # Like a real server: stop at max_tokens and say why.
        self.finish_reason = script.finish_reason
        limit = request.get("max_tokens", request.get("max_completion_tokens"))
        if isinstance(limit, int) and 0 < limit < len(pieces) and not script.endless:
            pieces = pieces[:limit]
            self.finish_reason = "length"
        n = max(1, script.tokens_per_chunk)
        self.chunk_pieces = [pieces[i : i + n] for i in range(0, len(pieces), n)]
        self.chunks = ["".join(chunk) for chunk in self.chunk_pieces]
        top = request.get("top_logprobs")
        self.top_logprobs = (
            (top if isinstance(top, int) else 20) if request.get("logprobs") is True else None
        )
        self.thinking = split_tokens(script.reasoning)
        self.completion_tokens = len(pieces) + len(self.thinking)

    async def run(self) -> str:
        s, conn = self.script, self.conn
        headers = {
            "Content-Type": s.content_type or "text/event-stream",
            "Cache-Control": "no-cache",
            "Transfer-Encoding": "chunked",
            **({"Content-Encoding": "gzip"} if s.gzip else {}),
            **s.headers,
        }
        await conn.send_head(_head(200, headers), s.header_delay)
        if s.gzip:
            conn.compressor = zlib.compressobj(wbits=31)
        if s.coalesce:
            conn.held = bytearray()
        await conn.pause(s.first_delay)
        await self.event(
            self.chunk({"role": "assistant", "content": None if s.null_first_content else ""})
        )
        for piece in self.thinking:
            await self.event(self.chunk({"reasoning_content": piece}))
        gap = s.tokens_per_chunk / s.rate if s.rate > 0 else 0.0
        chunks = itertools.cycle(self.chunks) if s.endless else self.chunks
        for index, text in enumerate(chunks):
            if s.fault is not None and index == s.fault_after and await self.fault():
                return "dropped" if s.fault is Fault.DROP else "complete"
            if index:
                await conn.pause(gap)
            content = self.chunk({"content": text})
            if s.logprobs is not None:
                content["choices"][0]["logprobs"] = s.logprobs
            elif self.top_logprobs is not None and not s.endless:
                content["choices"][0]["logprobs"] = logprobs_of(
                    self.chunk_pieces[index], index, self.top_logprobs
                )
            await self.event(content)
        if s.fault is not None and s.fault_after >= len(self.chunks) and await self.fault():
            return "dropped" if s.fault is Fault.DROP else "complete"
        for call in s.tool_calls:
            await self.event(self.chunk({"content": None, "tool_calls": [call]}))
        final_usage = s.usage == "final" and self.include_usage
        if self.finish_reason is not None:
            usage = s.usage in ("finish", "every")
            await self.event(self.chunk({}, self.finish_reason, usage, timings=not final_usage))
        if final_usage:
            last = self.chunk(None, usage=True, timings=True)
            if s.usage_choices == "null":
                last["choices"] = None
            elif s.usage_choices == "missing":
                del last["choices"]
            await self.event(last)
        if s.done:
            await self.line("data: [DONE]" + (self.eol * 2 if s.done_blank_line else self.eol))
        await conn.end_body()
        return "complete"

    def chunk(
        self,
        delta: dict[str, Any] | None,
        finish: str | None = None,
        usage: bool | None = None,
        timings: bool = False,
    ) -> dict[str, Any]:
        s = self.script
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        chunk: dict[str, Any] = {
            "id": "chatcmpl-llmchat-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
        }
        if usage or s.usage == "every":
            details = {"cached_tokens": s.cached_tokens}
            completion = self.completion_tokens
            if s.completion_tokens is not None:
                completion = s.completion_tokens
            chunk["usage"] = {
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": s.prompt_tokens + completion,
                "prompt_tokens_details": details,
            }
        elif s.usage != "none":
            chunk["usage"] = None
        if timings and s.timings:
            chunk["timings"] = self.timings()
        return chunk

    def timings(self) -> dict[str, Any]:
        s = self.script
        prompt_n = s.prompt_tokens - s.cached_tokens
        # Decode time as the pacing implies (or a nominal 250 ms when sent at once).
        decode_ms = 1000.0 * self.completion_tokens / s.rate if s.rate > 0 else 250.0
        timings: dict[str, Any] = {
            "prompt_n": prompt_n,
            "prompt_ms": 12.5,
            "prompt_per_second": prompt_n / 0.0125,
            "predicted_n": self.completion_tokens,
            "predicted_ms": decode_ms,
            "predicted_per_second": self.completion_tokens / (decode_ms / 1000.0),
        }
        if s.timings_cache_n:
            timings["cache_n"] = s.cached_tokens
        return timings

    async def event(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False)
        if any("\ud800" <= char <= "\udfff" for char in data):
            # A lone surrogate cannot be UTF-8: send it as JSON's \ud800 escape, which a
            # JSON decoder turns back into the lone surrogate (as real servers can).
            data = json.dumps(payload)
        await self.line(f"data: {data}{self.eol}{self.eol}")

    async def line(self, text: str) -> None:
        prefix = f": keep-alive{self.eol}" if self.script.comments else ""
        await self.conn.send_chunk((prefix + text).encode())

    async def fault(self) -> bool:
        """Produce the script's fault; True when it ended the response."""
        s, conn = self.script, self.conn
        error = {"code": 500, "message": s.error_message, "type": "server_error"}
        match s.fault:
            case Fault.ERROR_EVENT:
                await self.event({"error": error})
            case Fault.LLAMA_ERROR_LINE:
                await conn.send_chunk(f"error: {json.dumps(error)}{self.eol}{self.eol}".encode())
            case Fault.DROP:
                conn.writer.transport.abort()
                return True
            case Fault.STALL:
                await conn.stall()
            case Fault.INVALID_JSON:
                await self.line(f'data: {{"choices": [{{"delta": oops{self.eol}{self.eol}')
                return False
            case Fault.ENDLESS_LINE:
                await conn.send_chunk(b"data: ")
                while True:
                    await conn.send_chunk(b"x" * 65536)
            case Fault.COMMENT_BOMB:
                await self.bomb()
                return False
        await conn.end_body()  # ERROR_EVENT, LLAMA_ERROR_LINE, END: a clean end
        return True

    async def bomb(self) -> None:
        """`:` lines, a MiB at a time, compressed together (the ratio makes the bomb)."""
        piece = b":\n" * (512 * 1024)
        left = self.script.bomb_bytes or None
        while left is None or left > 0:
            size = len(piece) if left is None else min(left, len(piece))
            await self.conn.send_chunk(piece[:size], flush=False)
            if left is not None:
                left -= size
            elif self.conn.held is None:
                await self.conn.pause(0)
        await self.conn.send_chunk(b"")  # flush what the compressor holds


async def _send_script(conn: _Connection, script: Script, record: RecordedRequest) -> None:
    """A script's whole (non-stream) answer: its body, or the echo of a request header."""
    body = script.body
    if script.echo_header:
        name = script.echo_header.lower()
        label = "auth" if name == "authorization" else name
        echoed = f"{script.error_message} ({label}={record.headers.get(name, '')})"
        body = {"error": {"message": echoed, "type": "invalid_request_error"}}
    if isinstance(body, dict):
        data, kind = json.dumps(body).encode(), "application/json"
    else:
        data = body.encode() if isinstance(body, str) else body or b""
        kind = "text/plain; charset=utf-8"
    await conn.respond(
        script.status,
        data,
        script.content_type or kind,
        script.headers,
        header_delay=script.header_delay,
    )


def model_page(
    models: tuple[str, ...], query: str, cursor: str, default: int, cap: int
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The ids of the page of `models` a query asks for (its `limit`, else `default`, at
    most `cap`, after the id its `cursor` parameter names), and the paging fields
    `has_more`, `first_id`, `last_id` to send with them."""
    asked = dict(parse_qsl(query))
    try:
        count = max(1, min(int(asked.get("limit", default)), cap))
    except ValueError:
        count = default
    after = asked.get(cursor)
    start = models.index(after) + 1 if after in models else 0
    ids = models[start : start + count]
    paging = {
        "has_more": start + count < len(models),
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
    }
    return ids, paging


async def _send_json(conn: _Connection, status: int, payload: Any) -> None:
    await conn.respond(status, json.dumps(payload).encode(), "application/json", {})


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    """Read one request (head and Content-Length body); None if the client sent nothing."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return RecordedRequest(method=method, path=path, headers=headers, body=body, raw=raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.openai_server",
        description="A local OpenAI-compatible server streaming scripted replies.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--tokens", type=int, default=200, help="reply length in tokens")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="tokens per second (0 = as fast as possible)"
    )
    parser.add_argument("--tokens-per-chunk", type=int, default=1)
    parser.add_argument(
        "--first-delay", type=float, default=0.0, help="seconds before the first token"
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="reply in Markdown with lists, tables and code fences",
    )
    parser.add_argument("--reply-file", type=Path, help="send this file's text as the reply")
    parser.add_argument("--model", default="test-model")
    args = parser.parse_args(argv)
    if args.reply_file is not None:
        reply = args.reply_file.read_text(encoding="utf-8")
    else:
        reply = markdown_reply(args.tokens) if args.markdown else prose_reply(args.tokens)
    script = Script(
        reply=reply,
        rate=args.rate,
        tokens_per_chunk=args.tokens_per_chunk,
        first_delay=args.first_delay,
        timings=True,
    )
    with OpenAIServer(script, host=args.host, port=args.port, models=(args.model,)) as server:
        print(
            f"serving {server.base_url} ({len(split_tokens(reply))} tokens a reply); Ctrl-C stops",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
