"""What the engine tells a front end about a turn, besides the stream's own events
(`RequestSent`, `Delta`, `Started`, `Retrying`, `Loading`, … from core.events, passed on
as they come)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from llmchat.core.events import StreamEvent
from llmchat.core.messages import Message
from llmchat.core.request import ChatRequest
from llmchat.core.structured import Checked


@dataclass(frozen=True, slots=True)
class Refused:
    """Not sent: the message does not fit in the window. Nothing was saved."""

    reason: str


@dataclass(frozen=True, slots=True)
class UserAdded:
    """The user's message is in the conversation (and saved, unless SaveFailed follows)."""

    message: Message


@dataclass(frozen=True, slots=True)
class RequestPlanned:
    """What goes out: the compiled request, and the oldest history it leaves out."""

    request: ChatRequest
    skipped: int
    """Oldest history messages left out so the request fits the window."""
    reserve_clipped: bool
    """max_tokens was lowered to what the window has left."""


@dataclass(frozen=True, slots=True)
class SaveFailed:
    """A record could not be written; it is kept in memory and written with the next."""

    reason: str


@dataclass(frozen=True, slots=True)
class ReplyEnded:
    """The reply is over (complete, cancelled, failed, cut) and recorded."""

    message: Message
    checked: Checked | None = None
    """Schema mode: whether the reply follows the schema."""


EngineEvent = Refused | UserAdded | RequestPlanned | SaveFailed | ReplyEnded | StreamEvent
Reporter = Callable[[EngineEvent], Awaitable[None]]
"""How a front end hears of a turn: awaited for each event, in order."""
