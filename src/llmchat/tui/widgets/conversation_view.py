"""The scrolling conversation: a thread of any length, with only what is near the
viewport mounted.

A reply view costs a few milliseconds to build and lay out (its Markdown becomes a
widget per block), and every mounted widget is laid out again on each frame, so a
resumed session of thousands of messages cannot mount them all. This widget holds the
thread's `Message`s (the loaded objects themselves: nothing is counted or copied) and
mounts a window of them: the newest at first, older ones built as the user scrolls up
(and newer ones again on the way down), views far from the viewport removed, so the
number of mounted views stays bounded whatever the thread's length. When views are
added or removed above the viewport the scroll position moves by their height in the
same layout pass, so what the user reads stays in place.

Below the window come the views of the turn in progress and llmchat's notices (`add`);
they are hidden while the window does not reach the end of the thread.

Message focus: ctrl+↑ (from the prompt) focuses the newest message; ↑/↓ (or k/j,
ctrl+↑/ctrl+↓) move between messages, building them as needed; Home/End go to the first
and last; Esc, ↓ past the newest or typing go back. `focused_message` is the message
the message actions apply to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Region, Size
from textual.layout import DockArrangeResult
from textual.widget import AwaitMount, Widget

from llmchat.core.messages import Message, Role
from llmchat.tui.widgets.reply_view import NoticeView, ReplyView, UserView

MessageView = UserView | ReplyView

FIRST_BUILD = 12
"""Messages mounted at once when a thread is shown: enough to fill a tall terminal."""
BATCH = 10
"""Messages built (or removed) per step while scrolling."""
MARGIN_SCREENS = 1.0
"""Keep this many viewport heights of messages built above and below the viewport."""
MOST_MOUNTED = 60
"""Above this many mounted messages, those farthest from the viewport are removed."""


class ConversationView(VerticalScroll):
    """The conversation (id "conversation"): a window over the thread, plus the turn in
    progress and notices at the end."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+up", "step(-1)", "Previous message", show=False),
        Binding("ctrl+down", "step(1)", "Next message", show=False),
        Binding("up,k", "step(-1, True)", "Previous message", show=False),
        Binding("down,j", "step(1, True)", "Next message", show=False),
        Binding("home", "first", "First message", show=False),
        Binding("end", "last", "Last message", show=False),
        Binding("ctrl+home", "to_first", "Top of chat", show=False),
        Binding("ctrl+end", "to_last", "End of chat", show=False),
        Binding("escape", "leave", "Back to the prompt", show=False),
        Binding("enter", "show_all", "Show all of a folded reply", show=False),
    ]

    def __init__(self, *, id: str | None = "conversation") -> None:
        super().__init__(id=id)
        self._thread: list[Message] = []
        self._index: dict[str, int] = {}
        self._start = 0
        self._end = 0
        self._mounted: list[MessageView] = []
        """Views of `_thread[_start:_end]`, in order."""
        self._tail_shown = True
        self._focus: int | None = None
        """Position of the focused message (the thread, then the added views), or None."""
        self._focused_view: MessageView | None = None
        self._return_to: Widget | None = None
        self._hold: tuple[Widget, int] | None = None
        """A view and its offset from the top of the viewport, kept while views change
        above it."""
        self._arranged: DockArrangeResult | None = None
        self._filling = False
        self._changing = asyncio.Lock()
        """Held while the window changes: filling while scrolling and jumps (ctrl+Home, a
        focused message far away) must not interleave their mounts and removals."""
        self._marker: tuple[str, str] | None = None
        """(message id, text) of the notice shown above that message (see `mark_before`)."""
        self._marker_view: NoticeView | None = None
        self.decorate: Callable[[MessageView], None] | None = None
        """Called with every message view this widget builds (e.g. to label branches)."""

    # -- the API ---------------------------------------------------------------------

    @property
    def thread(self) -> Sequence[Message]:
        """The messages shown (the views added with `add` are not in it)."""
        return self._thread

    def moves_focus(self, key: str) -> bool:
        """Whether a printable key is one of message focus's own (k/j, like ↑/↓), not
        typing meant for the prompt."""
        return self.focused_message is not None and key in ("k", "j")

    @property
    def focused_message(self) -> Message | None:
        """The message the keyboard is on, or None outside message focus."""
        view = self._focused_view
        return view.message if view is not None else None

    async def show_thread(self, messages: Sequence[Message]) -> None:
        """Show `messages` instead of everything shown: the newest of them mounted, the
        rest built when scrolled to. Views added with `add` are removed too."""
        self._clear_focus()
        async with self._changing:
            await self.remove_children()
            self._thread = list(messages)
            self._index = {message.id: n for n, message in enumerate(self._thread)}
            self._mounted = []
            self._marker_view = None
            self._tail_shown = True
            n = len(self._thread)
            await self._mount_window(max(0, n - FIRST_BUILD), n)
        self.anchor()
        self._fill_soon()

    async def switch_thread(self, messages: Sequence[Message]) -> None:
        """Show `messages`, another branch of the thread shown (alt+p / alt+n).

        The views above the first message that differs stay as they are (neither built
        nor rendered again); from there down the new branch's messages are built, as
        many as fill the viewport (more as they are scrolled to). The first of them
        takes the place on screen of the message it replaces if that was in the
        viewport, else comes to the top of the viewport. Message focus stays where it
        is in the thread (on that first new message if it was below it). Views added
        with `add` are removed, as by `show_thread`."""
        new = list(messages)
        old_ids = [message.id for message in self._thread]
        old_ids += [v.message.id if v.message else "" for v in self._added_views()]
        split = next(
            (n for n, (a, b) in enumerate(zip(old_ids, new, strict=False)) if a != b.id),
            min(len(old_ids), len(new)),
        )
        if split == len(old_ids) == len(new):
            return
        async with self._changing:
            held, offset, room = self._place_of(split)
            old_index, old_length = self._index, len(self._thread)
            build_to = split + self._enough(new[split:], room)
            if self._start > split:  # the window is below the switch: built from it
                kept = 0
                self._start = split
            elif split < self._end or self._end == old_length:
                kept = min(split, self._end) - self._start  # the views above stay
            else:  # the window is above the switch: none of it changes
                kept = len(self._mounted)
                build_to = self._end
            doomed: list[Widget] = [*self._mounted[kept:], *self._added()]
            if self._marker_view is not None and self._marker is not None:
                position = old_index.get(self._marker[0])
                if position is None or position >= self._start + kept:
                    doomed.append(self._marker_view)
                    self._marker_view = None
            self._thread = new
            self._index = {message.id: n for n, message in enumerate(new)}
            del self._mounted[kept:]
            first = self._start + kept
            views = [self._build(m) for m in new[first:build_to]]
            self._mounted += views
            self._end = build_to
            self._tail_shown = self._reaches_end  # nothing is after the window now
            if self._focus is not None:
                self._focus = min(self._focus, split)
            if held is None and split < self._end:
                held = self._mounted[split - self._start]
            if held is not None:
                if self.is_anchored and not self._anchor_released:
                    self.release_anchor()
                self._hold = (held, offset)
            # One layout for the removals and the mounts, after both (no frame between
            # with the thread cut short).
            async with self.batch():
                removed = self.remove_children(doomed)
                widgets = self._with_marker(first, views)
                mounted = None
                if widgets and kept:
                    mounted = self.mount_all(widgets, after=self._mounted[kept - 1])
                elif widgets:
                    mounted = self.mount_all(widgets, before=0)
                await removed
                if mounted is not None:
                    await mounted
            self._refocus()
        self._fill_soon()

    def _place_of(self, split: int) -> tuple[MessageView | None, int, int]:
        """What keeps the viewport still when the thread changes from position `split`:
        the view to hold and its offset from the viewport's top, and the lines of the
        viewport from where the new messages start to its bottom.

        The view held is the first one in the viewport if it is above `split`; else
        None: the message that will be at `split`, where the one it replaces started
        (at the top if that was not in the viewport or started above it)."""
        regions = self._regions()
        top = round(self.scroll_y)
        height = self.scrollable_content_region.height
        shown = [*self._mounted, *(self._added_views() if self._tail_shown else ())]
        held: MessageView | None = None
        offset = 0
        for position, view in enumerate(shown, start=self._start):
            if position > split:
                break
            region = regions.get(view)
            if region is None or region.bottom <= top:
                continue  # above the viewport
            if region.y >= top + height:  # so is the switch: none of it is in view
                return held, offset, 0 if held is not None else height
            if position < split:
                if held is None:
                    held, offset = view, region.y - top
                continue
            start = max(0, region.y - top)
            return held, offset if held is not None else start, height - start
        return held, offset, height

    def _enough(self, messages: Sequence[Message], room: int) -> int:
        """How many of `messages`, from the first, surely fill `room` lines: their
        height is guessed low (their text laid end to end), so rather one too many is
        built than the viewport left short until the next frame."""
        width = max(20, self.scrollable_content_region.width)
        lines = 0
        for count, message in enumerate(messages, start=1):
            lines += len(message.content) // width + 2  # a line of it, and the margin
            if lines > room:
                return min(len(messages), count + 1)
        return len(messages)

    def add(self, *widgets: Widget) -> AwaitMount:
        """Append views at the end (the turn in progress, notices), brought into view and
        followed while they grow, until the user scrolls up."""
        if not self._reaches_end:
            self.run_worker(self.to_last(), group="conversation-move", exit_on_error=False)
        await_mount = self.mount_all(widgets)
        self.anchor()
        return await_mount

    async def to_first(self) -> None:
        """Scroll to the very first message (built if it is not)."""
        async with self._changing:
            if self._start > 0:
                self._hold = None
                await self._rebuild(0, min(len(self._thread), FIRST_BUILD))
        self.scroll_home(animate=False, immediate=True)
        self._fill_soon()

    async def to_last(self) -> None:
        """Scroll to the end and follow what is added there again."""
        async with self._changing:
            await self._rebuild_at_end()
        self.anchor()
        self._fill_soon()

    async def _rebuild_at_end(self) -> None:
        n = len(self._thread)
        if self._end < n:
            self._hold = None
            await self._rebuild(max(0, n - FIRST_BUILD), n)

    def view_of(self, message_id: str | None) -> MessageView | None:
        """The mounted view of this message (None if it is not built now)."""
        if message_id is None:
            return None
        position = self._index.get(message_id)
        if position is not None:
            if self._start <= position < self._end:
                return self._mounted[position - self._start]
            return None
        for view in self._added_views():
            if view.message is not None and view.message.id == message_id:
                return view
        return None

    def message_views(self) -> Iterator[MessageView]:
        """Every mounted message view, oldest first."""
        yield from self._mounted
        yield from self._added_views()

    def mark_before(self, message_id: str | None, text: str = "") -> None:
        """Show `text` as a warning just above this message, now or whenever its view is
        built (None: no such notice)."""
        self._marker = (message_id, text) if message_id is not None else None
        if self._marker_view is not None:
            self._marker_view.remove()
            self._marker_view = None
        view = self.view_of(message_id)
        if view is not None:
            self._marker_view = self._marker_notice()
            self.mount(self._marker_view, before=view)

    async def show_all(self) -> None:
        """Every line of the focused reply, or else of the newest one, if it is folded."""
        view = self._focused_view
        if not isinstance(view, ReplyView):
            view = next(
                (v for v in reversed(list(self.message_views())) if isinstance(v, ReplyView)), None
            )
        if view is not None:
            await view.show_all()

    def focus_newest(self) -> None:
        """Message focus on the newest message (ctrl+↑ from the prompt)."""
        if self.screen.focused is not self:
            self._return_to = self.screen.focused
        count = self._count()
        if count:
            self.focus()
            self._focus_at(count - 1)

    def focus_message(self, message_id: str) -> bool:
        """Message focus on this message, built and scrolled to however far it is from
        the newest (a session opened at a search hit). False if the thread shown does
        not hold it (it is on another branch)."""
        position = self._index.get(message_id)
        if position is None:
            return False
        if self.screen.focused is not self:
            self._return_to = self.screen.focused
        self.focus()
        self._focus_at(position)
        return True

    # -- the window ------------------------------------------------------------------

    @property
    def _reaches_end(self) -> bool:
        return self._end >= len(self._thread)

    def _build(self, message: Message) -> MessageView:
        view: MessageView = (
            ReplyView(message) if message.role is Role.ASSISTANT else UserView(message)
        )
        if self.decorate is not None:
            self.decorate(view)
        return view

    def _with_marker(self, start: int, views: list[MessageView]) -> list[Widget]:
        """The views, with the marker notice before its message if that is among them."""
        widgets: list[Widget] = list(views)
        if self._marker is None:
            return widgets
        position = self._index.get(self._marker[0])
        if position is not None and start <= position < start + len(views):
            self._marker_view = self._marker_notice()
            widgets.insert(position - start, self._marker_view)
        return widgets

    def _marker_notice(self) -> NoticeView:
        assert self._marker is not None
        notice = NoticeView(self._marker[1], "warning")
        notice.add_class("unsent-marker")
        return notice

    async def _mount_window(self, start: int, end: int) -> None:
        """Mount `_thread[start:end]` into an empty window."""
        views = [self._build(m) for m in self._thread[start:end]]
        self._start, self._end, self._mounted = start, end, views
        first_added = next(self._added(), None)
        if views:
            await self.mount_all(self._with_marker(start, views), before=first_added)
        self._show_tail(self._reaches_end)
        self._refocus()

    async def _rebuild(self, start: int, end: int) -> None:
        """Replace the window by `_thread[start:end]`."""
        doomed: list[Widget] = list(self._mounted)
        if self._marker_view is not None:
            doomed.append(self._marker_view)
            self._marker_view = None
        self._mounted = []
        await self.remove_children(doomed)
        await self._mount_window(start, end)

    async def _prepend(self) -> None:
        start = max(0, self._start - BATCH)
        views = [self._build(m) for m in self._thread[start : self._start]]
        if not views:
            return
        self._hold_in_place()
        before = self._mounted[0] if self._mounted else next(self._added(), None)
        if self._marker_view is not None and self._mounted and self._marker_view_is_first():
            before = self._marker_view
        self._mounted[:0] = views
        self._start = start
        await self.mount_all(self._with_marker(start, views), before=before)
        self._refocus()

    async def _append(self) -> None:
        end = min(len(self._thread), self._end + BATCH)
        views = [self._build(m) for m in self._thread[self._end : end]]
        if not views:
            return
        self._hold_in_place()
        after = self._mounted[-1] if self._mounted else None
        first = self._end
        self._mounted.extend(views)
        self._end = end
        widgets = self._with_marker(first, views)
        if after is not None:
            await self.mount_all(widgets, after=after)
        else:
            await self.mount_all(widgets, before=next(self._added(), None))
        if self._reaches_end:
            self._show_tail(True)
        self._refocus()

    def _marker_view_is_first(self) -> bool:
        return bool(
            self._marker is not None
            and self._mounted
            and self._mounted[0].message is not None
            and self._mounted[0].message.id == self._marker[0]
        )

    async def _trim(self) -> None:
        """Remove the views farthest from the viewport, beyond MOST_MOUNTED."""
        extra = len(self._mounted) - MOST_MOUNTED
        if extra <= 0:
            return
        height = max(1, self.scrollable_content_region.height)
        top = self.scroll_y - height * MARGIN_SCREENS
        bottom = self.scroll_y + height * (1 + MARGIN_SCREENS)
        regions = self._regions()

        def outside_above(view: MessageView) -> bool:
            region = regions.get(view)
            return region is not None and region.bottom < top

        def outside_below(view: MessageView) -> bool:
            region = regions.get(view)
            return region is not None and region.y > bottom

        doomed: list[Widget] = []
        below = [v for v in reversed(self._mounted) if outside_below(v)][:extra]
        if below:
            self._end -= len(below)
            del self._mounted[len(self._mounted) - len(below) :]
            doomed += below
            self._show_tail(False)
        extra = len(self._mounted) - MOST_MOUNTED
        above = [v for v in self._mounted if outside_above(v)][: max(0, extra)]
        if above:
            self._hold_in_place()
            self._start += len(above)
            del self._mounted[: len(above)]
            doomed += above
        if self._marker_view is not None and self._marker is not None:
            position = self._index.get(self._marker[0])
            if position is not None and not (self._start <= position < self._end):
                doomed.append(self._marker_view)
                self._marker_view = None
        if doomed:
            await self.remove_children(doomed)

    def _fill_soon(self) -> None:
        if not self._filling:
            self._filling = True
            self.call_after_refresh(self._start_fill)

    def _start_fill(self) -> None:
        self.run_worker(self._fill(), group="conversation-fill", exit_on_error=False)

    async def _fill(self) -> None:
        """Build messages until a margin of them is ready above and below the viewport."""
        try:
            while self.is_attached:
                # Trimmed at each step, so a long scroll never holds many more than
                # MOST_MOUNTED + BATCH views.
                async with self._changing:
                    await self._trim()
                    height = max(1, self.scrollable_content_region.height)
                    margin = height * MARGIN_SCREENS
                    if self.scroll_y < margin and self._start > 0:
                        await self._prepend()
                    elif self.max_scroll_y - self.scroll_y < margin and not self._reaches_end:
                        await self._append()
                    else:
                        break
                await self._next_frame()
        finally:
            self._filling = False

    async def _next_frame(self) -> None:
        """Until the changes are laid out (sizes and scroll limits are then true)."""
        laid_out: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done() -> None:
            if not laid_out.done():
                laid_out.set_result(None)

        self.call_after_refresh(done)
        await laid_out

    def _added(self) -> Iterator[Widget]:
        """The widgets after the window: views added with `add`, and notices."""
        window: set[Widget] = set(self._mounted)
        if self._marker_view is not None:
            window.add(self._marker_view)
        return (child for child in self.children if child not in window)

    def _added_views(self) -> Iterator[MessageView]:
        for widget in self._added():
            if isinstance(widget, UserView | ReplyView):
                yield widget

    def _show_tail(self, shown: bool) -> None:
        if shown == self._tail_shown:
            return
        self._tail_shown = shown
        for widget in self._added():
            widget.display = shown

    def mount(
        self,
        *widgets: Widget,
        before: int | str | Widget | None = None,
        after: int | str | Widget | None = None,
    ) -> AwaitMount:
        # Whatever is appended (by `add` or mounted directly) is after the window: it
        # stays hidden while the window does not reach the end of the thread.
        if before is None and after is None and not self._tail_shown:
            window: set[Widget] = {*self._mounted, *filter(None, [self._marker_view])}
            for widget in widgets:
                if widget not in window:
                    widget.display = False
        return super().mount(*widgets, before=before, after=after)

    # -- keeping the viewport still ----------------------------------------------------

    def _regions(self) -> dict[Widget, Region]:
        """Where each child was placed by the last layout (in the scrolled content)."""
        if self._arranged is None:
            return {}
        return {p.widget: p.region for p in self._arranged.placements}

    def _hold_in_place(self) -> None:
        """Keep the first view in the viewport where it is while views change around it."""
        if self.is_anchored and not self._anchor_released:
            return  # the anchor keeps the bottom in place
        regions = self._regions()
        for view in self._mounted:
            region = regions.get(view)
            if region is not None and region.bottom > self.scroll_y:
                self._hold = (view, region.y - round(self.scroll_y))
                return

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:  # type: ignore[no-untyped-def]
        result = super().arrange(size, optimal)
        if result is self._arranged:
            return result
        self._arranged = result
        hold = self._hold
        if hold is not None and not (self.is_anchored and not self._anchor_released):
            view, offset = hold
            end = max(0, result.total_region.bottom - size.height)
            for placement in result.placements:
                if placement.widget is view:
                    scroll_y = min(end, max(0, placement.region.y - offset))
                    # As the compositor does for an anchored widget: in this layout
                    # pass, before anything is painted.
                    self.set_reactive(VerticalScroll.scroll_y, scroll_y)
                    self.set_reactive(VerticalScroll.scroll_target_y, scroll_y)
                    self.vertical_scrollbar._reactive_position = scroll_y  # type: ignore[attr-defined]
                    break
        return result

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._hold = None  # the user moved: nothing to keep in place any more
            self._fill_soon()

    def on_resize(self, event: events.Resize) -> None:
        self._fill_soon()

    # -- message focus ---------------------------------------------------------------

    def _count(self) -> int:
        return len(self._thread) + sum(1 for _ in self._added_views())

    def _message_at(self, position: int) -> Message | None:
        if position < len(self._thread):
            return self._thread[position]
        added = list(self._added_views())
        view = added[position - len(self._thread)]
        return view.message

    def _focus_at(self, position: int) -> None:
        self.run_worker(self._move_focus(position), group="conversation-move", exclusive=True)

    async def _move_focus(self, position: int) -> None:
        count = self._count()
        if not count:
            return
        position = max(0, min(count - 1, position))
        self._focus = position
        async with self._changing:
            if position < len(self._thread) and not (self._start <= position < self._end):
                self._hold = None
                start = max(0, position - BATCH)
                await self._rebuild(start, min(len(self._thread), start + FIRST_BUILD + BATCH))
            elif position >= len(self._thread):
                await self._rebuild_at_end()
        self._refocus()
        view = self._focused_view
        if view is not None:
            self.call_after_refresh(self._bring_into_view, view)

    def _bring_into_view(self, view: MessageView) -> None:
        if view is not self._focused_view or not view.is_attached:
            return
        region = self._regions().get(view)
        height = self.scrollable_content_region.height
        if region is not None and region.height > height:
            # Taller than the viewport: its top, where it starts.
            self.scroll_to(y=region.y, animate=False, immediate=True)
        else:
            self.scroll_to_widget(view, animate=False, immediate=True)
        self._fill_soon()

    def _refocus(self) -> None:
        """Highlight the focused message's view, if it is mounted."""
        view: MessageView | None = None
        if self._focus is not None:
            if self._focus < len(self._thread):
                if self._start <= self._focus < self._end:
                    view = self._mounted[self._focus - self._start]
            else:
                added = list(self._added_views())
                index = self._focus - len(self._thread)
                view = added[index] if index < len(added) else None
        if view is self._focused_view:
            return
        if self._focused_view is not None:
            self._focused_view.remove_class("-focused")
        self._focused_view = view
        if view is not None:
            view.add_class("-focused")

    def _clear_focus(self) -> None:
        self._focus = None
        self._refocus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("leave", "first", "last", "show_all"):
            # Outside message focus Esc is the screen's (stop the reply) and Home/End
            # scroll, as they did.
            return self._focus is not None
        return True

    def action_step(self, step: int, plain: bool = False) -> None:
        if self._focus is None:
            if plain:  # ↑/↓ scroll until a message is focused
                (self.scroll_up if step < 0 else self.scroll_down)(animate=False)
                return
            self.focus_newest()
            return
        if step > 0 and self._focus >= self._count() - 1:
            self.action_leave()
            return
        self._focus_at(self._focus + step)

    def action_first(self) -> None:
        self._focus_at(0)

    def action_last(self) -> None:
        self._focus_at(self._count() - 1)

    async def action_show_all(self) -> None:
        await self.show_all()

    async def action_to_first(self) -> None:
        await self.to_first()

    async def action_to_last(self) -> None:
        await self.to_last()

    def action_leave(self) -> None:
        self._clear_focus()
        back, self._return_to = self._return_to, None
        if back is not None and back.is_attached and back.screen is self.screen:
            back.focus()
        else:
            self.screen.focus_next()

    def on_blur(self, event: events.Blur) -> None:
        # Another widget of this screen took the keyboard (typing, Tab, a click): message
        # focus ends. A palette or a dialog on top keeps it, for its actions.
        self.call_after_refresh(self._blurred)

    def _blurred(self) -> None:
        if self.app.screen is self.screen and self.screen.focused is not self:
            self._clear_focus()
