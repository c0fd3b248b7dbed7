"""The Textual application: screens, themes, the command palette and app-wide keys.

Everything the app needs is handed in as a `Launch` built by the CLI, so tests can start
the app against a loopback server and a temporary folder with no globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import WorkerCancelled, WorkerFailed

from llmchat.core.attachments import Attachment, ImageFile
from llmchat.core.backend_record import BackendRecord
from llmchat.core.budget import Truncation
from llmchat.core.conversation import Conversation
from llmchat.core.messages import ImageRef
from llmchat.core.model_info import PriceOverride
from llmchat.core.presets import Preset
from llmchat.core.safe_text import markup_literal, one_line, visible
from llmchat.core.structured import OutputSchema
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.known import KnownBackends
from llmchat.tui.key_order import KeysInOrderApp
from llmchat.tui.themes import DEFAULT_DARK, DEFAULT_LIGHT, load_themes, shipped_themes_dir

if TYPE_CHECKING:
    from llmchat.local.plan import LocalServerPlan
    from llmchat.tui.screens.session_browser import MessageHit, Search

_SCREENS = Path(__file__).parent / "screens"


@dataclass(frozen=True, slots=True)
class BackendTarget:
    """A backend and model a chat can switch to (palette `model: switch…`)."""

    gateway: Gateway
    backend_name: str
    model_name: str
    record: BackendRecord
    """What the session file records about it (never a key)."""
    context_window: int | None = None


def _nowhere_for_images(image: ImageFile) -> ImageRef:
    raise OSError("no folder to keep images in")


@dataclass(slots=True)
class ChatContext:
    """One open session and the gateway it talks through."""

    conversation: Conversation
    gateway: Gateway
    backend_name: str
    model_name: str
    notices: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    """Files to attach to the first message (`llmchat -a FILE`), shown as chips."""
    keep_image: Callable[[ImageFile], ImageRef] = _nowhere_for_images
    """Keeps an attached image beside the sessions; raises OSError."""
    close: Callable[[], None] = lambda: None
    """Releases the session file (its lock)."""
    context_window: int | None = None
    """The window from the config, if set there (it wins over server and model info)."""
    pricing: Mapping[str, PriceOverride] = field(default_factory=dict)
    """The config's per-model prices."""
    context_threshold: float = 0.9
    """Share of the window a request may fill before old turns are left out."""
    context_truncation: Truncation = "chunked"
    """How they are left out: a block at a time (cache-friendly) or one at a time."""
    presets: tuple[Preset, ...] = ()
    """The user's own presets from the config (the built-in ones are always there)."""
    default_temperature: float = 1.0
    """The configured temperature: schema mode lowers it to 0 only if it was not moved."""
    backends: tuple[str, ...] = ()
    """The backends this chat may switch to, its own first."""
    gateway_of: Callable[[str], Gateway | None] = lambda name: None
    """The gateway of a backend by name, to list its models (None: not usable here)."""
    switch_to: Callable[[str, str], BackendTarget] | None = None
    """The target for a backend by name and a model it lists (raw, as it is sent)."""
    known: KnownBackends = field(default_factory=KnownBackends)
    """Every backend the app has a gateway for, with its settings (the `backends` view,
    the breaker alarm and the stall count read them)."""

    def use(self, target: BackendTarget) -> Gateway:
        """Talk to `target` from the next turn on (recorded in the session); returns the
        gateway left behind, for the caller to close."""
        old = self.gateway
        self.gateway, self.backend_name = target.gateway, target.backend_name
        self.model_name, self.context_window = target.model_name, target.context_window
        self.conversation.move_to(target.record)
        return old


@dataclass(slots=True)
class Launch:
    """What the CLI decided: which screen to open and how to open sessions."""

    sessions_dir: Path
    config_path: Path
    user_themes_dir: Path
    open_session: Callable[[str | None], ChatContext] | None = None
    """Open a saved session by id (it reconnects to its recorded backend), or a new one
    with None. None: no session can be opened."""
    configured: bool = True
    """Whether a new session has a backend to talk to; if not, the welcome screen is
    shown instead (saved sessions still open with F3, each with its own backend)."""
    start: str = "new"
    """"new", "resume-picker", or "session" to show `initial`."""
    initial: ChatContext | None = None
    """The session the command line asked for, already open (so a locked or missing
    session is reported before the TUI starts)."""
    not_configured_reason: str = ""
    theme: str | None = None
    save_theme: Callable[[str], None] = lambda name: None
    local: LocalServerPlan | None = None
    """A llama-server to start (and stop on exit) before the first chat screen."""


class LlmChatApp(KeysInOrderApp):
    TITLE = "llmchat"
    # Each screen's layout lives in a .tcss beside it; they are loaded here, by the app,
    # because Textual does not load CSS_PATH for the screen that is the stack's base.
    CSS_PATH = [_SCREENS / "chat.tcss", _SCREENS / "session_browser.tcss"]
    BINDINGS = [
        Binding("f1", "help", "Help", id="app.help", tooltip="Keys, files and how to connect"),
        Binding("f3", "resume", "Sessions", id="app.resume", tooltip="Open a saved session"),
        Binding("f4", "toggle_theme", "Theme", id="app.theme", tooltip="Switch dark ↔ light"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Quit llmchat", priority=True),
    ]

    def __init__(self, launch: Launch) -> None:
        super().__init__()
        self.launch = launch
        self.context: ChatContext | None = None
        loaded = load_themes(shipped_themes_dir(), launch.user_themes_dir)
        for theme in loaded.themes:
            self.register_theme(theme)
        shipped = [name for name in (DEFAULT_DARK, DEFAULT_LIGHT) if name in self.available_themes]
        others = sorted(t.name for t in loaded.themes if t.name not in shipped)
        self.own_themes: list[str] = shipped + others
        """llmchat's themes, shipped first then the user's: what F4 and the palette offer."""
        self._theme_problems = loaded.problems
        wanted = launch.theme if launch.theme in self.available_themes else DEFAULT_DARK
        self.theme = wanted

    def _welcome(self) -> Screen[None]:
        from llmchat.tui.screens.first_run import FirstRunScreen

        return FirstRunScreen(str(self.launch.config_path), self.launch.not_configured_reason)

    def _first_screen(self) -> Screen[None]:
        if self.launch.open_session is None:
            return self._welcome()
        if self.launch.start == "resume-picker":
            from llmchat.tui.screens.session_browser import SessionBrowser

            return SessionBrowser(
                self.launch.sessions_dir, as_start=True, search=self._session_search()
            )
        if self.launch.initial is not None:
            from llmchat.tui.screens.chat import ChatScreen

            self.context, self.launch.initial = self.launch.initial, None
            return ChatScreen(self.context)
        return self._chat_screen(None)

    def _local_server_up(self, ready: bool | None) -> None:
        if ready:
            from llmchat.tui.screens.starting import StartingScreen

            typed = self.screen.typed if isinstance(self.screen, StartingScreen) else ""
            self.push_screen(self._first_screen())
            if typed:
                self.call_after_refresh(self._type_ahead, typed)

    def _type_ahead(self, typed: str) -> None:
        """What was typed while the model loaded, into the chat's message box."""
        from llmchat.tui.widgets.prompt_input import PromptInput

        for prompt in self.screen.query(PromptInput):
            prompt.insert(typed)

    def _chat_screen(self, session_id: str | None, at_message: str | None = None) -> Screen[None]:
        from llmchat.tui.screens.chat import ChatScreen

        if session_id is None and not self.launch.configured:
            self._close_context()
            return self._welcome()
        assert self.launch.open_session is not None
        context = self.launch.open_session(session_id)
        self._close_context()
        self.context = context
        return ChatScreen(self.context, at_message=at_message)

    def _close_context(self) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None

    def get_default_screen(self) -> Screen[None]:
        # The first screen is the base of the stack, so it is drawn in the very first
        # frame (pushing it over a blank screen costs a frame at start-up). Switching
        # sessions pops down to this base and pushes the new screen over it.
        if self.launch.local is not None:
            from llmchat.tui.screens.starting import StartingScreen

            return StartingScreen(self.launch.local, then=self._local_server_up)
        return self._first_screen()

    def on_mount(self) -> None:
        # SIGTERM and SIGHUP (a closed terminal, a logout, `kill`) end llmchat cleanly:
        # the reply streaming is saved at once, marked interrupted, and the terminal is
        # restored. Without this, both killed the app as it stood.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._stop_for_signal, signum)
        for problem in self._theme_problems:
            self.notify(
                visible(problem),
                title="Theme not loaded",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def _stop_for_signal(self, signum: int) -> None:
        self.run_worker(self._save_and_exit(signum), group="signal", exit_on_error=False)

    async def _save_and_exit(self, signum: int) -> None:
        from llmchat.tui.screens.chat import ChatScreen

        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen) and screen.reply_worker is not None:
                if screen.streaming:
                    screen.service.interrupt()
                    screen.reply_worker.cancel()
                with contextlib.suppress(WorkerCancelled, WorkerFailed):
                    await screen.reply_worker.wait()
        self.exit(return_code=128 + signum)  # as a shell reports a process a signal ended

    async def action_quit(self) -> None:
        """Quit, but never silently over changes the session file did not take: try them
        once more, and if they still fail, ask (retry, save elsewhere, quit anyway)."""
        from llmchat.core.conversation import PersistError
        from llmchat.tui.screens.unsaved import UnsavedScreen, suggested_copy_path

        conversation = self.context.conversation if self.context is not None else None
        if conversation is not None and conversation.unsaved:
            if isinstance(self.screen, UnsavedScreen):
                return  # ctrl+q again while asking: the question stands
            try:
                conversation.flush()
            except PersistError as exc:
                where = suggested_copy_path(conversation, Path.home())
                self.push_screen(UnsavedScreen(conversation, str(exc), where))
                return
        self.exit()

    def action_open_session(self, session_id: str) -> None:
        self.open_session(session_id)

    def open_session(
        self,
        session_id: str | None,
        *,
        at_message: str | None = None,
        unsaved_given_up: bool = False,
    ) -> None:
        """Switch the main screen to another session (or a new one), at `at_message` (a
        message id: focused and scrolled to) or else at its newest message."""
        from llmchat.core.conversation import PersistError
        from llmchat.tui.screens.chat import ChatScreen
        from llmchat.tui.screens.unsaved import UnsavedScreen, suggested_copy_path

        if any(isinstance(s, ChatScreen) and s.streaming for s in self.screen_stack):
            self.notify("A reply is still streaming: Esc stops it first.", severity="warning")
            return
        if self.context is not None and session_id == self.context.conversation.info.id:
            # Not "another llmchat has it open": it is this one. Back to it.
            while len(self.screen_stack) > 1 and not isinstance(self.screen, ChatScreen):
                self.pop_screen()
            if at_message is not None and isinstance(self.screen, ChatScreen):
                self.screen.show_message(at_message)
            else:
                self.notify("That session is already open.", timeout=3)
            return
        conversation = self.context.conversation if self.context is not None else None
        if conversation is not None and conversation.unsaved and not unsaved_given_up:
            # Leaving this session closes it: changes its file did not take would go.
            try:
                conversation.flush()
            except PersistError as exc:

                def go_on(message: str | None) -> None:
                    if message:
                        self.notify(one_line(message), timeout=10, markup=False)
                    self.open_session(session_id, at_message=at_message, unsaved_given_up=True)

                where = suggested_copy_path(conversation, Path.home())
                self.push_screen(
                    UnsavedScreen(
                        conversation,
                        str(exc),
                        where,
                        leaving="opening another session",
                        then=go_on,
                    )
                )
                return
        try:
            screen = self._chat_screen(session_id, at_message)
        except Exception as exc:  # a locked or unreadable session: say so, keep running
            self.notify(
                one_line(str(exc)), title="Cannot open session", severity="error", markup=False
            )
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(screen)

    # -- actions -------------------------------------------------------------------

    def action_help(self) -> None:
        from llmchat.tui.screens.help import HelpScreen

        self.push_screen(
            HelpScreen(
                str(self.launch.sessions_dir),
                str(self.launch.config_path),
                str(self.launch.user_themes_dir),
            )
        )

    def action_resume(self) -> None:
        if self.launch.open_session is None:
            return
        from llmchat.tui.screens.session_browser import SessionBrowser

        self.push_screen(SessionBrowser(self.launch.sessions_dir, search=self._session_search()))

    def _session_search(self) -> Search:
        """Full-text search for the browser, over the index in the cache folder: brought
        up to date before the first search of each opening (in the browser's thread
        worker), then searched as it is."""
        sessions_dir = self.launch.sessions_dir
        refreshed = threading.Event()
        lock = threading.Lock()

        def search(query: str) -> Sequence[MessageHit]:
            from llmchat import paths
            from llmchat.store.session_search import INDEX_FILE_NAME, SessionSearch

            index = SessionSearch(sessions_dir, paths.cache_dir() / INDEX_FILE_NAME)
            with lock:
                if not refreshed.is_set():
                    index.refresh()
                    refreshed.set()
            return index.search(query)

        return search

    def action_new_session(self) -> None:
        if self.launch.open_session is not None:
            self.open_session(None)

    def action_toggle_theme(self) -> None:
        """The next of llmchat's own themes (not Textual's built-in ones)."""
        themes = self.own_themes
        at = themes.index(self.theme) if self.theme in themes else -1
        self.set_theme(themes[(at + 1) % len(themes)])
        self.notify(f"Theme: {one_line(self.theme, 40)}", timeout=2, markup=False)

    def action_attach_schema(self) -> None:
        self._attach_schema()

    def action_clear_schema(self) -> None:
        self._set_schema(None)

    def set_theme(self, name: str) -> None:
        self.theme = name
        self.launch.save_theme(name)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: every action from the one table (tui/commands.py) that applies
        here, then the presets and llmchat's own themes."""
        from llmchat.tui.commands import COMMANDS, Needs
        from llmchat.tui.screens.chat import ChatScreen

        met = {
            Needs.NOTHING: True,
            Needs.SESSIONS: self.launch.open_session is not None,
            Needs.CHAT: isinstance(screen, ChatScreen),
            Needs.LOCAL_SERVER: self.launch.local is not None,
        }
        for command in COMMANDS:
            if met[command.needs]:
                yield SystemCommand(
                    command.title,
                    command.description,
                    lambda a=command.action: self.run_action(a),
                )
        if isinstance(screen, ChatScreen):
            for preset in screen.sampling.presets:
                # The palette reads titles as markup: a preset name is shown literally.
                yield SystemCommand(
                    f"preset: {markup_literal(one_line(preset.name, 40))}",
                    f"T {preset.temperature} · top-p {preset.top_p}",
                    lambda p=preset: self._apply_preset(p),
                )
        for name in self.own_themes:
            # A user's theme file names itself: shown like any outside text.
            shown = markup_literal(one_line(name, 40))
            yield SystemCommand(
                f"theme: {shown}", f"Switch to the {shown} theme", lambda n=name: self.set_theme(n)
            )

    def _apply_preset(self, preset: Preset) -> None:
        from llmchat.tui.screens.chat import ChatScreen

        if isinstance(self.screen, ChatScreen):
            self.screen.sampling.apply_preset(preset)

    def _set_schema(self, schema: OutputSchema | None) -> None:
        from llmchat.tui.screens.chat import ChatScreen

        if isinstance(self.screen, ChatScreen):
            self.screen.sampling.set_schema(schema)

    def _attach_schema(self) -> None:
        from llmchat.core.structured import SchemaError
        from llmchat.tui.screens.text_line import TextLineScreen

        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                schema = OutputSchema.from_file(Path(path).expanduser())
            except SchemaError as exc:
                self.notify(
                    one_line(str(exc)), title="Schema not attached", severity="error", markup=False
                )
                return
            self._set_schema(schema)
            shown = one_line(schema.name, 60)
            self.notify(f"Replies must follow {shown}", title="Schema mode", markup=False)

        self.push_screen(
            TextLineScreen("", prompt="JSON Schema file (Enter attaches, Esc cancels)"), chosen
        )

    def action_server_log(self) -> None:
        if self.launch.local is None:
            return
        from llmchat.tui.screens.server_log import ServerLogScreen

        self.push_screen(ServerLogScreen(self.launch.local.server))

    async def on_unmount(self) -> None:
        if self.context is not None:
            await self.context.gateway.aclose()
        self._close_context()
        if self.launch.local is not None:
            self.launch.local.server.stop()
