"""What a conversation writes down: one typed record per change, in the order they happen.

A `Conversation` hands these to its `RecordSink`; how they look in a session file (their
JSON keys, the format version, upgrades of older files) is the business of
`llmchat.store.session_format` alone. A `Message` is a record too (the message itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmchat.core.backend_record import BackendRecord
from llmchat.core.messages import Message, new_id, now_iso
from llmchat.core.params import SamplingParams


@dataclass(slots=True)
class SessionInfo:
    """The header of a session: who it talks to and how, and where it came from."""

    id: str = field(default_factory=new_id)
    created: str = field(default_factory=now_iso)
    title: str = ""
    backend: str | None = None
    model: str | None = None
    system: str = ""
    """The system prompt when the session started; later changes are `SystemChanged`."""
    forked_from: str | None = None
    """The session this one was forked from (its id)."""
    forked_at: str | None = None
    """The message of that session the fork starts after."""
    kind: str | None = None
    """The backend's wire protocol; with `base_url` or `model_file`, where to reconnect."""
    base_url: str | None = None
    """The API root without secrets (see BackendRecord); None in older files."""
    model_file: str | None = None
    """The GGUF file of a llama-server llmchat started."""

    @property
    def backend_record(self) -> BackendRecord:
        return BackendRecord(self.backend, self.kind, self.base_url, self.model, self.model_file)

    def use_backend(self, record: BackendRecord) -> None:
        self.backend, self.kind, self.base_url = record.name, record.kind, record.base_url
        self.model, self.model_file = record.model, record.model_file


@dataclass(frozen=True, slots=True)
class SessionHeader:
    """The first record of a session: its facts and the parameters it started with."""

    info: SessionInfo
    params: SamplingParams


@dataclass(frozen=True, slots=True)
class ParamsChanged:
    """The sampling parameters for the next requests."""

    params: SamplingParams
    ts: str = field(default_factory=now_iso)


@dataclass(frozen=True, slots=True)
class TitleChanged:
    title: str
    ts: str = field(default_factory=now_iso)


@dataclass(frozen=True, slots=True)
class SystemChanged:
    """The system prompt for the next requests ("" for none)."""

    system: str
    ts: str = field(default_factory=now_iso)


@dataclass(frozen=True, slots=True)
class CostKnown:
    """A reply's price, known after the reply was recorded (the price list loads late)."""

    id: str
    cost_usd: float
    ts: str = field(default_factory=now_iso)


@dataclass(frozen=True, slots=True)
class BackendChanged:
    """The session went on with another backend."""

    backend: BackendRecord
    ts: str = field(default_factory=now_iso)


@dataclass(frozen=True, slots=True)
class ReplyCheckpoint:
    """Text a reply gained while it streamed, since its previous checkpoint.

    The reply's final `Message` (same `id`) supersedes its checkpoints; checkpoints with no
    final record (a crash, `kill -9`) are read back as one interrupted reply.
    """

    id: str
    parent: str | None
    text: str
    ts: str = field(default_factory=now_iso)


@dataclass(frozen=True, slots=True)
class BranchChosen:
    """The user switched branch: the next turn follows on from message `leaf`, and a
    resumed session reopens on it."""

    leaf: str
    ts: str = field(default_factory=now_iso)


Record = (
    SessionHeader
    | Message
    | ParamsChanged
    | TitleChanged
    | SystemChanged
    | CostKnown
    | BackendChanged
    | ReplyCheckpoint
    | BranchChosen
)
"""Everything a `RecordSink` is given."""
