"""An assistant reply: Markdown that streams in token by token, and a line of facts.

Deltas arrive far faster than a frame. Each Markdown append re-parses the last block and
lays the reply out again, so the reply coalesces deltas and appends at most about once a
frame: the first delta after a quiet spell goes out at once (low time-to-first-token),
the rest are gathered and a timer flushes them, which also flushes the tail when the
stream pauses or ends.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from llmchat.core.messages import Message, Status
from llmchat.core.safe_text import is_safe_link, visible
from llmchat.tui.widgets.message_meta import reply_meta

FRAME_S = 1 / 60


class ReplyBody(Markdown):
    """The Markdown of a reply; owns its MarkdownStream while the reply is streaming."""

    def __init__(self, markdown: str = "") -> None:
        super().__init__(visible(markdown), open_links=False)
        self._stream: MarkdownStream | None = None
        self._pending: list[str] = []
        self._last_flush = 0.0
        self._timer: Timer | None = None

    async def feed(self, text: str) -> None:
        """Queue model text for display (neutralised here; the stored text is untouched)."""
        self._pending.append(visible(text))
        if self._timer is not None:
            return
        if time.perf_counter() - self._last_flush >= FRAME_S:
            await self._flush()
        else:
            self._timer = self.set_timer(FRAME_S, self._flush)

    async def _flush(self) -> None:
        self._timer = None
        if not self._pending:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self)
        chunk = "".join(self._pending)
        self._pending.clear()
        self._last_flush = time.perf_counter()
        # MarkdownStream itself gathers writes that arrive while an append is running.
        await self._stream.write(chunk)

    async def close_stream(self) -> None:
        """Flush what is pending and wait until it is on screen."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        await self._flush()
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    def on_markdown_link_clicked(self, event: Markdown.LinkClicked) -> None:
        # Never open a link the user has not seen: show the real target, and refuse
        # anything but http(s).
        event.stop()
        target = visible(event.href)
        if is_safe_link(event.href):
            self.app.notify(f"Opening {target}", title="Link")
            self.app.open_url(event.href)
        else:
            self.app.notify(f"Refused to open {target}", title="Link", severity="warning")


class ReplyView(Vertical):
    """One assistant message in the conversation."""

    DEFAULT_CSS = """
    ReplyView { height: auto; }
    """

    def __init__(self, message: Message | None = None) -> None:
        super().__init__(classes="reply")
        self.message = message
        self.body = ReplyBody(message.content if message else "")
        self.meta = Static(Content(reply_meta(message) if message else "…"), classes="meta")

    def compose(self) -> ComposeResult:
        yield self.body
        yield self.meta

    def on_mount(self) -> None:
        if self.message is not None:
            self._show_status(self.message.status)

    async def feed(self, text: str) -> None:
        await self.body.feed(text)

    def show_progress(self, line: str) -> None:
        self.meta.update(Content(line))

    async def finish(self, message: Message) -> None:
        """The turn ended (any status): flush the text and show the facts."""
        await self.body.close_stream()
        self.message = message
        self.meta.update(Content(reply_meta(message)))
        self._show_status(message.status)

    def _show_status(self, status: Status) -> None:
        for s in Status:
            self.set_class(s is status, f"-{s.value}")


class UserView(Static):
    """One user message, shown literally (no markup, controls made visible)."""

    def __init__(self, message: Message) -> None:
        super().__init__(Content(visible(message.content)), classes="user")
        self.message = message


class NoticeView(Static):
    """A line in the conversation from llmchat itself (errors, warnings, markers)."""

    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__(Content(text), classes=f"notice -{severity}")
