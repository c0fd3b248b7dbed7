"""Messages and the facts recorded about each turn (status, usage, timing)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from llmchat.core.params import SamplingParams
from llmchat.core.token_probs import TokenProbs


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class Status(StrEnum):
    """How an assistant turn ended. Anything but COMPLETE keeps its partial text."""

    COMPLETE = "complete"
    CANCELLED = "cancelled"
    ERROR = "error"
    INCOMPLETE = "incomplete"
    INTERRUPTED = "interrupted"
    """llmchat itself stopped mid-reply (a crash, `kill -9`): the text of its last checkpoint."""
    STREAMING = "streaming"


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image attached to a message, as the session file names it: by the SHA-256 of
    its bytes, kept once in the image folder beside the sessions."""

    sha256: str
    media_type: str
    name: str
    """The file's name when it was attached (shown, never used as a path)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one turn. `estimated` is True when the server did not report them."""

    prompt: int = 0
    """Every prompt token, those read from or written to a prompt cache included."""
    completion: int = 0
    cached: int = 0
    """Prompt tokens read from the server's prompt cache."""
    estimated: bool = False
    cache_write: int = 0
    """Prompt tokens written to the prompt cache (Anthropic charges 1.25× for them)."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Client-side and (where the server reports them) server-side timings for one turn."""

    ttft_ms: float | None = None
    """Send to first token, as the client saw it."""
    total_ms: float | None = None
    """Send to last byte."""
    tok_s: float | None = None
    """Decode speed as the client saw it (completion tokens over first-to-last token)."""
    prefill_ms: float | None = None
    """Server's own prompt processing time (llama.cpp `timings.prompt_ms`)."""
    prefill_tokens: int | None = None
    decode_ms: float | None = None
    """Server's own generation time (llama.cpp `timings.predicted_ms`)."""
    decode_tokens: int | None = None
    cache_tokens: int | None = None
    """Prompt tokens the server reused from its KV cache (llama.cpp `timings.cache_n`)."""


@dataclass(slots=True)
class Message:
    """One message in the history. Assistant messages carry the outcome of their turn."""

    role: Role
    content: str
    id: str = field(default_factory=new_id)
    parent: str | None = None
    ts: str = field(default_factory=now_iso)
    tokens: int | None = None
    images: tuple[ImageRef, ...] = ()
    """Images attached to a user message."""
    tokenizer: str | None = None
    """What counted `tokens`: "tiktoken o200k_base", "estimate", … (None: not told,
    as in files written before it was recorded)."""
    status: Status = Status.COMPLETE
    backend: str | None = None
    model: str | None = None
    params: SamplingParams | None = None
    usage: Usage | None = None
    timing: Timing | None = None
    cost_usd: float | None = None
    error: str | None = None
    finish_reason: str | None = None
    """The server's reason for ending ("stop", "length" when max_tokens cut it, …)."""
    fell_back_from: str | None = None
    """The backend asked first, when it failed and `backend` (a fallback) answered."""
    probabilities: TokenProbs | None = None
    """Each token's log-probability and its top alternatives, when they were asked for."""
    resampled_at: int | None = None
    """The token (counted from 0) of a sibling reply this one was resampled from: the
    words before it are that reply's, the token there was chosen by the user."""

    @property
    def cut_off(self) -> bool:
        """The reply reached max_tokens: it is complete as a stream, but truncated."""
        return self.finish_reason == "length"


def own_last_model(messages: Iterable[Message], backend: str | None) -> str | None:
    """The model of the last reply that came from `backend` (the session's own): a
    replay or a fallback to another backend does not move the session, so its model
    must not be paired with the session's backend. A reply that names no backend (an
    older file) counts as the session's."""
    for message in reversed(list(messages)):
        if message.role is not Role.ASSISTANT or not message.model:
            continue
        if message.backend is None or backend is None or message.backend == backend:
            return message.model
    return None
