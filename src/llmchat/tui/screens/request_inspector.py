"""`inspect: request`: the exact body of the last request, each attempt as it went out,
what the window policy left out, and the same request as a curl command.

The bodies are the bytes the backend sent (`RequestSent`), shown through `visible()`:
a conversation may hold anything, and it reaches the terminal only made harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from llmchat.core.request_view import (
    PRETTY_LINES,
    SentBody,
    curl_command,
    key_variable,
    plan_summary,
)
from llmchat.core.safe_text import visible
from llmchat.tui.clipboard import copy_text

if TYPE_CHECKING:
    from llmchat.engine.turn_request import TurnRequest
    from llmchat.gateway.gateway import Gateway


class RequestInspector(ModalScreen[None]):
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
        Binding("c", "copy_curl", "Copy as curl", id="inspector.curl"),
        Binding("m", "toggle_minified", "Pretty / as sent", id="inspector.minified"),
    ]

    def __init__(self, last: TurnRequest | None, gateway: Gateway) -> None:
        super().__init__()
        self.last = last
        self.gateway = gateway
        self.minified = False

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield from self._sections()
        yield Footer()

    def _sections(self) -> list[Static]:
        last = self.last
        if last is None:
            return [Static(Content("No request yet: send a message, then look again."))]
        planned = last.planned
        shown = [Static(Content("The last request"), classes="heading")]
        summary = plan_summary(planned.request, planned.skipped, planned.reserve_clipped)
        shown.append(Static(Content(visible("\n".join(summary)))))
        if not last.sent:
            shown.append(Static(Content("Nothing went out: the server could not be reached.")))
        for n, sent in enumerate(map(SentBody.of, last.sent), 1):
            attempt = f"Attempt {n} of {len(last.sent)}: " if len(last.sent) > 1 else ""
            head = f"{attempt}{sent.method} {sent.url} · {sent.size:,} bytes"
            shown.append(Static(Content(visible(head)), classes="heading"))
            shown.append(Static(Content(self._body(sent)), classes="body"))
        shown.append(
            Static(
                Content(
                    "Headers: Content-Type, and the key from its variable (never shown). "
                    "c copies the last attempt as a curl command; m shows it as sent."
                )
            )
        )
        return shown

    def _body(self, sent: SentBody) -> str:
        text = sent.body if self.minified else sent.pretty()
        lines = text.splitlines()
        if len(lines) > PRETTY_LINES:
            more = len(lines) - PRETTY_LINES
            text = "\n".join(lines[:PRETTY_LINES]) + f"\n⋯ {more:,} more lines (the copy is whole)"
        return visible(text)

    async def action_copy_curl(self) -> None:
        if self.last is None or not self.last.sent:
            self.notify("Nothing was sent yet.", timeout=3)
            return
        sent = SentBody.of(self.last.sent[-1])
        protocol = self.gateway.protocol
        variable = key_variable(protocol, self.gateway.key_source)
        await copy_text(self.app, curl_command(sent, protocol, variable), "the request as curl")

    async def action_toggle_minified(self) -> None:
        self.minified = not self.minified
        scroll = self.query_one(VerticalScroll)
        await scroll.remove_children()
        await scroll.mount_all(self._sections())
