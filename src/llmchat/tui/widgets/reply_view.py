"""An assistant reply: Markdown that streams in token by token, and a line of facts.

Deltas arrive far faster than a frame, and each update lays the reply out again, so the
reply coalesces deltas and renders at most about once a frame: the first delta after a
quiet spell goes out at once (low time-to-first-token), the rest are gathered and a timer
flushes them, which also flushes the tail when the stream pauses or ends. Only the last,
still-open block is rendered again; finished blocks are left alone.
"""

from __future__ import annotations

import asyncio
import time

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.timer import Timer
from textual.widgets import Static

from llmchat.core.messages import Message, Status
from llmchat.core.reply_facts import reply_meta
from llmchat.core.safe_text import one_line, visible
from llmchat.core.structured import Checked
from llmchat.tui.widgets.reply_lines import ReplyLines
from llmchat.tui.widgets.reply_text import (
    HEAD_CHARS,
    TAIL_CHARS,
    Fold,
    display_text,
    head_of,
    is_huge,
    lines_of,
    tail_of,
)

FRAME_S = 1 / 20
"""At most this often after the first token: each render lays the screen out again, and
on a 2-core machine a local model's server needs the CPU more than the text needs 60 fps
(measured: 5.8 → 3.0 ms of app CPU per token, server decode 55 → 67 tok/s)."""
FOLDED_FRAME_S = 0.25
"""A folded reply's notice and end are redrawn this often: each redraw repaints the
conversation, time the keyboard needs more than a count that moves by megabytes."""
RENDER_CHARS = 4_000
"""At most this much new text is drawn as Markdown per render (the rest next frame)."""
OPEN_CHARS = 3_000
"""A block still growing is drawn again each frame only while it is shorter than this."""


class ReplyBlock(Static):
    """One top-level block of a reply, drawn by Rich, that the mouse can select like text.

    Textual maps the pointer to text through character offsets carried by each drawn
    segment, and only its own `Content` adds them; a block drawn by Rich carries none, so
    dragging over a reply selected nothing. The offsets are added here, to the drawn lines,
    and the selection is read from the same drawn text: a copy is what the screen shows,
    wrapped as it is shown (`copy: last reply` gives the Markdown itself).
    """

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(y)) is not None:
            # As Textual draws selected Content: the selection's (translucent) background
            # over the block's, and the text keeps its colour unless the theme sets one.
            marked = VisualStyle.from_styles(self.screen.get_component_styles("screen--selection"))
            under = VisualStyle(background=self.background_colors[1])
            strip = _highlight(strip, span, under, marked)
        return strip.apply_offsets(0, y)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        drawn = (super(ReplyBlock, self).render_line(y).text for y in range(self.size.height))
        # Rich pads every line to the width: the padding is not part of the text.
        return selection.extract("\n".join(line.rstrip() for line in drawn)), "\n"


def _highlight(
    strip: Strip, span: tuple[int, int], under: VisualStyle, marked: VisualStyle
) -> Strip:
    """`strip` with the characters in `span` (end -1: to the end) drawn `marked`."""
    text = strip.text
    start, end = span
    if end == -1 or end > len(text):
        end = len(text.rstrip())  # up to the end of the text, not of Rich's padding
    # The span counts characters; cutting a strip counts cells (wide characters are two).
    first, last = cell_len(text[:start]), cell_len(text[:end])
    if last <= first:
        return strip
    before, selected, after = strip.crop(0, first), strip.crop(first, last), strip.crop(last)
    restyled = [
        Segment(piece, (under + VisualStyle.from_rich_style(style or Style()) + marked).rich_style)
        for piece, style, _ in selected
    ]
    return Strip.join([before, Strip(restyled, selected.cell_length), after])


class ReplyBody(Vertical):
    """The Markdown of a reply, as one Static per top-level block; a huge reply folded.

    The work of a render is bounded whatever the reply's size: a render takes in at most
    `RENDER_CHARS` new characters (the rest waits for the next frame), a block still
    growing is drawn again only while it is under `OPEN_CHARS` (a longer one is cut at a
    line and carried on in a new block, a code fence opened again), and a reply beyond
    the fold (reply_text) is shown as its start, a notice and its end, whose updates
    cost the same at 20 MB as at 200 KB. `show_all` draws every line (ReplyLines).
    """

    DEFAULT_CSS = """
    ReplyBody { height: auto; padding: 0 1; }
    ReplyBody > .block { margin: 0 0 1 0; }
    ReplyBody > .block.-cut { margin: 0; }
    ReplyBody > .fold { color: $text-muted; text-style: italic; margin: 0 0 1 0; }
    """

    def __init__(self, markdown: str = "") -> None:
        super().__init__()
        self._text: list[str] = []
        """The model's text taken in so far, in pieces (joined only to show all). It is
        made displayable where it is drawn: a folded reply never scans all of it."""
        self._chars = 0
        self._newlines = 0
        self._head = ""
        """The first HEAD_CHARS characters (what a folded reply shows of its start)."""
        self._recent = ""
        """The last TAIL_CHARS characters (what a folded reply shows of its end)."""
        self._tail = ""
        """The text of the block still growing (with its fence line if it was cut)."""
        # An empty first block, mounted with the reply, so the first token only has to
        # update it (mounting a widget then would cost the first token a few ms).
        self._open: Static = ReplyBlock("", classes="block")
        self._pending: list[str] = [markdown] if markdown else []
        self._folded: tuple[Static, Static] | None = None
        """The fold's notice and the reply's end, once the reply is folded."""
        self._all: ReplyLines | None = None
        self._last_flush = 0.0
        self._interval = FRAME_S
        self._timer: Timer | None = None
        # One render at a time: a timer flush can still be mounting blocks when the next
        # delta (or the end of the stream) asks for another.
        self._rendering = asyncio.Lock()

    @property
    def source(self) -> str:
        """The text shown so far (controls and separators already made visible)."""
        return display_text("".join(self._text) + "".join(self._pending))

    @property
    def folded(self) -> bool:
        """Huge, and shown as its start and end (`show_all` shows every line)."""
        return self._folded is not None

    def compose(self) -> ComposeResult:
        yield self._open

    async def on_mount(self) -> None:
        if self._pending:
            await self._flush()

    async def feed(self, text: str) -> None:
        """Queue model text for display (neutralised here; the stored text is untouched)."""
        self._pending.append(text)
        if self._timer is not None:
            return
        if time.perf_counter() - self._last_flush >= self._interval:
            await self._flush()
        else:
            self._timer = self.set_timer(self._interval, self._flush)

    async def _flush(self) -> None:
        self._timer = None
        if self._rendering.locked():
            # The render in progress will not see this text: come back a frame later.
            self._timer = self.set_timer(FRAME_S, self._flush)
            return
        async with self._rendering:
            if not self._pending:
                return
            started = time.perf_counter()
            await self._render_pending()
            self._last_flush = time.perf_counter()
            # Rendering takes at most a quarter of the time (a long block is slow to
            # draw), so keys and paints always get their turn.
            frame = FRAME_S if self._folded is None else FOLDED_FRAME_S
            self._interval = max(frame, 3 * (self._last_flush - started))
            if self._pending and self._timer is None:
                self._timer = self.set_timer(self._interval, self._flush)

    def _take(self, limit: int | None) -> str:
        """Up to `limit` characters of the pending text, counted in."""
        text = "".join(self._pending)
        self._pending.clear()
        if limit is not None and len(text) > limit:
            self._pending.append(text[limit:])
            text = text[:limit]
        self._text.append(text)
        self._chars += len(text)
        self._newlines += text.count("\n")
        if len(self._head) < HEAD_CHARS:
            self._head += text[: HEAD_CHARS - len(self._head)]
        self._recent = (self._recent + text[-TAIL_CHARS:])[-TAIL_CHARS:]
        return text

    async def _render_pending(self) -> None:
        if self._all is not None:
            self._all.append(display_text(self._take(None)))
            return
        pending = self._pending
        if self._folded is None and is_huge(
            self._chars + sum(map(len, pending)),
            self._newlines + sum(piece.count("\n") for piece in pending),
        ):
            self._take(None)
            await self._fold()
            return
        if self._folded is not None:
            self._take(None)
            self._show_fold()
            return
        self._tail += display_text(self._take(RENDER_CHARS))
        await self._render_tail()

    async def _render_tail(self) -> None:
        # Imported here: markdown-it, Rich's Markdown and Pygments are not needed for the
        # first frame (the chat screen warms them up in a thread right after it).
        from llmchat.tui.widgets.reply_markdown import blocks, render_block

        lines = lines_of(self._tail)
        spans = blocks(self._tail)
        if not spans:
            return
        cut: str | None = None
        last_start, _, fence = spans[-1]
        if len(self._tail) - sum(map(len, lines[:last_start])) > OPEN_CHARS:
            # A block that keeps growing is not drawn again at every frame: what it has
            # is drawn for good, and it carries on in a new block from its last line.
            cut = ""
            if fence is not None:
                cut = fence + "\n"
            keep = max(last_start + 1, len(lines) - 1)
            spans[-1] = (last_start, keep, fence)
            spans.append((keep, len(lines), None))
        dark = self.app.current_theme.dark if self.is_attached else True
        new: list[Static] = []
        for index, (start, end, _) in enumerate(spans):
            source = "".join(lines[start:end])
            if cut is not None and index == len(spans) - 1:
                self._tail = cut + source
                new.append(ReplyBlock(render_block(self._tail, dark=dark), classes="block"))
                break
            block = render_block(source, dark=dark)
            if index == 0:
                self._open.update(block)
            else:
                new.append(ReplyBlock(block, classes="block"))
        if cut is not None:
            (new[-2] if len(new) > 1 else self._open).add_class("-cut")
        else:
            self._tail = "".join(lines[spans[-1][0] :])
        if new:
            await self.mount_all(new)
            self._open = new[-1]

    async def _fold(self) -> None:
        """Huge: its start as Markdown, a notice, its end as plain text."""
        from llmchat.tui.widgets.reply_markdown import render_block

        dark = self.app.current_theme.dark if self.is_attached else True
        head = ReplyBlock(
            render_block(display_text(head_of(self._head)), dark=dark), classes="block -cut"
        )
        notice = Static("", classes="fold")
        end = Static("", classes="block")
        self._folded = (notice, end)
        self._tail = ""
        await self.remove_children()
        await self.mount_all([head, notice, end])
        self._open = end
        self._show_fold()

    def _show_fold(self) -> None:
        assert self._folded is not None
        notice, end = self._folded
        head = head_of(self._head)
        starts_text = self._chars <= TAIL_CHARS
        tail = tail_of(self._recent, starts_text=starts_text)
        folded = Fold(
            chars=max(0, self._chars - len(head) - len(tail)),
            lines=max(0, self._newlines + 1 - head.count("\n") - tail.count("\n") - 1),
        )
        notice.update(Content(folded.notice()))
        end.update(Content(display_text(tail)))

    async def show_all(self) -> None:
        """Every line of a folded reply, drawn as plain text as it is scrolled to."""
        if self._folded is None or self._all is not None:
            return
        async with self._rendering:
            self._all = ReplyLines(display_text("".join(self._text)))
            self._folded = None
            await self.remove_children()
            await self.mount(self._all)

    async def close_stream(self) -> None:
        """Render all that is pending, a bounded piece per frame, so the whole reply is
        on screen (or, if huge, its fold)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        while True:
            async with self._rendering:
                pass  # let a render in progress finish first
            await self._flush()
            if not self._pending:
                return
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            await asyncio.sleep(FRAME_S)


class ReplyView(Vertical):
    """One assistant message in the conversation."""

    DEFAULT_CSS = """
    ReplyView { height: auto; }
    """

    def __init__(self, message: Message | None = None) -> None:
        super().__init__(classes="reply")
        self.message = message
        self._suffix = ""
        self._branch = ""
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

    async def show_all(self) -> None:
        """A folded (huge) reply: every line of it."""
        await self.body.show_all()

    def show_progress(self, line: str) -> None:
        self.meta.update(Content(line))

    async def finish(self, message: Message) -> None:
        """The turn ended (any status): flush the text and show the facts."""
        await self.body.close_stream()
        self.message = message
        self.refresh_meta()
        self._show_status(message.status)

    def show_branch(self, label: str) -> None:
        """`‹2/3›`: this reply is one of several to the same question."""
        if label != self._branch:
            self._branch = label
            self.refresh_meta()

    def refresh_meta(self) -> None:
        """Show the facts again (e.g. once the reply's price is known)."""
        if self.message is not None:
            branch = f"{self._branch} " if self._branch else ""
            self.meta.update(Content(branch + reply_meta(self.message) + self._suffix))

    async def show_checked(self, checked: Checked) -> None:
        """Structured output: the reply pretty-printed, and whether it follows the schema."""
        if checked.pretty is not None:
            await self.body.remove()
            self.body = ReplyBody(f"```json\n{checked.pretty}\n```")
            await self.mount(self.body, before=self.meta)
        self._suffix = f" · {checked.mark()}"
        self.refresh_meta()
        self.meta.set_class(not checked.valid, "-error")

    def _show_status(self, status: Status) -> None:
        # A class on the reply restyles every block inside it (hundreds of widgets for a
        # long Markdown answer, ~0.2 s each time), so the status is marked on the facts
        # line, and only a failed reply, which is rare and short, marks the whole reply.
        self.meta.set_classes(f"meta -{status.value}")
        if status is Status.ERROR:
            self.add_class("-error")


class UserView(Static):
    """One user message, shown literally (no markup, controls made visible)."""

    def __init__(self, message: Message) -> None:
        super().__init__(Content(_user_text(message)), classes="user")
        self.message = message
        self._branch = ""

    def show_branch(self, label: str) -> None:
        """`‹2/3›`: this question is one of several versions (it was edited)."""
        if label != self._branch:
            self._branch = label
            text = _user_text(self.message)
            self.update(Content(f"{text}\n{label}" if label else text))


def _user_text(message: Message) -> str:
    """The message as typed, then the images sent with it, by name."""
    text = visible(message.content)
    if message.images:
        names = ", ".join(one_line(image.name, 60) or "image" for image in message.images)
        text = f"{text}\n📎 {names}" if text else f"📎 {names}"
    return text


class NoticeView(Static):
    """A line in the conversation from llmchat itself (errors, warnings, markers).

    Its words are llmchat's, but they name outside things (a config key, a URL from the
    environment, a backend stored in a session file): shown through `visible()`."""

    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__(Content(visible(text)), classes=f"notice -{severity}")
