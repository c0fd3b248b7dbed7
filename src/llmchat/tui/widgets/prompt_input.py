"""The multi-line prompt: Enter sends, ctrl+j (or shift/alt+enter where the terminal
reports them) inserts a newline, ↑/↓ in an empty prompt walk the prompt history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import events, on
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea

from llmchat import paths
from llmchat.core.conversation import Conversation
from llmchat.core.messages import Role
from llmchat.core.prompt_history import PromptHistory
from llmchat.core.safe_text import visible

NEWLINE_KEYS = frozenset({"ctrl+j", "shift+enter", "alt+enter", "ctrl+enter"})


# The prompt is a few lines tall; these keys would page within it. The chat wins them.
SCROLL_KEYS: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
    Binding("pageup", "screen.scroll_chat('up')", "Scroll up", show=False),
    Binding("pagedown", "screen.scroll_chat('down')", "Scroll down", show=False),
    Binding("ctrl+home", "screen.scroll_chat('top')", "Top of chat", show=False),
    Binding("ctrl+end", "screen.scroll_chat('bottom')", "End of chat", show=False),
    # TextArea selects a word, a line, everything with F5-F7: the screen's keys win.
    Binding("f5", "screen.minify_json", "Minify JSON", show=False),
    Binding("f6", "screen.message_edit", "Edit", show=False),
    Binding("f7", "screen.message_regenerate", "Regenerate", show=False),
]


def conversation_history(conversation: Conversation) -> PromptHistory:
    """Prompt history for a chat: its own user messages, then earlier sessions' (read from
    disk only if ↑ runs past the chat's own)."""

    def earlier() -> list[str]:
        from llmchat.store.earlier_prompts import earlier_prompts

        return earlier_prompts(paths.sessions_dir(), skip=conversation.info.id)

    return PromptHistory(
        lambda: (m.content for m in conversation.messages if m.role is Role.USER), earlier
    )


class PromptInput(TextArea):
    """Where the user writes. Posts `PromptInput.Submitted` on Enter."""

    BINDINGS = SCROLL_KEYS

    DEFAULT_CSS = """
    PromptInput { height: auto; min-height: 3; max-height: 12; }
    """

    @dataclass
    class Submitted(Message):
        text: str

    @dataclass
    class _EarlierRead(Message, bubble=False):
        """The earlier sessions' messages, read by a thread worker."""

        texts: list[str]

    def __init__(self, *, id: str | None = None, history: PromptHistory | None = None) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            placeholder="Message — Enter sends · ctrl+j newline · Esc stops a reply · F1 help",
        )
        self.prompt_history = history
        self.sends_empty: Callable[[], bool] = lambda: False
        """Whether Enter sends with no text typed (files are attached to the message)."""
        self._steps_waiting = 0
        """↑ pressed past this session's messages while the earlier ones are read (a
        worker is reading them whenever this is above 0)."""

    def render_line(self, y: int) -> Strip:
        # TextArea wraps its placeholder at the content width, and wrapping at width 0
        # raises (a frame laid out mid-resize, or a terminal a few columns wide).
        if self.content_size.width <= 0:
            return Strip.blank(max(0, self.size.width))
        return super().render_line(y)

    async def _on_paste(self, event: events.Paste) -> None:
        # The prompt draws its text as it is, so a pasted escape sequence would reach the
        # terminal raw: control characters become visible stand-ins (␛), line breaks
        # of any kind become \n, tabs stay.
        event.prevent_default()
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if result := self._replace_via_keyboard(visible(text), *self.selection):
            self.move_cursor(result.end_location)
            self.focus()

    async def _on_key(self, event: events.Key) -> None:
        if event.key.startswith(("alt+", "ctrl+")) and event.key not in NEWLINE_KEYS:
            # A terminal sends alt+p as ESC + "p", which Textual reports with "p" as its
            # character: TextArea would type it. Such keys are the screen's. (Textual
            # reports alt with letters and digits only: ESC + "," arrives as ",".)
            event.prevent_default()
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text
            if text.strip() or self.sends_empty():
                self.post_message(self.Submitted(text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        if event.key in ("up", "down") and self._history_key(event.key):
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)

    # -- prompt history --------------------------------------------------------------

    def _history_key(self, key: str) -> bool:
        """Walk the history for ↑/↓ if they are history keys here; False: a cursor key.

        They are when the prompt is empty or shows a recalled message unchanged, and the
        cursor is on its first row (↑) or last row (↓): within a recalled multi-line
        message they move the cursor first, as in a shell.
        """
        history = self.prompt_history
        if history is None or not history.recalling(self.text):
            return False
        navigator = self.navigator
        if key == "up":
            if not navigator.is_first_wrapped_line(self.cursor_location):
                return False
            self._older()
            return True
        if not navigator.is_last_wrapped_line(self.cursor_location):
            return False
        if self._steps_waiting:
            self._steps_waiting -= 1  # ↓ undoes an ↑ still waiting for the earlier ones
        else:
            self._show(history.newer(self.text))
        return True

    def _older(self) -> None:
        assert self.prompt_history is not None
        if self._steps_waiting:
            self._steps_waiting += 1
            return
        older = self.prompt_history.older(self.text)
        if older is not None:
            self._show(older)
        elif self.prompt_history.needs_earlier:
            self._steps_waiting = 1
            self._read_earlier(self.prompt_history)

    def _read_earlier(self, history: PromptHistory) -> None:
        def read() -> None:
            try:
                texts = history.fetch_earlier()
            except Exception:  # history is a convenience: unreadable means nothing older
                texts = []
            self.post_message(self._EarlierRead(texts))

        self.run_worker(
            read,
            thread=True,
            group="prompt-history",
            exclusive=True,
            exit_on_error=False,
            description="reading earlier sessions' messages for prompt history",
        )

    @on(_EarlierRead)
    def _earlier_read(self, message: _EarlierRead) -> None:
        if self.prompt_history is None:
            return
        self.prompt_history.add_earlier(message.texts)
        steps, self._steps_waiting = self._steps_waiting, 0
        for _ in range(steps):
            if not self.prompt_history.recalling(self.text):
                break  # typed meanwhile: the draft wins
            older = self.prompt_history.older(self.text)
            if older is None:
                break
            self._show(older)

    def _show(self, text: str | None) -> None:
        if text is None:
            return
        self.text = text
        self.move_cursor(self.document.end)
