"""The `backends` view (palette `backends: show`): every backend the app talks to, with
its circuit breaker's state, its failures in a row and its last error, and the order a
request tries them in (the session's backend, then its fallbacks).

It reads the breakers as they are, once a second, and never asks a server anything: the
view of a backend that is down must open at once. Names, models and errors come from the
config and from servers, so they are shown neutralised; errors were masked for keys
where the backend made them.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from llmchat.core.safe_text import one_line
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.known import BreakerView, KnownBackend, KnownBackends

REFRESH_EVERY_S = 1.0
COLUMNS = ("order", "backend", "kind", "model", "breaker", "failures", "last error")


def backend_row(known: KnownBackend, order: str) -> tuple[str, ...]:
    """One backend as the view lists it, every field one neutralised line."""
    breaker = known.gateway.breaker
    view = BreakerView.of(breaker)
    error = breaker.last_error
    return (
        order,
        one_line(known.name, 24),
        known.kind,
        one_line(known.current_model, 40),
        view.describe(),
        str(view.failures),
        one_line(error.one_line(), 100) if error is not None else "",
    )


class BackendsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    BackendsScreen { align: center middle; }
    BackendsScreen > Vertical {
        width: 95%; max-width: 160; height: auto; max-height: 80%; padding: 1 2;
        background: $panel; border: round $primary;
    }
    BackendsScreen #chain { height: auto; margin-bottom: 1; }
    BackendsScreen DataTable { height: auto; max-height: 20; }
    BackendsScreen #detail { height: auto; margin-top: 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="backends.close")]

    def __init__(self, known: KnownBackends, gateway: Gateway) -> None:
        super().__init__()
        self._known = known
        self._gateway = gateway
        """The session's gateway: its chain is listed first, in order."""
        self._listed: list[tuple[str, KnownBackend]] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._chain_line(), id="chain")
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Static(id="detail")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.show_rows()
        self.set_interval(REFRESH_EVERY_S, self.show_rows, name="refresh backends")
        table.focus()

    def listed(self) -> list[tuple[str, KnownBackend]]:
        """The session's backend, its fallbacks in order, then the others the app knows,
        each with its place in the order."""
        chain = self._known.chain_of(self._gateway)
        listed = [("primary" if at == 0 else f"fallback {at}", k) for at, k in enumerate(chain)]
        in_chain = {known.gateway for known in chain}
        listed += [("other", k) for k in self._known.all() if k.gateway not in in_chain]
        return listed

    def show_rows(self) -> None:
        self._listed = self.listed()
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        # Text cells: a DataTable reads a plain string cell as markup.
        rows = [backend_row(known, order) for order, known in self._listed]
        table.add_rows([tuple(Text(cell) for cell in row) for row in rows])
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        self._show_detail(table.cursor_row)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    def _show_detail(self, row: int) -> None:
        """The highlighted backend's last error in full: the table's column cuts it."""
        detail = ""
        if 0 <= row < len(self._listed):
            known = self._listed[row][1]
            error = known.gateway.breaker.last_error
            if error is not None:
                detail = (
                    f"{one_line(known.name, 24)}, last error: {one_line(error.one_line(), 400)}"
                )
        self.query_one("#detail", Static).update(Content(detail))

    def _chain_line(self) -> Content:
        names = [one_line(known.name, 24) for known in self._known.chain_of(self._gateway)]
        order = " → ".join(names) if names else "none known"
        return Content(f"Backends — a request tries: {order}. Refreshed every second; Esc closes.")
