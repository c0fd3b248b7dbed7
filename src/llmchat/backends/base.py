"""What every backend offers the gateway."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from llmchat.core.events import ChatError, StreamEvent
from llmchat.core.request import ChatRequest


class Backend(Protocol):
    """A wire protocol bound to one server and model.

    `stream()` never raises for server or network faults: it ends with a `Failed` event
    instead. Closing the iterator early (cancel) closes the HTTP response, which makes
    the server stop generating.
    """

    name: str
    """The user's name for this backend (`[backends.NAME]`), shown in the UI."""
    model: str
    """The model requests go to unless a request names another."""

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]: ...

    async def aclose(self) -> None: ...


class BackendError(Exception):
    """Raised by a backend's one-shot calls (listing models, …), never by `stream()`."""

    def __init__(self, error: ChatError) -> None:
        super().__init__(error.one_line())
        self.error = error
