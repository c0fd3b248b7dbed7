"""Typed events a backend stream yields; the TUI, the headless mode and the store read them.

A stream yields `Started`, then any number of `Delta`/`Reasoning`, then (once a 200
stream was read) one `RawEvents`, `UsageReport`/`ServerTimings` when the server sent
them, and ends with exactly one `Finished` or `Failed`. Before each HTTP request it
makes (one, or more when it adjusts the body and sends it again) a backend yields
`RequestSent`. A gateway may put `Retrying`, `Loading` and `FellBack` before
`Started`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from llmchat.core.params import SamplingParams
from llmchat.core.token_probs import TokenProb


class ErrorKind(StrEnum):
    """What went wrong, in terms that decide whether a retry can help."""

    CONNECT = "connect"
    """The server could not be reached."""
    TIMEOUT = "timeout"
    """No bytes for longer than the inactivity timeout."""
    DEADLINE = "deadline"
    """No headers and first token within the overall deadline, however the server
    trickled bytes meanwhile. Not retried: a retry would wait as long again."""
    AUTH = "auth"
    """401/403: the key is missing, wrong or lacks permission."""
    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    """429 insufficient_quota: retrying will not help."""
    BAD_REQUEST = "bad_request"
    CONTEXT_OVERFLOW = "context_overflow"
    NOT_FOUND = "not_found"
    SERVER = "server"
    """5xx or an overloaded server."""
    LOADING = "loading"
    """A local server is still loading its model (503)."""
    PROTOCOL = "protocol"
    """The response was not the stream we expected (HTML, bad JSON, huge line…)."""
    STREAM = "stream"
    """The server reported an error after the stream had started."""
    INCOMPLETE = "incomplete"
    """The stream ended without a finish reason or [DONE]."""


RETRYABLE = frozenset(
    {
        ErrorKind.CONNECT,
        ErrorKind.TIMEOUT,
        ErrorKind.RATE_LIMIT,
        ErrorKind.SERVER,
        ErrorKind.LOADING,
    }
)


@dataclass(frozen=True, slots=True)
class ChatError:
    """A failure, described for the user in one line. Never contains an API key."""

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after_s: float | None = None
    backend: str | None = None
    prompt_tokens: int | None = None
    """CONTEXT_OVERFLOW: the prompt size the server counted, when it said."""
    context_window: int | None = None
    """CONTEXT_OVERFLOW: the server's context window (llama.cpp `n_ctx`), when it said."""

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def one_line(self) -> str:
        where = f"{self.backend}: " if self.backend else ""
        code = f"HTTP {self.status} " if self.status else ""
        return f"{where}{code}{self.message}".strip()


@dataclass(frozen=True, slots=True)
class RequestSent:
    """One HTTP request of a turn as it goes out: the exact body, byte for byte.

    Reported for every attempt (a body adjusted and sent again, a retry), so a view can
    show what the server really received. The headers are shown with the API key
    written as the variable it comes from (`Bearer $OPENAI_API_KEY`), never the key, and
    the URL has no user:password and no token-like query values.
    """

    method: str
    url: str
    body: str
    """The JSON text sent, encoded as UTF-8 on the wire."""
    headers: tuple[tuple[str, str], ...] = ()
    """Name and value of each header, the key masked (see above). No key header: no key
    went out."""
    protocol: Literal["openai", "anthropic"] = "openai"
    """The wire protocol it was sent with (a replay or a fallback may use another than
    the session's)."""
    backend: str = ""
    """The user's name for the backend it went to."""

    def payload(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class DialsFitted:
    """The sampling dials were fitted to what the model accepts (a rule of the table, or
    one the server just taught with its 400, after which the body goes out again)."""

    model: str
    params: SamplingParams
    """What the server uses: clamped, unsent dials at neutral 1.0."""
    notes: tuple[str, ...]
    """One line each for the user; empty when nothing the user set was changed."""
    learnt: bool = False


@dataclass(frozen=True, slots=True)
class Started:
    backend: str
    model: str


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Probabilities:
    """The log-probabilities of the tokens just written, with their top alternatives
    (when the request asked for them: `ChatRequest.probabilities`)."""

    tokens: tuple[TokenProb, ...]


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Thinking text from reasoning models (`delta.reasoning_content`)."""

    text: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    prompt_tokens: int
    """Every prompt token, those read from or written to a prompt cache included."""
    completion_tokens: int
    cached_tokens: int = 0
    """Prompt tokens read from the server's prompt cache (cheaper)."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the prompt cache (Anthropic: dearer than plain input)."""


@dataclass(frozen=True, slots=True)
class ServerTimings:
    """llama.cpp's own prefill and decode figures from the final chunk."""

    prompt_n: int | None = None
    prompt_ms: float | None = None
    predicted_n: int | None = None
    predicted_ms: float | None = None
    cache_n: int | None = None


@dataclass(frozen=True, slots=True)
class RawEvents:
    """The first and last few server-sent events of a reply as received (each cut to a
    few KB, secrets masked), for the request inspector. Emitted once, just before the
    reply's usage and final event. Server text: show it only through `safe_text`."""

    first: tuple[str, ...]
    last: tuple[str, ...]
    """The last few, after `first` (none repeated); those between are not kept."""
    total: int
    """Events the reply carried in all."""


@dataclass(frozen=True, slots=True)
class Retrying:
    attempt: int
    delay_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class Loading:
    """A local server answered 503 "Loading model"; the gateway is waiting for it."""

    message: str


@dataclass(frozen=True, slots=True)
class FellBack:
    """The backend asked first failed before its first token (or its breaker is open):
    the gateway sends the request to the next backend of its fallback chain."""

    from_backend: str
    to_backend: str
    reason: str
    """The failure that made it move on, in one line."""


@dataclass(frozen=True, slots=True)
class Finished:
    reason: str
    """The server's finish_reason (stop, length, …)."""


@dataclass(frozen=True, slots=True)
class Failed:
    error: ChatError


StreamEvent = (
    RequestSent
    | DialsFitted
    | Started
    | Delta
    | Probabilities
    | Reasoning
    | UsageReport
    | ServerTimings
    | RawEvents
    | Retrying
    | Loading
    | FellBack
    | Finished
    | Failed
)
