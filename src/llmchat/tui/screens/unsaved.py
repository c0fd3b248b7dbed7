"""Asked on quit (or on opening another session) when the session file did not take
every change (a full disk, a folder made read-only): retry saving, save the whole
conversation to another file, or go on anyway. Without it, leaving after "kept in
memory" dropped those messages without a word.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from llmchat.core.conversation import Conversation, PersistError
from llmchat.core.safe_text import one_line


def suggested_copy_path(conversation: Conversation, folder: Path) -> Path:
    """Where to offer to save: `folder` (the home folder) with the session's own file
    name, so the copy can go back into the sessions folder as it is; a new name if taken."""
    from llmchat.store.session_file import session_filename

    name = session_filename(conversation.info)
    path, n = folder / name, 1
    while path.exists():
        n += 1
        path = folder / name.replace(".jsonl", f"-{n}.jsonl")
    return path


class UnsavedScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    UnsavedScreen { align: center middle; }
    UnsavedScreen > Vertical {
        width: 90; height: auto; padding: 1 2;
        background: $panel; border: round $error;
    }
    UnsavedScreen #unsaved-problem { color: $text-error; margin-top: 1; }
    UnsavedScreen Horizontal { height: auto; margin-top: 1; }
    UnsavedScreen Button { margin-right: 1; }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Stay", id="unsaved.stay", tooltip="Back to the session"),
    ]

    def __init__(
        self,
        conversation: Conversation,
        problem: str,
        suggested: Path,
        *,
        leaving: str = "quitting",
        then: Callable[[str | None], None] | None = None,
    ) -> None:
        """`leaving`: what the user asked for, in words ("quitting", "opening another
        session"); `then`: what happens once the changes are safe or given up (with a
        line saying where they went); by default the app quits."""
        super().__init__()
        self.conversation = conversation
        self._problem = problem
        self._suggested = suggested
        self._leaving = leaving
        self._then = then

    def _go_on(self, message: str | None = None) -> None:
        if self._then is None:
            self.app.exit(message=message)
            return
        self.dismiss()
        self._then(message)

    def compose(self) -> ComposeResult:
        count = self.conversation.unsaved
        changes = "1 change" if count == 1 else f"{count} changes"
        with Vertical():
            yield Label(
                f"{changes} to this session could not be saved; {self._leaving} now loses "
                "them. Retry (if space was freed), save the whole conversation to another "
                "file, or go on anyway.",
                markup=False,
            )
            yield Label(one_line(self._problem, 200), id="unsaved-problem", markup=False)
            yield Input(str(self._suggested), id="unsaved-path")
            with Horizontal():
                yield Button("Retry saving", id="retry", variant="primary")
                yield Button("Save to this path", id="save-as")
                anyway = "Quit anyway" if self._then is None else "Go on anyway"
                yield Button(anyway, id="quit", variant="error")
                yield Button("Stay", id="stay")

    def on_mount(self) -> None:
        self.query_one("#retry", Button).focus()

    def _say(self, problem: str) -> None:
        self.query_one("#unsaved-problem", Label).update(one_line(problem, 200))

    @on(Button.Pressed, "#retry")
    def retry(self) -> None:
        try:
            self.conversation.flush()
        except PersistError as exc:
            self._say(f"Still not saved: {exc}")
            return
        self._go_on()

    @on(Button.Pressed, "#save-as")
    @on(Input.Submitted, "#unsaved-path")
    def save_as(self) -> None:
        from llmchat.store.session_file import write_session_copy

        text = self.query_one("#unsaved-path", Input).value.strip()
        if not text:
            self._say("Give a file to save the conversation to.")
            return
        path = Path(text).expanduser()
        try:
            write_session_copy(path, self.conversation.snapshot())
        except FileExistsError:
            self._say(f"{path} exists already: give a new name.")
            return
        except OSError as exc:
            self._say(f"Could not save to {path}: {exc.strerror or exc}")
            return
        self._go_on(f"llmchat: the whole session is saved in {path}")

    @on(Button.Pressed, "#quit")
    def quit_anyway(self) -> None:
        self._go_on()

    @on(Button.Pressed, "#stay")
    def stay(self) -> None:
        self.dismiss()
