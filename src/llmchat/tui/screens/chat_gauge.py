"""The context gauge under the prompt: what sending the draft now would take of the
window, counted once typing pauses; the marker above the oldest messages the next
request leaves out; and F5's offer to minify the draft's JSON, which follows the count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.timer import Timer
from textual.worker import WorkType

from llmchat.core.json_draft import minify_json
from llmchat.core.messages import Role
from llmchat.tui.widgets.context_gauge import ContextGauge
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen

DRAFT_DEBOUNCE_S = 0.15


class DraftGauge:
    """Counts the draft for the gauge (the screen's `PromptInput.Changed` comes here)."""

    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self._measure_timer: Timer | None = None
        self.can_minify = False
        """The draft holds pretty-printed JSON that minifies to fewer tokens (F5)."""

    def draft_changed(self) -> None:
        if self.chat.streaming:
            return  # counted when the turn ends; no token counting beside a prefill
        # Debounced: a keystroke only restarts a timer; counting happens once typing pauses.
        if self._measure_timer is not None:
            self._measure_timer.stop()
        self._measure_timer = self.chat.set_timer(DRAFT_DEBOUNCE_S, self.measure_soon)
        self.chat.costs.postpone_price_list()

    def measure_soon(self) -> None:
        """Count in a worker; a newer count supersedes one still running."""
        # The method, not a coroutine, is handed over: a superseded run is never created.
        # (Typed here: mypy cannot tell a worker's result from a bare method.)
        count: WorkType[None] = self.measure
        self.chat.run_worker(
            count,
            name="measure",
            group="measure",
            exclusive=True,
            exit_on_error=False,
            description="count the draft",
        )

    async def measure(self) -> None:
        """Update the gauge for sending what is in the prompt now."""
        chat = self.chat
        try:
            draft = chat.attach.draft(chat.query_one(PromptInput).text)
            budget = await chat.meter.measure(draft, image_tokens=chat.attach.image_tokens)
        except Exception:  # a server that cannot count now: keep the last figures
            return
        chat.query_one(ContextGauge).show(budget)
        # The marker and the gauge speak of the same request, with the same number.
        self._mark_unsent(budget.skipped)
        # The footer is rebuilt on every refresh (~30 ms here): only when F5's offer
        # (minify the draft's JSON) comes or goes.
        can_minify = budget.minify_saving > 0
        if can_minify != self.can_minify:
            self.can_minify = can_minify
            chat.refresh_bindings()

    def minify_draft(self) -> None:
        prompt = self.chat.query_one(PromptInput)
        small = minify_json(prompt.text)
        if small is not None:
            prompt.text = small
            prompt.move_cursor(prompt.document.end)

    def _mark_unsent(self, skipped: int) -> None:
        """Show where the next request's history starts (the session file keeps it all)."""
        conversation = self.chat.query_one(ConversationView)
        if not skipped:
            conversation.mark_before(None)
            return
        sent = [
            m
            for m in self.chat.conversation.thread()
            if not (m.role is Role.ASSISTANT and not m.content)
        ]
        first_sent = sent[skipped].id if skipped < len(sent) else None
        if self.chat.meter.truncation == "chunked":
            why = (
                "left out a block at a time to fit the context window (the start stays "
                "put, so the server reuses its cache)"
            )
        else:
            why = "they do not fit in the context window"
        # Placed now if that message is built, else whenever it is scrolled to.
        conversation.mark_before(first_sent, f"▲ {skipped} earlier not sent: {why}")
