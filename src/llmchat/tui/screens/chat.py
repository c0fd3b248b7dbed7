"""The chat screen: the conversation, the prompt and the status bar.

It is a thin view: the Conversation (core) owns the history and compiles each request,
the gateway streams events, the Turn folds them into the message that is saved. This
screen only shows those events and routes keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, OptionList, Static
from textual.worker import Worker, WorkerState

from llmchat.core.conversation import Conversation, PersistError
from llmchat.core.events import (
    Delta,
    Loading,
    Reasoning,
    Retrying,
    Started,
)
from llmchat.core.json_draft import minify_json
from llmchat.core.messages import Message, Role
from llmchat.core.model_info import context_window, reply_cost
from llmchat.core.params import SamplingParams
from llmchat.core.presets import BUILT_IN, Preset, both_dials_moved, matching_preset
from llmchat.core.request import SERVER_DEFAULT_MODEL
from llmchat.core.safe_text import one_line
from llmchat.core.structured import OutputSchema
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import (
    EngineEvent,
    Refused,
    ReplyEnded,
    Reporter,
    RequestPlanned,
    SaveFailed,
    UserAdded,
)
from llmchat.tui.screens.chat_messages import MessageActions
from llmchat.tui.widgets.context_gauge import ContextGauge
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.params_panel import ParamsPanel
from llmchat.tui.widgets.prompt_input import PromptInput, conversation_history
from llmchat.tui.widgets.reply_view import NoticeView, ReplyView, UserView
from llmchat.tui.widgets.slider import Slider
from llmchat.tui.widgets.status_bar import StatusBar, StatusFacts

if TYPE_CHECKING:
    from llmchat.tui.app import ChatContext

T = TypeVar("T")

STATUS_INTERVAL_S = 0.1
DRAFT_DEBOUNCE_S = 0.15
PRICE_LIST_IDLE_S = 2.0
YIELD_INTERVAL_S = 0.004
# A stream with no chunk for this long after its first token is shown as stalled.
STALL_AFTER_S = 2.0
STALL_CHECK_S = 0.5


class ChatScreen(Screen[None]):
    # Below 100 columns the sampling panel covers the chat instead of squeezing it.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    # Below 16 rows the title and the gauge give their lines to the chat.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (16, "-tall")]
    BINDINGS = [
        Binding(
            "escape",
            "stop_reply",
            "Stop",
            id="chat.stop",
            tooltip="Stop the reply that is streaming; its partial text is kept",
        ),
        Binding(
            "ctrl+r",
            "retry",
            "Retry",
            id="chat.retry",
            tooltip="Ask the last question again (after a failed, cancelled or incomplete reply)",
        ),
        Binding(
            "f5",
            "minify_json",
            "Minify JSON",
            id="chat.minify_json",
            tooltip="Minify the pretty-printed JSON in the message (fewer tokens, same data)",
        ),
        Binding(
            "f9",
            "toggle_params",
            "Params",
            id="chat.params",
            tooltip="Open or close the sampling panel (temperature, top-p, max_tokens, seed)",
        ),
        Binding(
            "ctrl+up",
            "focus_messages",
            "Messages",
            show=False,
            id="chat.message_focus",
            tooltip="Focus the newest message; ↑/↓ move between messages, Esc comes back",
        ),
        Binding("alt+up", "nudge('temperature', 1)", "T+", show=False, id="chat.t_up"),
        Binding("alt+down", "nudge('temperature', -1)", "T-", show=False, id="chat.t_down"),
        Binding("alt+right", "nudge('top_p', 1)", "top-p+", show=False, id="chat.p_up"),
        Binding("alt+left", "nudge('top_p', -1)", "top-p-", show=False, id="chat.p_down"),
        Binding(
            "f6",
            "message_edit",
            "Edit",
            id="chat.message_edit",
            tooltip="Edit the focused (or last) question and send it as a new branch",
        ),
        Binding(
            "f7",
            "message_regenerate",
            "Regenerate",
            show=False,
            id="chat.message_regenerate",
            tooltip="Ask again the question the focused (or last) reply answers: a sibling",
        ),
        Binding(
            "f8",
            "message_fork",
            "Fork",
            show=False,
            id="chat.message_fork",
            tooltip="A new session holding the thread up to the focused (or last) message",
        ),
        Binding(
            "alt+p",
            "message_branch(-1)",
            "Previous branch",
            show=False,
            id="chat.branch_previous",
        ),
        Binding(
            "alt+n",
            "message_branch(1)",
            "Next branch",
            show=False,
            id="chat.branch_next",
        ),
        Binding(
            "f2",
            "rename",
            "Rename",
            id="chat.rename",
            tooltip="Give this session a new title",
        ),
        # Not ctrl+y: the prompt (a TextArea) has it for redo, and it has the focus.
        Binding(
            "ctrl+o",
            "copy_reply",
            "Copy reply",
            id="chat.copy_reply",
            tooltip="Copy the last reply's Markdown (also written to clipboard.txt)",
        ),
        Binding(
            "ctrl+g",
            "copy_code",
            "Copy code",
            id="chat.copy_code",
            tooltip="Copy a code block of the last reply, without its fences",
            show=False,  # the footer has room for few keys at 80 columns; F1 lists it
        ),
    ]

    def __init__(self, context: ChatContext) -> None:
        super().__init__()
        self.context = context
        self.reply_worker: Worker[None] | None = None
        self.meter = ContextMeter(
            context.conversation,
            context.gateway,
            context.model_name,
            configured_window=context.context_window,
            threshold=context.context_threshold,
        )
        self.service = ChatService(
            context.conversation,
            context.gateway,
            self.meter,
            model=lambda: self.context.model_name,
            free=context.free,
            pricer=self._cost,
        )
        self._measure_timer: Timer | None = None
        self._price_timer: Timer | None = None
        self._measured_with_server = False
        self._prices_loaded = False
        self._refusal: NoticeView | None = None
        self._temperature_before_schema: float | None = None
        self._chosen_preset: Preset | None = None
        self._last_event_at = 0.0
        self._could_minify = False
        self.messages_ui = MessageActions(self)
        self.presets: tuple[Preset, ...] = (*BUILT_IN, *context.presets)

    @property
    def conversation(self) -> Conversation:
        return self.context.conversation

    def compose(self) -> ComposeResult:
        yield Static(self._title_content(), id="session-title")
        yield Static(self._system_content(), id="system-prompt")
        yield ConversationView(id="conversation")
        yield ParamsPanel(self.conversation.params, self.presets)
        yield PromptInput(id="prompt", history=conversation_history(self.conversation))
        yield ContextGauge(id="gauge")
        yield StatusBar(self._idle_facts(), id="status")
        yield Footer()

    def _title_content(self) -> Content:
        title = self.conversation.info.title or "New session"
        return Content(f"{one_line(title, 100)}")

    def _system_content(self) -> Content:
        """The system prompt, folded to one line (F1: `system: edit` changes it)."""
        system = self.conversation.info.system
        return Content(f"system: {one_line(system, 200)}" if system else "")

    def show_system(self) -> None:
        shown = self.query_one("#system-prompt", Static)
        shown.update(self._system_content())
        shown.display = bool(self.conversation.info.system)

    def _idle_facts(self) -> StatusFacts:
        params = self.conversation.params
        cost, priced = self._session_cost()
        return StatusFacts(
            backend=self.context.backend_name,
            model=self.context.model_name,
            params=params,
            preset=self._preset_name(params),
            schema=self.conversation.schema.name if self.conversation.schema else None,
            session_cost=cost,
            priced=priced,
        )

    async def on_mount(self) -> None:
        conversation = self.query_one(ConversationView)
        # Only the newest messages are built now; older ones as they are scrolled to.
        await conversation.show_thread(self.conversation.thread())  # the branch chosen
        notices = [NoticeView(line, "warning") for line in self.context.notices]
        if notices:
            await conversation.add(*notices)
        self.messages_ui.label_branches()
        self.show_system()
        self.query_one(PromptInput).focus()
        self.call_after_refresh(self._prepare_gateway)

    def _prepare_gateway(self) -> None:
        self.run_worker(
            self._prepare(),
            name="prepare",
            group="prepare",
            exit_on_error=False,
            description="build the HTTP client and ask the server what it is",
        )

    async def _prepare(self) -> None:
        # Importing httpx and building its client (an SSL context) costs 50–100 ms: done
        # after the first frame, in a thread, so neither start-up nor the first send waits.
        # So is the price list (pydantic), which the end of the first turn needs.
        from llmchat.tui.widgets.reply_markdown import warm_up

        gateway = self.context.gateway

        async def learn() -> None:
            # The server is asked as soon as the client exists, not after the renderer
            # has warmed up: a first send waits for this answer (its model name).
            await asyncio.to_thread(gateway.prepare)
            await self._learn_server()

        await asyncio.gather(learn(), asyncio.to_thread(warm_up))
        self._schedule_price_list()

    async def _learn_server(self) -> None:
        """Ask the server what it is (again, if it could not be reached before), then
        show it and measure with what it said (its model's tokenizer, its window)."""
        gateway = self.context.gateway
        await gateway.discover()
        self._show_server()
        if not self._measured_with_server:
            self._measured_with_server = gateway.discovered
            await self.meter.prepare()
            await self._measure()

    def _show_server(self) -> None:
        """The model the server named and whether it can be reached, in the status bar."""
        gateway = self.context.gateway
        if gateway.discovered and self.context.model_name == SERVER_DEFAULT_MODEL:
            # The server named its model: requests, prices and counts use the real name.
            self.context.model_name = self.meter.model = gateway.backend.model
        if self.streaming:
            return
        status = self.query_one(StatusBar)
        if gateway.unreachable is not None:
            status.show(model=gateway.backend.model, state="server unreachable")
        elif status.facts.state == "server unreachable":
            status.show(model=gateway.backend.model, state="ready")
        else:
            status.show(model=gateway.backend.model)

    def _server_checked(self) -> None:
        """After a turn: a server that went away (or was never reached) is asked again."""
        if self._measured_with_server and self.context.gateway.unreachable is None:
            self._show_server()
            return
        self.run_worker(
            self._learn_server(),
            name="prepare",
            group="prepare",
            exit_on_error=False,
            description="ask the server what it is",
        )

    def _schedule_price_list(self) -> None:
        # The price list (genai-prices, which brings pydantic) costs ~0.3 s of CPU to load;
        # loading it while the user sends would hold up the first token, so it waits
        # until the app has been idle for a moment.
        if self.context.free or self._prices_loaded:
            return
        if self._price_timer is not None:
            self._price_timer.stop()
        self._price_timer = self.set_timer(PRICE_LIST_IDLE_S, self._load_price_list)

    @work(group="prices", exclusive=True, exit_on_error=False, description="load prices")
    async def _load_price_list(self) -> None:
        if self.streaming:
            self._schedule_price_list()
            return
        window = await asyncio.to_thread(context_window, self.context.model_name)
        self._prices_loaded = True
        if self.meter.window is None and window is not None:
            self.meter.window = window
            await self._measure()

    async def _measure(self) -> None:
        """Update the gauge for sending what is in the prompt now."""
        try:
            budget = await self.meter.measure(self.query_one(PromptInput).text)
        except Exception:  # a server that cannot count now: keep the last figures
            return
        self.query_one(ContextGauge).show(budget)
        # The marker and the gauge speak of the same request, with the same number.
        self._mark_unsent(budget.skipped)
        # The footer is rebuilt on every refresh (~30 ms here): only when F5's offer
        # (minify the draft's JSON) comes or goes.
        can_minify = budget.minify_saving > 0
        if can_minify != self._could_minify:
            self._could_minify = can_minify
            self.refresh_bindings()

    @work(group="measure", exclusive=True, exit_on_error=False, description="count the draft")
    async def _measure_soon(self) -> None:
        # A method, not a coroutine handed over: a superseded run is then never created.
        await self._measure()

    @on(PromptInput.Changed)
    def _draft_changed(self) -> None:
        if self.streaming:
            return  # counted when the turn ends; no token counting beside a prefill
        # Debounced: a keystroke only restarts a timer; counting happens once typing pauses.
        if self._measure_timer is not None:
            self._measure_timer.stop()
        self._measure_timer = self.set_timer(DRAFT_DEBOUNCE_S, self._measure_soon)
        if not self._prices_loaded and self._price_timer is not None:
            self._schedule_price_list()

    def _view_for(self, message: Message) -> Static | ReplyView:
        if message.role is Role.ASSISTANT:
            return ReplyView(message)
        return UserView(message)

    # -- sending -------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self.reply_worker is not None and self.reply_worker.is_running

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if self.streaming:
            self.notify("A reply is still streaming: Esc stops it.", severity="warning")
            return
        text = event.text
        if self.messages_ui.editing_system:
            self.messages_ui.save_system(text)
            return
        if self.messages_ui.editing is not None:
            await self.messages_ui.send_edit(text)
            return
        self._start_turn(lambda report: self.service.send(text, report), mount_now=False)

    def _mark_unsent(self, skipped: int) -> None:
        """Show where the next request's history starts (the session file keeps it all)."""
        if not skipped:
            self.query_one(ConversationView).mark_before(None)
            return
        sent = [
            m
            for m in self.conversation.thread()
            if not (m.role is Role.ASSISTANT and not m.content)
        ]
        first_sent = sent[skipped].id if skipped < len(sent) else None
        # Placed now if that message is built, else whenever it is scrolled to.
        self.query_one(ConversationView).mark_before(
            first_sent, f"▲ {skipped} earlier not sent: they do not fit in the context window"
        )

    def _start_turn(
        self, run: Callable[[Reporter], Awaitable[Message | None]], *, mount_now: bool
    ) -> None:
        """Run one turn in a worker; the views follow the engine's events. A new message
        mounts its views once the engine has accepted it (a refusal keeps the prompt);
        a retry mounts the reply's view at once."""
        turn = _ShownTurn(ReplyView())
        if mount_now:
            self._mount_turn(turn)
        self.reply_worker = self.run_worker(
            self._run_turn(run, turn),
            name="reply",
            group="reply",
            exclusive=True,
            exit_on_error=False,
            description="stream the reply",
        )

    def _mount_turn(self, turn: _ShownTurn, *before: Static) -> None:
        conversation = self.query_one(ConversationView)

        async def mount() -> None:
            # During the request's round trip: the request went out first.
            await conversation.add(*before, turn.view)
            turn.mounted.set()

        self.run_worker(mount(), group="mount-turn", exit_on_error=False)

    async def _run_turn(
        self, run: Callable[[Reporter], Awaitable[Message | None]], turn: _ShownTurn
    ) -> None:
        status = self.query_one(StatusBar)
        status.show(state="sending", ttft_ms=None, tok_s=None, tokens_in=None, tokens_out=None)
        self._last_event_at = time.perf_counter()
        watch = self.set_interval(STALL_CHECK_S, lambda: self._show_stall(status))
        try:
            await run(lambda event: self._show_event(event, turn, status))
        finally:
            watch.stop()

    async def _show_event(self, event: EngineEvent, turn: _ShownTurn, status: StatusBar) -> None:
        """One event of the turn, as the engine reports it."""
        view = turn.view
        match event:
            case Delta(text=text):
                if not turn.mounted.is_set():
                    await turn.mounted.wait()
                await view.feed(text)
            case Refused(reason=reason):
                # Not sent; the text stays in the prompt to shorten or split.
                self._show_refusal(reason)
                status.show(state="ready")
                return
            case UserAdded(message=message):
                self._show_refusal(None)
                self.query_one(PromptInput).clear()
                self.query_one("#session-title", Static).update(self._title_content())
                self._mount_turn(turn, UserView(message))
                return
            case RequestPlanned():
                return
            case SaveFailed(reason=reason):
                self._show_notice(reason, "error")
                return
            case ReplyEnded():
                await self._end_turn(turn, event)
                return
            case Reasoning():
                view.show_progress("thinking…")
            case Started(model=model):
                status.show(state="streaming", model=model)
            case Retrying(attempt=n, delay_s=delay, reason=reason):
                view.show_progress(f"retry {n} in {delay:.1f} s — {one_line(reason)}")
            case Loading(message=text):
                view.show_progress(f"model loading — {one_line(text)}")
        # A stream event.
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

    def _record(self, write: Callable[[], T]) -> T | None:
        """Run a conversation change; a save failure is shown but loses nothing."""
        try:
            return write()
        except PersistError as exc:
            self._show_notice(f"{exc} — kept in memory; it is saved on the next write.", "error")
            return None

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # Stop and Retry depend on whether the reply worker runs: the footer follows it
        # (refreshing from inside the worker saw it still running and kept "Stop").
        if event.worker is self.reply_worker and event.state is not WorkerState.PENDING:
            self.refresh_bindings()

    def _show_refusal(self, text: str | None) -> None:
        """The one note on why the prompt was not sent: replaced, never stacked."""
        if self._refusal is not None:
            self._refusal.remove()
            self._refusal = None
        if text is not None:
            self._refusal = NoticeView(text, "error")
            self.query_one(ConversationView).add(self._refusal)

    def _show_notice(self, text: str, severity: str = "information") -> None:
        self.query_one(ConversationView).add(NoticeView(text, severity))

    def _cost(self, message: Message) -> float | None:
        return reply_cost(
            message,
            model=self.context.model_name,
            free=self.context.free,
            overrides=self.context.pricing,
        )

    @work(group="price", exit_on_error=False, description="price the reply")
    async def _price_reply(self, message: Message, view: ReplyView) -> None:
        # Priced after the reply is on screen: the first lookup loads the price list
        # (~0.3 s of CPU), which must not hold up the last tokens.
        cost = await self.service.price(message, self._report_outside_turn)
        if cost is None:
            return
        view.refresh_meta()
        cost, priced = self._session_cost()
        self.query_one(StatusBar).show(session_cost=cost, priced=priced)

    async def _report_outside_turn(self, event: EngineEvent) -> None:
        if isinstance(event, SaveFailed):
            self._show_notice(event.reason, "error")

    def _session_cost(self) -> tuple[float | None, bool]:
        """Dollars spent so far (None if a reply had no price), and whether any reply has
        been priced yet (no cost is shown before)."""
        costs = [m.cost_usd for m in self.conversation.messages if m.role is Role.ASSISTANT]
        known = [c for c in costs if c is not None]
        total = sum(known) if known or not costs else None
        return total, bool(costs)

    def _show_stall(self, status: StatusBar) -> None:
        """A stream that has gone quiet after its first token says so, counting, instead
        of showing its last speed as if it were still alive."""
        turn = self.service.turn
        quiet = time.perf_counter() - self._last_event_at
        if turn is None or turn.done or turn.ttft_ms is None or quiet < STALL_AFTER_S:
            return
        status.show(state=f"stalled {quiet:.0f} s", tok_s=None)

    def _show_progress(self, status: StatusBar) -> None:
        turn = self.service.turn
        if turn is None:
            return
        status.show(
            ttft_ms=turn.ttft_ms,
            tok_s=turn.tok_s,
            tokens_out=turn.completion_tokens,
            estimated=turn.usage is None,
            elapsed_s=time.perf_counter() - turn.sent_at,
        )

    async def _end_turn(self, turn: _ShownTurn, ended: ReplyEnded) -> None:
        # The reply is recorded; nothing from the stream follows (even after a cancel).
        message = ended.message
        await turn.mounted.wait()
        await turn.view.finish(message)
        if not self.context.free and message.usage is not None:
            self._price_reply(message, turn.view)
        if ended.checked is not None:
            await turn.view.show_checked(ended.checked)
        status = self.query_one(StatusBar)
        usage, timing = message.usage, message.timing
        cost, priced = self._session_cost()
        status.show(
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
            self.notify(
                one_line(message.error), title="Reply failed", severity="error", markup=False
            )
        self._server_checked()
        self.messages_ui.label_branches()
        self._measure_soon()

    # -- actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Show "Stop" only while a reply streams, "Retry" only when there is one to retry.
        if action == "stop_reply":
            return self.streaming or self.messages_ui.is_editing  # Esc ends an edit
        if action == "retry":
            return not self.streaming and self.conversation.retry_point() is not None
        if action == "minify_json":
            budget = self.query_one(ContextGauge).budget
            return budget is not None and budget.minify_saving > 0
        return True

    async def action_scroll_chat(self, where: str) -> None:
        """Page the conversation from the prompt (releasing the stick-to-bottom anchor
        until the user scrolls back down)."""
        chat = self.query_one(ConversationView)
        match where:
            case "up":
                chat.scroll_page_up()
            case "down":
                chat.scroll_page_down()
            case "top":
                await chat.to_first()
            case _:
                await chat.to_last()

    def action_focus_messages(self) -> None:
        self.query_one(ConversationView).focus_newest()

    def on_key(self, event: events.Key) -> None:
        # The conversation takes focus for reading (Tab, a click), but typing there
        # would be lost: a printable key goes to the prompt, where it belongs.
        if event.is_printable and self.focused is self.query_one("#conversation"):
            event.stop()
            prompt = self.query_one(PromptInput)
            prompt.focus()
            if event.character:
                prompt.insert(event.character)

    def action_minify_json(self) -> None:
        prompt = self.query_one(PromptInput)
        small = minify_json(prompt.text)
        if small is not None:
            prompt.text = small
            prompt.move_cursor(prompt.document.end)

    # -- sampling ------------------------------------------------------------------

    def action_toggle_params(self) -> None:
        panel = self.query_one(ParamsPanel)
        panel.toggle_class("-open")
        if panel.has_class("-open"):
            panel.temperature.focus()
        else:
            self.query_one(PromptInput).focus()

    def action_nudge(self, dial: str, steps: int) -> None:
        params = self.conversation.params
        if dial == "temperature":
            value = min(2.0, max(0.0, round(params.temperature + 0.05 * steps, 2)))
            self.apply_params(replace(params, temperature=value))
        else:
            value = min(1.0, max(0.0, round(params.top_p + 0.01 * steps, 2)))
            self.apply_params(replace(params, top_p=value))

    def set_schema(self, schema: OutputSchema | None) -> None:
        """Schema mode on (or off). On, temperature goes to 0 unless the user moved it."""
        self.conversation.schema = schema
        self.query_one(StatusBar).show(schema=schema.name if schema else None)
        params = self.conversation.params
        if schema is not None and params.temperature == self.context.default_temperature:
            self._temperature_before_schema = params.temperature
            self.apply_params(replace(params, temperature=0.0))
        elif schema is None and self._temperature_before_schema is not None:
            # Back to what it was, unless the user moved it while in schema mode.
            before, self._temperature_before_schema = self._temperature_before_schema, None
            if params.temperature == 0.0:
                self.apply_params(replace(params, temperature=before))

    def apply_preset(self, preset: Preset) -> None:
        params = replace(
            self.conversation.params,
            temperature=preset.temperature,
            top_p=preset.top_p,
            max_tokens=preset.max_tokens or self.conversation.params.max_tokens,
        )
        if preset.system is not None:
            self._record(lambda: self.conversation.set_system(preset.system or ""))
            self.show_system()
        self._chosen_preset = preset
        self.apply_params(params)
        self.query_one(StatusBar).show(preset=self._preset_name(params))
        self.notify(f"Preset: {preset.name}", markup=False, timeout=3)
        if preset.json_output and self.conversation.schema is None:
            self.notify(
                "For JSON, attach a schema: command palette → schema: attach file.",
                title="Structured output",
                timeout=6,
            )

    def apply_params(self, params: SamplingParams) -> None:
        """Use these values from the next request on; recorded in the session."""
        before = self.conversation.params
        if params == before:
            return
        self._record(lambda: self.conversation.set_params(params))
        self.query_one(ParamsPanel).show(params)
        self.query_one(StatusBar).show(params=params, preset=self._preset_name(params))
        moved_now = both_dials_moved(params.temperature, params.top_p)
        panel_open = self.query_one(ParamsPanel).has_class("-open")
        # The open panel shows the hint in place; otherwise a short notice, once.
        if moved_now and not panel_open and not both_dials_moved(before.temperature, before.top_p):
            self.notify(
                "Both temperature and top-p are off neutral: tune one dial at a time.",
                title="Sampling",
                timeout=4,
            )
        self._measure_soon()

    def _preset_name(self, params: SamplingParams) -> str | None:
        """The preset these values are: the one the user chose while they still match it
        (SQL and JSON extraction share their values), else the first that matches."""
        chosen = self._chosen_preset
        if chosen is not None and matching_preset(params.temperature, params.top_p, (chosen,)):
            return chosen.name
        preset = matching_preset(params.temperature, params.top_p, self.presets)
        return preset.name if preset else None

    @on(Slider.Changed)
    def _slider_moved(self, event: Slider.Changed) -> None:
        params = self.conversation.params
        if event.slider.id == "temperature":
            self.apply_params(replace(params, temperature=event.value))
        else:
            self.apply_params(replace(params, top_p=event.value))

    @on(ParamsPanel.NumberSet)
    def _number_set(self, event: ParamsPanel.NumberSet) -> None:
        params = self.conversation.params
        if event.name == "max_tokens" and event.value is not None:
            self.apply_params(replace(params, max_tokens=event.value))
        elif event.name == "seed":
            self.apply_params(replace(params, seed=event.value))

    @on(OptionList.OptionSelected, "#presets")
    def _preset_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.apply_preset(self.presets[int(event.option.id)])

    def action_stop_reply(self) -> None:
        if self.streaming and self.reply_worker is not None:
            self.reply_worker.cancel()
        else:
            self.messages_ui.cancel_edit()

    def action_retry(self) -> None:
        if self.streaming or self.conversation.retry_point() is None:
            return
        self._start_turn(self.service.retry, mount_now=True)

    async def action_copy_reply(self) -> None:
        from llmchat.tui.clipboard import copy_last_reply

        await copy_last_reply(self.app, self.conversation.thread())

    async def action_copy_code(self) -> None:
        from llmchat.tui.clipboard import copy_code_block

        await copy_code_block(self.app, self.conversation.thread())

    # -- one message (edit, regenerate, branches, fork, copy): see chat_messages.py ----

    def action_message_edit(self) -> None:
        self.messages_ui.edit()

    def action_system_edit(self) -> None:
        self.messages_ui.edit_system()

    def action_system_remove(self) -> None:
        self.messages_ui.remove_system()

    async def action_message_regenerate(self) -> None:
        await self.messages_ui.regenerate()

    async def action_message_branch(self, step: int) -> None:
        await self.messages_ui.branch(step)

    async def action_message_fork(self) -> None:
        await self.messages_ui.fork()

    async def action_message_copy(self) -> None:
        await self.messages_ui.copy()

    def action_rename(self) -> None:
        from llmchat.tui.screens.text_line import TextLineScreen

        def done(title: str | None) -> None:
            if title:
                self._record(lambda: self.conversation.rename(title))
                self.query_one("#session-title", Static).update(self._title_content())

        self.app.push_screen(TextLineScreen(self.conversation.info.title), done)


class _ShownTurn:
    """A turn's views on screen, and when it last drew its progress."""

    def __init__(self, view: ReplyView) -> None:
        self.view = view
        self.mounted = asyncio.Event()
        self.last_status = 0.0
        self.last_yield = time.perf_counter()
