"""Shown while llmchat brings up its own llama-server: every step, never a frozen screen."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator, Log, Static

from llmchat.core.safe_text import one_line, visible
from llmchat.local.plan import LocalServerPlan, start_local_server


class StartingScreen(Screen[None]):
    """Calls `then(True)` once the server answers; stays with the error otherwise."""

    DEFAULT_CSS = """
    StartingScreen > Vertical { padding: 1 2; }
    StartingScreen #starting-title { color: $primary; text-style: bold; height: 1; }
    StartingScreen LoadingIndicator { height: 1; margin: 1 0; }
    StartingScreen Log { height: 1fr; border: round $panel; }
    StartingScreen #starting-error { color: $error; height: auto; }
    """
    BINDINGS = [
        Binding("r", "retry", "Retry", id="starting.retry", tooltip="Try starting it again"),
        Binding("ctrl+q", "app.quit", "Quit", id="starting.quit"),
    ]

    def __init__(self, plan: LocalServerPlan, then: Callable[[bool], None]) -> None:
        super().__init__()
        self.plan = plan
        self._then = then
        self.typed = ""
        """What the user typed while the model loaded: the chat's draft once it is up
        (never sent by itself), so nothing typed early is lost."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Content(f"Starting a local model: {one_line(self.plan.server.alias)}"),
                id="starting-title",
            )
            yield LoadingIndicator()
            yield Static("", id="starting-typed")
            yield Static("", id="starting-error")
            yield Log(highlight=False, id="starting-log")
        yield Footer()

    failed = False

    def on_mount(self) -> None:
        self.action_retry()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.failed if action == "retry" else True

    def action_retry(self) -> None:
        if self.plan.server.running:
            return
        self.failed = False
        self.refresh_bindings()
        self.query_one(LoadingIndicator).display = True
        self.query_one("#starting-error", Static).update("")
        self.run_worker(self._start(), exclusive=True, exit_on_error=False, description="start")

    def on_key(self, event: events.Key) -> None:
        if self.failed:
            return
        if event.key == "backspace":
            self.typed = self.typed[:-1]
        elif event.key in ("enter", "ctrl+j"):
            self.typed += "\n"
        elif event.is_printable and event.character:
            self.typed += event.character
        else:
            return
        event.stop()
        shown = one_line(visible(self.typed[-200:]), 100) if self.typed else ""
        self.query_one("#starting-typed", Static).update(
            Content(f"Kept as your message once the model is up: {shown}") if shown else ""
        )

    def _progress(self, line: str) -> None:
        self.query_one(Log).write_line(visible(line))

    async def _start(self) -> None:
        try:
            await start_local_server(self.plan, self._progress)
        except Exception as exc:  # shown with the log; the user can retry or quit
            self.query_one(LoadingIndicator).display = False
            first, *rest = str(exc).splitlines() or ["failed"]
            self.query_one("#starting-error", Static).update(
                Content(f"Could not start llama-server: {one_line(first)}\nPress r to retry.")
            )
            for line in rest:
                self._progress(line)
            self._progress(f"Full log: {self.plan.log_path}")
            self.failed = True
            self.refresh_bindings()
            return
        self.query_one(LoadingIndicator).display = False
        self._then(True)
