"""`inspect: latency` and `inspect: cache`: the session's replies turn by turn. Latency
as a chart against prompt tokens and a table (core/latency_chart, core/turn_history);
the cache as a table, then why reuse dropped where it did (core/cache_explainer)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.content import Content
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Footer, Static

from llmchat.core.cache_explainer import ReuseDrop
from llmchat.core.latency_chart import latency_chart
from llmchat.core.messages import Message
from llmchat.core.safe_text import visible
from llmchat.core.turn_history import TurnFacts, cache_table, latency_table, turns


class LatencyChart(Widget):
    """The chart, drawn again for the width it is given."""

    DEFAULT_CSS = "LatencyChart { height: auto; margin-bottom: 1; }"

    def __init__(self, rows: list[TurnFacts]) -> None:
        super().__init__()
        self.rows = rows

    def render(self) -> Content:
        return Content("\n".join(latency_chart(self.rows, self.content_size.width)))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(latency_chart(self.rows, width))


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

    def __init__(self, thread: list[Message], view: str, drops: Sequence[ReuseDrop] = ()) -> None:
        super().__init__()
        self.view = view
        self.rows = turns(thread)
        self.drops = list(drops)

    def compose(self) -> ComposeResult:
        with ScrollableContainer(id="turns"):
            if self.view == "cache":
                yield Static(
                    Content("Prompt tokens reused from the cache, turn by turn"), classes="heading"
                )
                dropped = {drop.turn for drop in self.drops}
                yield Static(Content("\n".join(cache_table(self.rows, dropped))), classes="table")
                if self.drops:
                    yield Static(Content("Where reuse dropped, and why"), classes="heading")
                    lines = [line for drop in self.drops for line in drop.lines()]
                    # Model and backend names come from outside llmchat.
                    yield Static(Content(visible("\n".join(lines))))
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
