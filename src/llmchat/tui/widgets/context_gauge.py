"""The context gauge: how much of the window the next request will use, always visible.

One line: a bar of the prompt (system + history + draft) with the reply's reserve shown
apart, the figures (`12.4k / 128k`), and `≈` when the counts are estimates. Its colour
changes as the request nears the limit.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from llmchat.core.budget import ContextBudget
from llmchat.core.reply_facts import format_tokens

BAR_WIDTH = 24
WARN_AT = 0.75
FULL_AT = 0.9


def gauge_line(budget: ContextBudget | None, *, width: int = BAR_WIDTH) -> str:
    """E.g. `ctx ▕██████▒▒░░░░░░▏ ≈12.4k + 1k reply / 128k (10%)`."""
    if budget is None:
        return "ctx —"
    approx = "" if budget.exact else "≈"
    figures = f"{approx}{format_k(budget.prompt)} + {format_k(budget.reserved)} reply"
    if not budget.window:
        return f"ctx {figures} / window unknown" + _minify_hint(budget)
    prompt_cells = min(width, round(width * budget.prompt / budget.window))
    reserve_cells = min(width - prompt_cells, round(width * budget.reserved / budget.window))
    bar = "█" * prompt_cells + "▒" * reserve_cells + "░" * (width - prompt_cells - reserve_cells)
    share = budget.used / budget.window
    line = f"ctx ▕{bar}▏ {figures} / {format_k(budget.window)} ({share:.0%})"
    return line + _minify_hint(budget)


def _minify_hint(budget: ContextBudget) -> str:
    hints = ""
    if budget.skipped:
        hints += f" · {budget.skipped} earlier not sent"
    if budget.minify_saving > 0:
        hints += f" · F5 minifies the JSON: −{budget.minify_saving} tok"
    return hints


def format_k(tokens: int) -> str:
    if tokens >= 1000:
        return f"{tokens / 1000:.1f}k".replace(".0k", "k")
    return format_tokens(tokens)


class ContextGauge(Static):
    """Shows a ContextBudget; `-warn` near the limit and `-full` past the safety threshold."""

    DEFAULT_CSS = """
    ContextGauge { height: 1; padding: 0 1; color: $text-muted; }
    ContextGauge.-warn { color: $warning; }
    ContextGauge.-full { color: $error; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Content(gauge_line(None)), id=id)
        self.budget: ContextBudget | None = None

    def show(self, budget: ContextBudget) -> None:
        if budget == self.budget:
            return
        self.budget = budget
        self.update(Content(gauge_line(budget)))
        share = budget.fraction or 0.0
        self.set_class(WARN_AT <= share < FULL_AT, "-warn")
        self.set_class(share >= FULL_AT, "-full")
