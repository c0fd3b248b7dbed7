"""Messages and the facts recorded about each turn (status, usage, timing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from llmchat.core.params import SamplingParams


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
    STREAMING = "streaming"


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one turn. `estimated` is True when the server did not report them."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "completion": self.completion,
            "cached": self.cached,
            "estimated": self.estimated,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Usage | None:
        if not isinstance(data, dict):
            return None
        return cls(
            prompt=_int(data.get("prompt")),
            completion=_int(data.get("completion")),
            cached=_int(data.get("cached")),
            estimated=bool(data.get("estimated", False)),
        )


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

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, data: Any) -> Timing | None:
        if not isinstance(data, dict):
            return None
        values: dict[str, Any] = {}
        for key in cls.__slots__:
            raw = data.get(key)
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                values[key] = raw
        return cls(**values)


@dataclass(slots=True)
class Message:
    """One message in the history. Assistant messages carry the outcome of their turn."""

    role: Role
    content: str
    id: str = field(default_factory=new_id)
    parent: str | None = None
    ts: str = field(default_factory=now_iso)
    tokens: int | None = None
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

    @property
    def cut_off(self) -> bool:
        """The reply reached max_tokens: it is complete as a stream, but truncated."""
        return self.finish_reason == "length"

    def to_record(self) -> dict[str, Any]:
        """The session-file form of this message (see architecture.md)."""
        record: dict[str, Any] = {
            "type": "message",
            "id": self.id,
            "parent": self.parent,
            "role": str(self.role),
            "content": self.content,
            "ts": self.ts,
        }
        if self.tokens is not None:
            record["tokens"] = self.tokens
        if self.role is Role.ASSISTANT:
            record.update(
                status=str(self.status),
                backend=self.backend,
                model=self.model,
                params=self.params.to_dict() if self.params else None,
                usage=self.usage.to_dict() if self.usage else None,
                timing=self.timing.to_dict() if self.timing else None,
                cost_usd=self.cost_usd,
                error=self.error,
                finish_reason=self.finish_reason,
            )
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Message:
        """Build a message from a session record; raises ValueError on a wrong shape."""
        if not isinstance(record, dict):
            raise ValueError(f"message record is not an object: {type(record).__name__}")
        try:
            role = Role(record["role"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"message record has no valid role: {record.get('role')!r}") from exc
        content = record.get("content")
        if not isinstance(content, str):
            raise ValueError("message record has no text content")
        try:
            status = Status(record.get("status") or "complete")
        except ValueError:
            status = Status.INCOMPLETE
        return cls(
            role=role,
            content=content,
            id=_str(record.get("id")) or new_id(),
            parent=_str(record.get("parent")),
            ts=_str(record.get("ts")) or now_iso(),
            tokens=_int_or_none(record.get("tokens")),
            status=status,
            backend=_str(record.get("backend")),
            model=_str(record.get("model")),
            params=SamplingParams.from_dict(record["params"])
            if isinstance(record.get("params"), dict)
            else None,
            usage=Usage.from_dict(record.get("usage")),
            timing=Timing.from_dict(record.get("timing")),
            cost_usd=_number_or_none(record.get("cost_usd")),
            error=_str(record.get("error")),
            finish_reason=_str(record.get("finish_reason")),
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_or_none(value: Any) -> float | None:
    # bool is an int in Python, but `true` in a file is not a number of anything.
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
