"""The chat screen: the conversation, the prompt and the status bar. A thin view: it
composes, routes keys and messages, and hands each job to one helper: showing a turn
(chat_turn), sampling (chat_sampling), the server (chat_server), its breaker and
fallbacks (chat_breaker), costs (chat_costs), the context gauge (chat_gauge), one
message's actions (chat_messages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from textual import events, on
from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.worker import Worker, WorkerState

from llmchat.core.conversation import Conversation, PersistError
from llmchat.core.safe_text import one_line
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.tui.screens.chat_attach import Attachments
from llmchat.tui.screens.chat_backend import BackendSwitch
from llmchat.tui.screens.chat_breaker import BreakerWatch
from llmchat.tui.screens.chat_costs import ReplyCosts
from llmchat.tui.screens.chat_gauge import DraftGauge
from llmchat.tui.screens.chat_inspect import InspectViews
from llmchat.tui.screens.chat_keys import CHAT_KEYS
from llmchat.tui.screens.chat_messages import STILL_STREAMING, MessageActions
from llmchat.tui.screens.chat_sampling import SamplingChange, SamplingControls
from llmchat.tui.screens.chat_server import ServerWatch
from llmchat.tui.screens.chat_title import ModelTitle
from llmchat.tui.screens.chat_turn import TurnDisplay
from llmchat.tui.widgets.attachment_chips import AttachmentChips
from llmchat.tui.widgets.context_gauge import ContextGauge
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.params_panel import ParamsPanel
from llmchat.tui.widgets.prompt_input import PromptInput, conversation_history
from llmchat.tui.widgets.reply_view import NoticeView
from llmchat.tui.widgets.slider import Slider
from llmchat.tui.widgets.status_bar import StatusBar, StatusFacts

if TYPE_CHECKING:
    from llmchat.tui.app import ChatContext

T = TypeVar("T")


_MODIFIERS = ("alt+", "ctrl+", "super+", "meta+", "hyper+")


class ChatScreen(Screen[None]):
    # Below 100 columns the sampling panel covers the chat instead of squeezing it.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    # Below 16 rows the title and the gauge give their lines to the chat.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (16, "-tall")]
    BINDINGS = CHAT_KEYS

    def __init__(self, context: ChatContext, *, at_message: str | None = None) -> None:
        super().__init__()
        self.context = context
        self.at_message = at_message
        """A message to open the session at (message focus on it), not at the newest."""
        self.turns = TurnDisplay(self)
        self.sampling = SamplingControls(self)
        self.server = ServerWatch(self)
        self.backend_switch = BackendSwitch(self)
        self.breaker_watch = BreakerWatch(self)
        self.costs = ReplyCosts(self)
        self.gauge = DraftGauge(self)
        self.attach = Attachments(self)
        self.model_title = ModelTitle(self)
        self.inspect = InspectViews(self)
        self.messages_ui = MessageActions(self)
        self.meter = ContextMeter(
            context.conversation,
            context.gateway,
            context.model_name,
            configured_window=context.context_window,
            threshold=context.context_threshold,
            truncation=context.context_truncation,
        )
        self.service = ChatService(
            context.conversation,
            context.gateway,
            self.meter,
            model=lambda: self.context.model_name,
            pricer=self.costs.reply_cost,
        )

    @property
    def conversation(self) -> Conversation:
        return self.context.conversation

    @property
    def reply_worker(self) -> Worker[None] | None:
        return self.turns.worker

    @property
    def streaming(self) -> bool:
        return self.turns.streaming

    def compose(self) -> ComposeResult:
        yield Static(self._title_content(), id="session-title")
        yield Static(self._system_content(), id="system-prompt")
        yield ConversationView(id="conversation")
        yield ParamsPanel(self.conversation.params, self.sampling.presets)
        yield AttachmentChips(id="attachments")
        yield PromptInput(id="prompt", history=conversation_history(self.conversation))
        yield ContextGauge(id="gauge")
        yield StatusBar(self._idle_facts(), id="status")
        yield Footer()

    def _title_content(self) -> Content:
        return Content(one_line(self.conversation.info.title or "New session", 100))

    def _system_content(self) -> Content:
        """The system prompt, folded to one line (F1: `system: edit` changes it)."""
        system = self.conversation.info.system
        return Content(f"system: {one_line(system, 200)}" if system else "")

    def show_title(self) -> None:
        self.query_one("#session-title", Static).update(self._title_content())

    def show_system(self) -> None:
        shown = self.query_one("#system-prompt", Static)
        shown.update(self._system_content())
        shown.display = bool(self.conversation.info.system)

    def _idle_facts(self) -> StatusFacts:
        params, schema = self.conversation.params, self.conversation.schema
        cost, priced = self.costs.session_cost()
        return StatusFacts(
            backend=self.context.backend_name,
            model=self.context.model_name,
            params=params,
            preset=self.sampling.preset_name(params),
            schema=schema.name if schema else None,
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
        self.sampling.show_locks()
        prompt = self.query_one(PromptInput)
        prompt.sends_empty = lambda: bool(self.attach.chips)  # a file alone is a message
        prompt.focus()
        if self.at_message is not None:
            self.show_message(self.at_message)
        self.call_after_refresh(self.server.prepare)
        self.breaker_watch.start()
        for file in self.context.attachments:  # `llmchat -a FILE`
            await self.attach.add_file(file)
        self.context.attachments.clear()
        self.conversation.on_restored = self._file_restored

    def show_message(self, message_id: str) -> None:
        """Message focus on this message, scrolled to (Esc goes back to the prompt)."""
        if not self.query_one(ConversationView).focus_message(message_id):
            self.notify(
                "That message is on another branch of this session (alt+p / alt+n switch).",
                severity="warning",
            )

    def _file_restored(self, text: str) -> None:
        """The session file had gone (deleted, moved) and was written again: say where.
        A toast, not a notice in the conversation: it may come while a reply streams."""
        self.notify(
            text, title="Session file written again", severity="warning", timeout=15, markup=False
        )

    def _record(self, write: Callable[[], T]) -> T | None:
        """Run a conversation change; a save failure is shown but loses nothing."""
        try:
            return write()
        except PersistError as exc:
            self._show_notice(f"{exc} — kept in memory; it is saved on the next write.", "error")
            return None

    def _show_notice(self, text: str, severity: str = "information") -> None:
        self.query_one(ConversationView).add(NoticeView(text, severity))

    # -- messages from the widgets -----------------------------------------------------

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if self.streaming:
            self.notify(STILL_STREAMING, severity="warning")
            return
        text = event.text
        if self.messages_ui.editing_system:
            self.messages_ui.save_system(text)
        elif self.messages_ui.editing is not None:
            await self.messages_ui.send_edit(text)
        else:
            await self.attach.ready()  # a file attached just before is read first
            self._send_new(text)

    def _send_new(self, text: str) -> None:
        """A new message, with the attached files (they go once it is accepted)."""
        try:
            images = self.attach.keep_images()
        except OSError as exc:
            self.notify(f"Cannot keep the image: {exc}", severity="error", markup=False)
            return
        sent, title = self.attach.draft(text), self.attach.title(text)
        self.turns.start(
            lambda report: self.service.send(sent, report, images=images, title=title),
            mount_now=False,
        )

    @on(PromptInput.Changed)
    def _draft_changed(self) -> None:
        self.gauge.draft_changed()

    @on(Slider.Changed)
    @on(ParamsPanel.NumberSet)
    @on(OptionList.OptionSelected, "#presets")
    def _sampling_changed(self, event: SamplingChange) -> None:
        self.sampling.changed(event)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # Stop and Retry depend on whether the reply worker runs: the footer follows it
        # (refreshing from inside the worker saw it still running and kept "Stop").
        if event.worker is self.reply_worker and event.state is not WorkerState.PENDING:
            self.refresh_bindings()

    def on_key(self, event: events.Key) -> None:
        # The conversation takes focus for reading (Tab, a click), but typing there
        # would be lost: a printable key goes to the prompt, where it belongs. A key with
        # a modifier is a command (a terminal sends alt+p as ESC p, printable "p").
        typed = event.is_printable and not event.key.startswith(_MODIFIERS)
        chat = self.query_one(ConversationView)
        if typed and self.focused is chat and not chat.moves_focus(event.key):
            event.stop()
            prompt = self.query_one(PromptInput)
            prompt.focus()
            if event.character:
                prompt.insert(event.character)

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Show "Stop" only while a reply streams, "Retry" only when there is one to retry.
        if action == "stop_reply":
            return self.streaming or self.messages_ui.is_editing  # Esc ends an edit
        if action == "retry":
            return not self.streaming and self.conversation.retry_point() is not None
        if action == "minify_json":
            return self.gauge.can_minify
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

    def action_minify_json(self) -> None:
        self.gauge.minify_draft()

    def action_switch_model(self) -> None:
        self.backend_switch.pick()

    def action_show_backends(self) -> None:
        from llmchat.tui.screens.backends import BackendsScreen

        context = self.context
        self.app.push_screen(BackendsScreen(context.known, context.gateway))

    def action_toggle_params(self) -> None:
        self.sampling.toggle_panel()

    def action_nudge(self, dial: str, steps: int) -> None:
        self.sampling.nudge(dial, steps)

    def action_stop_reply(self) -> None:
        if self.streaming and self.reply_worker is not None:
            self.reply_worker.cancel()
        else:
            self.messages_ui.cancel_edit()

    def action_retry(self) -> None:
        if not self.streaming and self.conversation.retry_point() is not None:
            self.turns.start(self.service.retry, mount_now=True)

    async def action_copy_reply(self) -> None:
        from llmchat.tui.clipboard import copy_last_reply

        await copy_last_reply(self.app, self.conversation.thread())

    async def action_copy_code(self) -> None:
        from llmchat.tui.clipboard import copy_code_block

        await copy_code_block(self.app, self.conversation.thread())

    def action_attach_file(self) -> None:
        self.attach.pick()

    def action_attach_remove_last(self) -> None:
        self.attach.remove_last()

    def action_attach_clear(self) -> None:
        self.attach.clear()

    # -- the glass-box views: see chat_inspect.py ---------------------------------------

    def action_inspect(self) -> None:
        self.inspect.choose()

    def action_inspect_request(self) -> None:
        self.inspect.request()

    def action_inspect_tokens(self) -> None:
        self.inspect.tokens()

    def action_inspect_probabilities(self) -> None:
        self.inspect.probabilities()

    def action_probabilities_off(self) -> None:
        self.service.probabilities = 0
        self.notify("Probabilities off: the next replies come without them.", timeout=3)

    def action_inspect_latency(self) -> None:
        self.inspect.turns("latency")

    def action_inspect_cache(self) -> None:
        self.inspect.turns("cache")

    def action_name_with_model(self) -> None:
        self.model_title.ask()

    def action_rename(self) -> None:
        from llmchat.tui.screens.text_line import TextLineScreen

        def done(title: str | None) -> None:
            if title:
                self._record(lambda: self.conversation.rename(title))
                self.show_title()

        self.app.push_screen(TextLineScreen(self.conversation.info.title), done)

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

    async def action_message_show_all(self) -> None:
        await self.query_one(ConversationView).show_all()
