"""The status bar: what the next request goes to and how the last reply went."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.content import Content
from textual.widgets import Static

from llmchat.core.params import SamplingParams
from llmchat.core.request import SERVER_DEFAULT_MODEL
from llmchat.core.safe_text import one_line
from llmchat.tui.widgets.message_meta import format_cost, format_ms, format_tokens


@dataclass(frozen=True, slots=True)
class StatusFacts:
    backend: str = ""
    model: str = ""
    state: str = "ready"
    ttft_ms: float | None = None
    tok_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    estimated: bool = False
    elapsed_s: float | None = None
    params: SamplingParams | None = None
    session_cost: float | None = None
    """Dollars spent in this session; None when a turn could not be priced."""
    preset: str | None = None
    """The preset the sampling values match, shown by name."""
    schema: str | None = None
    """Schema mode: the name of the JSON Schema replies must follow."""
    priced: bool = False
    """Whether there is a reply to price yet (no cost is shown before)."""

    def line(self) -> str:
        """Most important first, so a narrow terminal cuts the least useful facts."""
        model = "server's model" if self.model == SERVER_DEFAULT_MODEL else self.model
        parts = [f"{one_line(self.backend, 24)} · {one_line(model, 40)}", self.state]
        if self.params is not None:
            p = self.params
            named = f" · {self.preset}" if self.preset else ""
            parts.append(f"T {p.temperature:.2f} p {p.top_p:.2f} max {p.max_tokens}{named}")
        if self.schema:
            parts.append(f"schema {one_line(self.schema, 24)}")
        if self.priced:
            parts.append(f"session {format_cost(self.session_cost)}")
        if self.ttft_ms is not None:
            parts.append(f"TTFT {format_ms(self.ttft_ms)}")
        if self.tok_s:
            parts.append(f"{self.tok_s:.0f} tok/s")
        if self.tokens_in is not None or self.tokens_out is not None:
            approx = "≈" if self.estimated else ""
            tin = "–" if self.tokens_in is None else format_tokens(self.tokens_in)
            tout = format_tokens(self.tokens_out or 0)
            parts.append(f"{approx}in {tin} out {tout}")
        if self.elapsed_s is not None:
            parts.append(f"{self.elapsed_s:.1f} s")
        return " │ ".join(parts)


class StatusBar(Static):
    """One line; updated from the same events that drive the reply."""

    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    def __init__(self, facts: StatusFacts, *, id: str | None = None) -> None:
        super().__init__(Content(facts.line()), id=id)
        self.facts = facts

    def show(self, **changes: object) -> None:
        self.facts = replace(self.facts, **changes)  # type: ignore[arg-type]
        self.update(Content(self.facts.line()))
