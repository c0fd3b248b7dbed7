"""What the session browser does to session files: rename, delete (to the trash), undo,
export.

Each file operation runs in a thread worker (a lock, a write, an fsync, the index) and
its outcome comes back to the UI thread, where the browser's list follows it. A session
open in this llmchat is renamed through its conversation, which holds its file, and is
never deleted; one another llmchat holds is refused, and the user is told which.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from llmchat.core.safe_text import one_line
from llmchat.store.errors import SessionError, SessionLocked, SessionNotFound
from llmchat.store.session_list import SessionSummary
from llmchat.store.session_title import retitle_session
from llmchat.store.session_trash import TrashedSession, move_to_trash, restore

if TYPE_CHECKING:
    from llmchat.tui.app import LlmChatApp
    from llmchat.tui.screens.session_browser import SessionBrowser


def _title(summary: SessionSummary) -> str:
    return one_line(summary.title or "(untitled)", 40)


def _home_relative(path: Path) -> str:
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def export_name(summary: SessionSummary) -> str:
    """A file name from the title (letters, digits and dashes), else the id."""
    words = re.findall(r"[^\W_]+", summary.title.lower())
    return "-".join(words)[:60].strip("-") or summary.id[:12]


class SessionFileActions:
    """Rename, delete and undo for one session browser."""

    def __init__(self, browser: SessionBrowser) -> None:
        self.browser = browser
        self.trashed: list[tuple[TrashedSession, SessionSummary]] = []
        """What this browser deleted, the last one last: what ctrl+z brings back."""

    @property
    def _app(self) -> LlmChatApp:
        return self.browser.chat_app

    def _open_here(self, summary: SessionSummary) -> bool:
        context = self._app.context
        return context is not None and context.conversation.info.id == summary.id

    def _in_thread(self, work: Callable[[], None], what: str) -> None:
        self.browser.run_worker(
            work, thread=True, exit_on_error=False, group="browser-files", description=what
        )

    def _later(self, callback: Callable[..., object], *args: object) -> None:
        """From the worker: run `callback` on the UI thread."""
        self._app.call_from_thread(callback, *args)

    # -- rename -------------------------------------------------------------------------

    def rename(self) -> None:
        from llmchat.tui.screens.text_line import TextLineScreen

        summary = self.browser.highlighted
        if summary is None:
            return

        def done(title: str | None) -> None:
            if title:
                self._rename(summary, title)

        self._app.push_screen(TextLineScreen(summary.title), done)

    def _rename(self, summary: SessionSummary, title: str) -> None:
        if self._open_here(summary):
            self._rename_open(summary, title)
            return

        def run() -> None:
            try:
                now = retitle_session(summary.path, title)
            except SessionLocked:
                self._later(self._refuse, summary, "renamed", "in another llmchat")
            except (SessionError, OSError) as exc:
                self._later(self._failed, "Not renamed", str(exc))
            else:
                self._later(self.browser.show_renamed, replace(summary, title=now, read=None))

        self._in_thread(run, "rename a session")

    def _rename_open(self, summary: SessionSummary, title: str) -> None:
        """Through the conversation that holds the file, as F2 in the chat does."""
        from llmchat.core.conversation import PersistError
        from llmchat.tui.screens.chat import ChatScreen

        context = self._app.context
        assert context is not None
        try:
            context.conversation.rename(title)
        except PersistError as exc:
            self._failed("Not renamed", str(exc))
            return
        for screen in self._app.screen_stack:
            if isinstance(screen, ChatScreen):
                screen.show_title()
        now = context.conversation.info.title
        self.browser.show_renamed(replace(summary, title=now, read=None))

    # -- delete and undo ----------------------------------------------------------------

    def delete(self) -> None:
        summary = self.browser.highlighted
        if summary is None:
            return
        if self._open_here(summary):
            self._refuse(summary, "deleted", "here: open another session first")
            return

        def run() -> None:
            try:
                trashed = move_to_trash(summary.path)
            except SessionLocked:
                self._later(self._refuse, summary, "deleted", "in another llmchat")
            except SessionNotFound:
                self._later(self._gone, summary, None)
            except SessionError as exc:
                self._later(self._failed, "Not deleted", str(exc))
            else:
                self._later(self._gone, summary, trashed)

        self._in_thread(run, "delete a session")

    def _gone(self, summary: SessionSummary, trashed: TrashedSession | None) -> None:
        self.browser.drop(summary.id)
        if trashed is None:
            self.browser.notify(f"“{_title(summary)}” was deleted elsewhere already.", markup=False)
            return
        self.trashed.append((trashed, summary))
        self.browser.notify(
            f"Deleted “{_title(summary)}” — ctrl+z brings it back.", markup=False, timeout=6
        )

    def undo(self) -> None:
        if not self.trashed:
            self.browser.notify("Nothing deleted here to bring back.", timeout=3)
            return
        trashed, summary = self.trashed.pop()

        def run() -> None:
            try:
                restore(trashed)
            except SessionError as exc:
                self._later(self._failed, "Not restored", str(exc))
            else:
                self._later(self._restored, summary)

        self._in_thread(run, "restore a session")

    def _restored(self, summary: SessionSummary) -> None:
        # Not the summary's cached read: the file's identity changed with the move.
        self.browser.put_back(replace(summary, read=None))
        self.browser.notify(f"Restored “{_title(summary)}”.", markup=False, timeout=3)

    # -- telling the user ---------------------------------------------------------------

    def _refuse(self, summary: SessionSummary, done: str, where: str) -> None:
        self.browser.notify(
            f"“{_title(summary)}” cannot be {done} while it is open {where}.",
            title="Session open",
            severity="warning",
            markup=False,
        )

    # -- export -------------------------------------------------------------------------

    def export(self) -> None:
        """Ask where (Markdown unless the name ends .json), then write it there."""
        from llmchat.store.session_export import free_name
        from llmchat.tui.screens.text_line import TextLineScreen

        summary = self.browser.highlighted
        if summary is None:
            return
        suggested = _home_relative(free_name(Path.home() / f"{export_name(summary)}.md"))

        def done(path: str | None) -> None:
            if path:
                self._export(summary, Path(path).expanduser())

        prompt = "Export to (Enter writes; a name ending .json gets JSON; Esc cancels)"
        self._app.push_screen(TextLineScreen(suggested, prompt=prompt), done)

    def _export(self, summary: SessionSummary, target: Path) -> None:
        from llmchat.store import load_session
        from llmchat.store.session_export import ExportError, export_text, write_export

        def run() -> None:
            try:
                loaded = load_session(summary.path)
                # Never over a file of the user's by two quick keys: a taken name is
                # refused (the suggestion is always a free one).
                write_export(target, export_text(loaded, target), summary.path, replace=False)
            except ExportError as exc:
                self._later(self._failed, "Not exported", str(exc))
            except (SessionError, OSError) as exc:
                self._later(self._failed, "Not exported", str(exc))
            else:
                self._later(self._exported, target)

        self._in_thread(run, "export a session")

    def _exported(self, target: Path) -> None:
        shown = one_line(str(target), 120)
        self.browser.notify(f"Exported to {shown}", title="Exported", timeout=5, markup=False)

    def _failed(self, title: str, reason: str) -> None:
        self.browser.notify(one_line(reason, 300), title=title, severity="error", markup=False)
