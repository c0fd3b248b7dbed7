"""Showing a turn on the chat screen. The engine runs the turn and reports its events;
this mounts the question and the reply's view, feeds the reply its text, keeps the status
bar's progress (speed, tokens, a stalled stream) and, at the end, the turn's facts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from textual.widgets import Static
from textual.worker import Worker

from llmchat.core.events import (
    Delta,
    DialsFitted,
    FellBack,
    Loading,
    Reasoning,
    Retrying,
    Started,
)
from llmchat.core.messages import Message
from llmchat.core.safe_text import one_line
from llmchat.engine.events import (
    EngineEvent,
    Refused,
    ReplyEnded,
    Reporter,
    SaveFailed,
    UserAdded,
)
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.prompt_input import PromptInput
from llmchat.tui.widgets.reply_view import NoticeView, ReplyView, UserView
from llmchat.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen

STATUS_INTERVAL_S = 0.1
YIELD_INTERVAL_S = 0.004
# A stream with no chunk for this long after its first token is shown as stalled (with
# the idle limit that will end it: the backend's configured `timeouts.idle`).
STALL_AFTER_S = 2.0
STALL_CHECK_S = 0.5

TurnRun = Callable[[Reporter], Awaitable[Message | None]]
"""One of the engine's turns (send, retry, edit, regenerate), told where to report."""


class TurnDisplay:
    """Runs each turn in the screen's `reply` worker and shows what the engine reports."""

    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self.worker: Worker[None] | None = None
        """The turn's worker; Esc cancels it (the engine keeps the partial reply)."""
        self._refusal: NoticeView | None = None
        self._last_event_at = 0.0

    @property
    def streaming(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def start(self, run: TurnRun, *, mount_now: bool, replay: bool = False) -> None:
        """Run one turn in a worker; the views follow the engine's events. A new message
        mounts its views once the engine has accepted it (a refusal keeps the prompt);
        a retry mounts the reply's view at once. A `replay` goes to another backend or
        model on purpose: it is no fallback, and the session's model stays shown."""
        turn = _ShownTurn(ReplyView(), replay=replay)
        if mount_now:
            self._mount(turn)
        self.worker = self.chat.run_worker(
            self._run(run, turn),
            name="reply",
            group="reply",
            exclusive=True,
            exit_on_error=False,
            description="stream the reply",
        )

    def _mount(self, turn: _ShownTurn, *before: Static) -> None:
        conversation = self.chat.query_one(ConversationView)

        async def mount() -> None:
            # During the request's round trip: the request went out first.
            await conversation.add(*before, turn.view)
            turn.mounted.set()

        self.chat.run_worker(mount(), group="mount-turn", exit_on_error=False)

    async def _run(self, run: TurnRun, turn: _ShownTurn) -> None:
        status = self.chat.query_one(StatusBar)
        status.show(state="sending", ttft_ms=None, tok_s=None, tokens_in=None, tokens_out=None)
        self._last_event_at = time.perf_counter()
        watch = self.chat.set_interval(STALL_CHECK_S, lambda: self._show_stall(status))
        try:
            await run(lambda event: self._show_event(event, turn, status))
        finally:
            watch.stop()

    async def _show_event(self, event: EngineEvent, turn: _ShownTurn, status: StatusBar) -> None:
        """One event of the turn, as the engine reports it."""
        view = turn.view
        match event:
            # The stream's own events, first the one that comes by the thousand.
            case Delta(text=text):
                if not turn.mounted.is_set():
                    await turn.mounted.wait()
                await view.feed(text)
            case Reasoning():
                view.show_progress("thinking…")
            case Started(backend=backend, model=model) if not turn.replay:
                status.show(state="streaming", model=model)
                self.chat.breaker_watch.started(backend)
            case Started():
                status.show(state="streaming")
            case Retrying(attempt=n, delay_s=delay, reason=reason):
                view.show_progress(f"retry {n} in {delay:.1f} s — {one_line(reason)}")
            case Loading(message=text):
                view.show_progress(f"model loading — {one_line(text)}")
            case FellBack(from_backend=failed, to_backend=next_one, reason=reason):
                view.show_progress(f"{failed} failed, asking {next_one} — {one_line(reason)}")
            case DialsFitted(notes=notes, learnt=learnt):
                for note in notes:
                    self.chat.notify(one_line(note), title="Sampling", timeout=8, markup=False)
                if learnt:
                    self.chat.sampling.show_locks()
                return
            # The engine's events about the turn.
            case Refused(reason=reason):
                # Not sent; the text stays in the prompt to shorten or split.
                self._show_refusal(reason)
                status.show(state="ready")
                return
            case UserAdded(message=message):
                self._show_refusal(None)
                self.chat.query_one(PromptInput).clear()
                self.chat.attach.sent()
                self.chat.show_title()
                self._mount(turn, UserView(message))
                return
            case SaveFailed(reason=reason):
                self.chat._show_notice(reason, "error")
                return
            case ReplyEnded():
                await self._end(turn, event)
                return
            case _:
                # The plan, usage and timings (the engine folds them into the message),
                # the request as sent, and whatever events come later: nothing to show,
                # and no sign that the stream is alive.
                return
        await self._stream_moved(turn, status)

    async def _stream_moved(self, turn: _ShownTurn, status: StatusBar) -> None:
        """After a chunk of the stream: no longer stalled, progress now and then."""
        now = time.perf_counter()
        self._last_event_at = now
        if status.facts.state.startswith("stalled"):
            status.show(state="streaming")
        if now - turn.last_status >= STATUS_INTERVAL_S:
            turn.last_status = now
            self._show_progress(status)
        if now - turn.last_yield >= YIELD_INTERVAL_S:
            # Bytes already received come out of the stream without a real await, so a
            # fast burst would hold the event loop and no frame would be painted until
            # it ends: let due timers (paint) run.
            await asyncio.sleep(0)
            turn.last_yield = time.perf_counter()

    def _show_refusal(self, text: str | None) -> None:
        """The one note on why the prompt was not sent: replaced, never stacked."""
        if self._refusal is not None:
            self._refusal.remove()
            self._refusal = None
        if text is not None:
            self._refusal = NoticeView(text, "error")
            self.chat.query_one(ConversationView).add(self._refusal)

    def _show_stall(self, status: StatusBar) -> None:
        """A stream that has gone quiet after its first token says so, counting, instead
        of showing its last speed as if it were still alive."""
        turn = self.chat.service.turn
        quiet = time.perf_counter() - self._last_event_at
        if turn is None or turn.done or turn.ttft_ms is None or quiet < STALL_AFTER_S:
            return
        status.show(state=stalled_state(quiet, self._idle_limit()), tok_s=None)

    def _idle_limit(self) -> float | None:
        """The silence the answering backend allows before it ends the reply."""
        answering = self.chat.breaker_watch.answering()
        return answering.idle_timeout_s if answering is not None else None

    def _show_progress(self, status: StatusBar) -> None:
        turn = self.chat.service.turn
        if turn is None:
            return
        status.show(
            ttft_ms=turn.ttft_ms,
            tok_s=turn.tok_s,
            tokens_out=turn.completion_tokens,
            estimated=turn.usage is None,
            elapsed_s=time.perf_counter() - turn.sent_at,
        )

    async def _end(self, turn: _ShownTurn, ended: ReplyEnded) -> None:
        # The reply is recorded; nothing from the stream follows (even after a cancel).
        chat = self.chat
        message = ended.message
        await turn.mounted.wait()
        await turn.view.finish(message)
        if message.cost_usd is None and message.usage is not None:
            chat.costs.price(message, turn.view)  # not free (the engine set 0 if it was)
        if ended.checked is not None:
            await turn.view.show_checked(ended.checked)
        usage, timing = message.usage, message.timing
        cost, priced = chat.costs.session_cost()
        chat.query_one(StatusBar).show(
            session_cost=cost,
            priced=priced,
            state=message.status.value,
            ttft_ms=timing.ttft_ms if timing else None,
            tok_s=timing.tok_s if timing else None,
            tokens_in=usage.prompt if usage and usage.prompt else None,
            tokens_out=usage.completion if usage else None,
            estimated=usage is None or usage.estimated,
            elapsed_s=(timing.total_ms or 0) / 1000 if timing else None,
        )
        if message.error:
            chat.notify(
                one_line(message.error), title="Reply failed", severity="error", markup=False
            )
        chat.server.check_again()
        chat.breaker_watch.show()
        chat.messages_ui.label_branches()
        chat.gauge.measure_soon()


def stalled_state(quiet_s: float, limit_s: float | None) -> str:
    """The stall, as "stalled 12 s of 120": how long the stream has been silent, and the idle limit
    at which it will end as an error, so the user sees how long is left."""
    if limit_s is None:
        return f"stalled {quiet_s:.0f} s"
    limit = f"{limit_s:.0f}" if limit_s == int(limit_s) else f"{limit_s:.1f}"
    return f"stalled {quiet_s:.0f} s of {limit}"


class _ShownTurn:
    """A turn's views on screen, and when it last drew its progress."""

    def __init__(self, view: ReplyView, *, replay: bool = False) -> None:
        self.view = view
        self.replay = replay
        self.mounted = asyncio.Event()
        self.last_status = 0.0
        self.last_yield = time.perf_counter()
