"""The status bar: what the next request goes to and how the last reply went."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypedDict, Unpack

from rich.cells import cell_len
from textual.content import Content
from textual.widget import Widget

from llmchat.core.params import SamplingParams
from llmchat.core.reply_facts import format_cost, format_ms, format_tokens
from llmchat.core.request import SERVER_DEFAULT_MODEL
from llmchat.core.safe_text import one_line

SEPARATOR = " │ "
# What a narrow status bar keeps longest (highest rank) and drops first (lowest).
RANK_STATE, RANK_MODEL, RANK_DIALS, RANK_SPEED, RANK_TOKENS, RANK_COST, RANK_NAME = range(7)
RANK_ALARM = 9
"""A state the user must see (stalled, unreachable, error) is kept above all else."""


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
    backend_alarm: str | None = None
    """The backend is not answering as configured: its breaker is open, or a fallback
    answered ("openai: breaker open 24 s"). Already neutralised and bounded."""

    def facts(self) -> list[tuple[int, str]]:
        """(rank, text) in display order; a narrow bar drops the lowest rank first."""
        model = "server's model" if self.model == SERVER_DEFAULT_MODEL else self.model
        # What needs the user now (a stall, an edit under way) is kept longest.
        alarm = self.state.startswith(
            ("stalled", "server unreachable", "error", "editing", "system prompt")
        )
        facts = [
            (RANK_MODEL, f"{one_line(self.backend, 24)} · {one_line(model, 40)}"),
            (RANK_ALARM if alarm else RANK_STATE, self.state),
        ]
        if self.backend_alarm:
            facts.append((RANK_ALARM, self.backend_alarm))
        if self.params is not None:
            p = self.params
            facts.append((RANK_DIALS, f"T {p.temperature:.2f} p {p.top_p:.2f} max {p.max_tokens}"))
        if self.schema:
            facts.append((RANK_NAME, f"schema mode · {one_line(self.schema, 24)}"))
        elif self.preset:
            facts.append((RANK_NAME, self.preset))
        if self.priced:
            facts.append((RANK_COST, f"session {format_cost(self.session_cost)}"))
        if self.ttft_ms is not None:
            facts.append((RANK_SPEED, f"TTFT {format_ms(self.ttft_ms)}"))
        approx = "≈" if self.estimated else ""
        if self.tok_s:
            facts.append((RANK_SPEED, f"{approx}{self.tok_s:.0f} tok/s"))
        if self.tokens_in is not None or self.tokens_out is not None:
            tin = "–" if self.tokens_in is None else format_tokens(self.tokens_in)
            tout = format_tokens(self.tokens_out or 0)
            facts.append((RANK_TOKENS, f"{approx}in {tin} out {tout}"))
        if self.elapsed_s is not None:
            facts.append((RANK_SPEED, f"{self.elapsed_s:.1f} s"))
        return facts

    def line(self, width: int | None = None) -> str:
        """The facts that fit in `width` cells, whole: never a fact cut mid-word."""
        facts = self.facts()
        while width is not None and len(facts) > 1 and _width(facts) > width:
            lowest = min(rank for rank, _ in facts)
            # Of equal rank, the rightmost goes first.
            drop = max(i for i, (rank, _) in enumerate(facts) if rank == lowest)
            del facts[drop]
        text = SEPARATOR.join(text for _, text in facts)
        if width is not None and cell_len(text) > width:
            text = one_line(text, max(1, width))
        return text


def _width(facts: list[tuple[int, str]]) -> int:
    return cell_len(SEPARATOR.join(text for _, text in facts))


class FactChanges(TypedDict, total=False):
    """Facts a caller may change at once: `StatusBar.show(state=..., tok_s=...)`."""

    backend: str
    model: str
    state: str
    ttft_ms: float | None
    tok_s: float | None
    tokens_in: int | None
    tokens_out: int | None
    estimated: bool
    elapsed_s: float | None
    params: SamplingParams | None
    session_cost: float | None
    preset: str | None
    schema: str | None
    priced: bool
    backend_alarm: str | None


class StatusBar(Widget):
    """One line; updated from the same events that drive the reply."""

    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    def __init__(self, facts: StatusFacts, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.facts = facts

    def show(self, **changes: Unpack[FactChanges]) -> None:
        """Change some facts (typed: a misspelt or mistyped fact is a type error)."""
        self.facts = replace(self.facts, **changes)
        self.refresh()

    def render(self) -> Content:
        return Content(self.facts.line(self.content_size.width or None))
