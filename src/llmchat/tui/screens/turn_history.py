"""`inspect: latency` and `inspect: cache`: the session's replies turn by turn. Latency
as a chart against prompt tokens and a table (core/latency_chart, core/turn_history);
the cache as a table, then why reuse dropped where it did (core/cache_explainer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.content import Content
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Footer, Static

from llmchat.core.latency_chart import NARROWEST, latency_chart
from llmchat.core.messages import Message
from llmchat.core.safe_text import visible
from llmchat.core.turn_history import TurnFacts, cache_table, latency_table, turns

if TYPE_CHECKING:
    from llmchat.core.cache_explainer import ReuseDrop

WORKING = "Working out why reuse dropped…"


class LatencyChart(Widget):
    """The chart, drawn again for the width it is given. Its lines must not wrap (a
    Braille line broken in two is noise): narrower than NARROWEST the chart keeps that
    width and the view scrolls sideways. The text said instead of a chart wraps."""

    DEFAULT_CSS = "LatencyChart { height: auto; width: auto; margin-bottom: 1; }"

    def __init__(self, rows: list[TurnFacts]) -> None:
        super().__init__()
        self.rows = rows

    def _lines(self, width: int) -> tuple[list[str], bool]:
        """The lines for `width`, and whether they are a chart (not a sentence)."""
        lines = latency_chart(self.rows, width)
        return lines, any("│" in line for line in lines)

    def render(self) -> Content:
        lines, _ = self._lines(self.content_size.width)
        return Content("\n".join(lines))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        _, chart = self._lines(container.width)
        return max(NARROWEST, container.width) if chart else container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        lines, chart = self._lines(width)
        if chart:
            return len(lines)
        return sum(len(Content(line).wrap(max(1, width))) for line in lines)


class TurnHistoryScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TurnHistoryScreen { align: center middle; }
    TurnHistoryScreen > #turns {
        width: 96%; height: 80%; padding: 0 1;
        background: $panel; border: round $primary;
    }
    TurnHistoryScreen .heading { text-style: bold; }
    /* The tables keep their columns: narrower than them, the view scrolls sideways. */
    TurnHistoryScreen .table { width: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="turn_history.close")]

    def __init__(
        self,
        thread: list[Message],
        view: str,
        *,
        explain: Callable[[], list[ReuseDrop]] | None = None,
    ) -> None:
        """`explain` (the cache view) works out the drops; it runs in a thread."""
        super().__init__()
        self.view = view
        self.rows = turns(thread)
        self.drops: list[ReuseDrop] = []
        self._explain = explain

    def compose(self) -> ComposeResult:
        with ScrollableContainer(id="turns"):
            if self.view == "cache":
                yield Static(
                    Content("Prompt tokens reused from the cache, turn by turn"), classes="heading"
                )
                yield Static(
                    Content("\n".join(cache_table(self.rows))), id="cache-table", classes="table"
                )
                if self._explain is not None:
                    yield Static(Content("Where reuse dropped, and why"), classes="heading")
                    yield Static(Content(WORKING), id="drops")
            else:
                title = (
                    "Latency against prompt size: one dot per turn, joined in the order "
                    "sent. Prefill grows with the prompt, unless the cache serves it."
                )
                yield Static(Content(title), classes="heading")
                yield LatencyChart(self.rows)
                table = "\n".join(latency_table(self.rows))
                yield Static(Content(visible(table)), classes="table")
        yield Footer()

    def on_mount(self) -> None:
        if self._explain is not None:
            self.run_worker(
                self._fill_in_drops(self._explain),
                group="turn_history.explain",
                exclusive=True,
                exit_on_error=False,
                description="why prompt-cache reuse dropped",
            )

    async def _fill_in_drops(self, explain: Callable[[], list[ReuseDrop]]) -> None:
        try:
            drops = await asyncio.to_thread(explain)
        except Exception as exc:  # a bug here must not take the view down with it
            self.query_one("#drops", Static).update(
                Content(visible(f"Could not work out why reuse dropped: {exc!r}"))
            )
            raise
        self.drops = drops
        dropped = {drop.turn for drop in drops}
        self.query_one("#cache-table", Static).update(
            Content("\n".join(cache_table(self.rows, dropped)))
        )
        place = self.query_one("#drops", Static)
        if not drops:
            place.update(Content("Reuse did not drop on this thread."))
            return
        # Model and backend names come from outside llmchat.
        lines = [line for drop in drops for line in drop.lines()]
        place.update(Content(visible("\n".join(lines))))
