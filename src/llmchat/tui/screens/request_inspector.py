"""`inspect: request`: the last request and the next one. For each, the exact body
(pretty or as sent) with its size in bytes and tokens, the headers with the key written
as its variable, what the window policy left out; for the last, the reply side too: its
facts, usage and timings as received, its first and last raw stream events. `c` copies
the request shown as a curl command; `r` and `p` replay the last request elsewhere.

Everything shown that did not come from llmchat (bodies, server events, names) goes
through `visible()`: a conversation may hold anything, and it reaches the terminal only
made harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from llmchat.core.reply_facts import reply_meta
from llmchat.core.request_view import (
    SentBody,
    curl_command,
    folded,
    header_lines,
    plan_summary,
    raw_events_heading,
    usage_lines,
)
from llmchat.core.safe_text import visible
from llmchat.tui.clipboard import copy_text

if TYPE_CHECKING:
    from llmchat.engine.turn_request import TurnRequest

Upcoming = Callable[[], Awaitable["TurnRequest | str"]]
"""Plans and encodes the request the draft would make now (or says why it would not go)."""
Replay = Literal["model", "preset"]
"""What the inspector was closed to do: replay the last request with another backend
or model, or with a preset."""


class RequestInspector(ModalScreen[Replay | None]):
    DEFAULT_CSS = """
    RequestInspector { align: center middle; }
    RequestInspector > VerticalScroll {
        width: 96%; height: 90%; padding: 0 1;
        background: $panel; border: round $primary;
    }
    RequestInspector .heading { text-style: bold; margin-top: 1; }
    RequestInspector .body { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="inspector.close"),
        Binding("n", "toggle_next", "Last / next", id="inspector.next"),
        Binding("c", "copy_curl", "Copy as curl", id="inspector.curl"),
        Binding("m", "toggle_minified", "Pretty / as sent", id="inspector.minified"),
        Binding("r", "replay('model')", "Replay elsewhere", id="inspector.replay"),
        Binding("p", "replay('preset')", "Replay with a preset", id="inspector.replay_preset"),
    ]

    def __init__(self, last: TurnRequest | None, upcoming: Upcoming | None = None) -> None:
        super().__init__()
        self.last = last
        self._upcoming = upcoming
        self._redrawing = asyncio.Lock()
        self.next: TurnRequest | str | None = None
        """The next request once compiled (a str: why it would not be sent)."""
        self.showing_next = False
        self.minified = False

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield from self._sections()
        yield Footer()

    # -- what is shown ---------------------------------------------------------------------

    def _sections(self) -> list[Static]:
        if self.showing_next:
            return self._next_sections()
        last = self.last
        if last is None:
            return [
                Static(Content("No request yet: send a message, or n for the next one.")),
            ]
        shown = [Static(Content("The last request"), classes="heading")]
        shown += self._request(last)
        shown += self._reply_side(last)
        shown.append(Static(Content(self._keys())))
        return shown

    def _next_sections(self) -> list[Static]:
        heading = Static(
            Content("The next request: what llmchat would send now for the draft as typed"),
            classes="heading",
        )
        upcoming = self.next
        if upcoming is None:
            return [heading, Static(Content("Compiling it…"))]
        if isinstance(upcoming, str):
            return [heading, Static(Content(visible(upcoming)))]
        shown = [heading]
        messages = upcoming.planned.request.messages
        if messages and not messages[-1].content and not messages[-1].images:
            empty = "The draft is empty: your message goes where the empty one is below."
            shown.append(Static(Content(empty)))
        shown += self._request(upcoming)
        shown.append(Static(Content(self._keys())))
        return shown

    def _keys(self) -> str:
        which = "last" if self.showing_next else "next"
        return (
            f"n shows the {which} request; c copies the one shown as a curl command; "
            "m shows it as sent; r replays the last request with another backend or "
            "model, p with a preset."
        )

    def _request(self, request: TurnRequest) -> list[Static]:
        planned = request.planned
        summary = plan_summary(planned.request, planned.skipped, planned.reserve_clipped)
        if planned.prompt_tokens is not None:
            exact = "" if planned.exact else "≈"
            summary.append(
                f"The prompt is {exact}{planned.prompt_tokens:,} tokens "
                f"(counted by {planned.counted_by or 'an estimate'})."
            )
        if request.fitted:
            summary.append("Fitted to the model before sending (the body shows the result):")
            summary += [f"  {note}" for note in request.fitted]
        shown = [Static(Content(visible("\n".join(summary))))]
        if not request.sent:
            shown.append(Static(Content("Nothing went out: the server could not be reached.")))
        for n, sent in enumerate(request.sent, 1):
            body = SentBody.of(sent)
            attempt = f"Attempt {n} of {len(request.sent)}: " if len(request.sent) > 1 else ""
            head = f"{attempt}{body.method} {body.url} · {body.size:,} bytes"
            shown.append(Static(Content(visible(head)), classes="heading"))
            if sent.headers:
                shown.append(Static(Content(visible(header_lines(sent.headers))), classes="body"))
            shown.append(Static(Content(self._body(body)), classes="body"))
        return shown

    def _reply_side(self, last: TurnRequest) -> list[Static]:
        shown = [Static(Content("The reply"), classes="heading")]
        if last.reply is None and last.raw is None:
            shown.append(Static(Content("No reply has come for it yet.")))
            return shown
        lines = [reply_meta(last.reply)] if last.reply is not None else []
        lines += usage_lines(last.usage, last.timings)
        shown.append(Static(Content(visible("\n".join(lines)))))
        if last.raw is not None:
            shown.append(Static(Content(raw_events_heading(last.raw)), classes="heading"))
            first, rest = last.raw.first, last.raw.last
            between = last.raw.total - len(first) - len(rest)
            texts = [*first, *([f"⋯ {between:,} events not kept ⋯"] if between else []), *rest]
            shown.append(Static(Content(visible("\n\n".join(texts))), classes="body"))
        return shown

    def _body(self, sent: SentBody) -> str:
        return visible(folded(sent.body if self.minified else sent.pretty()))

    async def _show_again(self) -> None:
        # One redraw at a time: a key (m, n) and the next request's compile finishing
        # could each clear the view, then both mount it, showing it twice.
        async with self._redrawing:
            scroll = self.query_one(VerticalScroll)
            await scroll.remove_children()
            await scroll.mount_all(self._sections())

    # -- keys ------------------------------------------------------------------------------

    async def action_copy_curl(self) -> None:
        shown = self.next if self.showing_next else self.last
        if shown is None or isinstance(shown, str) or not shown.sent:
            self.notify("Nothing to copy yet.", timeout=3)
            return
        # Built from what went out (a replay or a fallback may have gone elsewhere than
        # the session's backend): its headers say whether a key was sent, and whose.
        sent = shown.sent[-1]
        command = curl_command(SentBody.of(sent), sent.headers, sent.backend)
        await copy_text(self.app, command, "the request as curl")

    async def action_toggle_minified(self) -> None:
        self.minified = not self.minified
        await self._show_again()

    async def action_toggle_next(self) -> None:
        self.showing_next = not self.showing_next
        await self._show_again()
        if self.showing_next and self._upcoming is not None:
            self.run_worker(
                self._compile_next(self._upcoming),
                group="next-request",
                exclusive=True,
                exit_on_error=False,
                description="compile the request the draft would make",
            )

    async def _compile_next(self, upcoming: Upcoming) -> None:
        try:
            self.next = await upcoming()
        except Exception as exc:  # a view: say it, never take the app down
            self.next = f"The next request could not be compiled: {exc}"
        if self.showing_next:
            await self._show_again()

    def action_replay(self, how: Replay) -> None:
        if self.last is None or self.last.reply is None:
            self.notify("No reply to replay yet.", timeout=3)
            return
        self.dismiss(how)
