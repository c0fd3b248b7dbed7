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
    prompt_tokens: int | None = None
    """The prompt's tokens as the plan counted them (None: not counted)."""
    counted_by: str = ""
    """What counted them: "tiktoken o200k_base", or "estimate" (the counter of the
    model it went to: a replay's target, not the session's)."""
    exact: bool = False
    """The count is the tokenizer's own (False: an estimate, as with images)."""


@dataclass(frozen=True, slots=True)
class SaveFailed:
    """A record could not be written; it is kept in memory and written with the next."""

    error: str
    """What failed, as PersistError says it ("could not save the session: …")."""

    @property
    def reason(self) -> str:
        """The notice for a front end that writes again later (the app). `-p` has no
        later write: it says `error` once, at the end, with what became of the turn."""
        return f"{self.error} — kept in memory; it is saved on the next write."


@dataclass(frozen=True, slots=True)
class ReplyEnded:
    """The reply is over (complete, cancelled, failed, cut) and recorded."""

    message: Message
    checked: Checked | None = None
    """Schema mode: whether the reply follows the schema."""


class OutputLost(Exception):
    """Raised by a reporter that can no longer show the reply (`-p` with its stdout
    closed or full): nobody will read the rest, so the engine closes the stream and
    saves what came as interrupted, with `reason` as its error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


EngineEvent = Refused | UserAdded | RequestPlanned | SaveFailed | ReplyEnded | StreamEvent
Reporter = Callable[[EngineEvent], Awaitable[None]]
"""How a front end hears of a turn: awaited for each event, in order."""
