"""What the chat screen says about its backend's health: whether its circuit breaker is
open (and for how long), whether a fallback answered instead, and which backend is
answering now (its idle limit is the one a stall counts towards).

The status bar is redrawn while a reply streams, so the alarm is worked out here, once a
second and after each turn, and handed to it as a finished string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmchat.core.safe_text import one_line
from llmchat.gateway.breaker import BreakerState
from llmchat.gateway.known import BreakerView, KnownBackend
from llmchat.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from llmchat.gateway.gateway import Gateway
    from llmchat.tui.screens.chat import ChatScreen

CHECK_EVERY_S = 1.0
"""How often the alarm is worked out again: its count is in whole seconds."""


class BreakerWatch:
    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self._answered_by: tuple[Gateway, str] | None = None
        """The session's gateway, and the fallback that answered its last request."""

    def start(self) -> None:
        self.chat.set_interval(CHECK_EVERY_S, self.show, name="breaker alarm")

    def started(self, backend: str) -> None:
        """A backend began to answer (`Started`): the session's own, or a fallback."""
        gateway = self.chat.context.gateway
        primary = self.chat.context.known.about(gateway)
        own = primary.name if primary is not None else self.chat.context.backend_name
        self._answered_by = None if backend == own else (gateway, backend)
        self.show()

    def answering(self) -> KnownBackend | None:
        """The backend answering (or last to answer) this session's requests."""
        context = self.chat.context
        chain = context.known.chain_of(context.gateway)
        fallback = self._fallback()
        for known in chain:
            if fallback is None or known.name == fallback:
                return known
        return None

    def _fallback(self) -> str | None:
        answered = self._answered_by
        if answered is None or answered[0] is not self.chat.context.gateway:
            return None  # the session switched backends since
        return answered[1]

    def alarm(self) -> str | None:
        """What the status bar says, if anything: an open breaker ("openai: breaker open
        24 s"), a fallback that answered ("openai failed · backup answered")."""
        context = self.chat.context
        gateway = context.gateway
        known = context.known.about(gateway)
        name = one_line(known.name if known is not None else context.backend_name, 24)
        view = BreakerView.of(gateway.breaker)
        text = None
        if view.state is not BreakerState.CLOSED:
            text = f"{name}: breaker {view.describe()}"
        fallback = self._fallback()
        if fallback is not None:
            answered = f"{one_line(fallback, 24)} answered"
            text = f"{text} · {answered}" if text else f"{name} failed · {answered}"
        return text

    def show(self) -> None:
        if not self.chat.is_mounted:
            return
        status = self.chat.query_one(StatusBar)
        alarm = self.alarm()
        if alarm != status.facts.backend_alarm:  # redraw only when it changes
            status.show(backend_alarm=alarm)
