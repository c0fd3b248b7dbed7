"""The latency chart of `inspect: latency`: time to first token, prefill time and decode
speed of each turn against its prompt tokens, drawn in Braille dots so it fits a narrow
terminal. Pure: lines of text for a given width, the screen only shows them.

Each panel puts prompt tokens across and the value up from zero, one dot per turn,
joined in turn order: prefill cost climbing with the context shows as a rising line,
and a cache that serves the old prompt as a line that stays low while it moves right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from llmchat.core.turn_history import TurnFacts, duration

PANEL_ROWS = 4
"""Text rows per panel: 16 dots of height."""
LABEL_WIDTH = 7
"""The value labels at the left of each panel ("12.34 s", "1234 ms", "88.8")."""
NARROWEST = 24
WIDEST = 100
"""Wider than this, a panel is stretched past reading; the rest of the line stays empty."""

_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
"""A Braille cell's dot bits: [column][row], rows from the top."""


@dataclass(frozen=True, slots=True)
class Series:
    title: str
    value: Callable[[TurnFacts], float | None]
    label: Callable[[float], str]


def _speed(value: float) -> str:
    return f"{value:.1f}"


SERIES = (
    Series("time to first token", lambda r: r.ttft_ms, duration),
    Series("prefill (the server's own time)", lambda r: r.prefill_ms, duration),
    Series("decode speed (tokens/s)", lambda r: r.tok_s, _speed),
)


def latency_chart(rows: Sequence[TurnFacts], width: int) -> list[str]:
    """Three small panels, `width` columns wide (between NARROWEST and WIDEST)."""
    width = min(WIDEST, max(NARROWEST, width))
    measured = [r for r in rows if r.prompt is not None]
    if len(measured) < 2:
        return [
            "The chart needs two turns that recorded their prompt size; "
            f"this thread has {len(measured)}."
        ]
    lines: list[str] = []
    for series in SERIES:
        points = [
            (float(r.prompt), value)
            for r in measured
            if r.prompt is not None and (value := series.value(r)) is not None and value >= 0
        ]
        if lines:
            lines.append("")
        if len(points) < 2:
            lines.append(f"{series.title}: fewer than two turns report it")
            continue
        lines += _panel(series, points, width)
    return lines


def _panel(series: Series, points: list[tuple[float, float]], width: int) -> list[str]:
    columns = width - LABEL_WIDTH - 1
    dots_across, dots_up = columns * 2, PANEL_ROWS * 4
    low_x = min(x for x, _ in points)
    high_x = max(x for x, _ in points)
    high_y = max(y for _, y in points)
    cells = [[0] * columns for _ in range(PANEL_ROWS)]

    def place(x: float, y: float) -> tuple[int, int]:
        across = (x - low_x) / (high_x - low_x) if high_x > low_x else 0.5
        up = y / high_y if high_y > 0 else 0.0
        return round(across * (dots_across - 1)), round((1 - up) * (dots_up - 1))

    dots = [place(x, y) for x, y in points]
    for (x0, y0), (x1, y1) in pairwise(dots):
        for x, y in _segment(x0, y0, x1, y1):
            cells[y // 4][x // 2] |= _DOT_BITS[x % 2][y % 4]
    for x, y in dots:  # a turn is two dots wide, so it stands out from the line
        for across in (x, x + 1 if x + 1 < dots_across else x - 1):
            cells[y // 4][across // 2] |= _DOT_BITS[across % 2][y % 4]

    top = series.label(high_y)[:LABEL_WIDTH]
    labels = [top] + [""] * (PANEL_ROWS - 2) + ["0"]
    lines = [series.title[:width]]
    for label, row in zip(labels, cells, strict=True):
        lines.append(f"{label:>{LABEL_WIDTH}}│" + "".join(chr(0x2800 + bits) for bits in row))
    lines.append(" " * LABEL_WIDTH + "└" + "─" * columns)
    left, right = f"{round(low_x):,}", f"{round(high_x):,} prompt tokens"
    if len(left) + len(right) + 1 > columns:
        right = f"{round(high_x):,}"
    lines.append(" " * (LABEL_WIDTH + 1) + left + right.rjust(columns - len(left)))
    return lines


def _segment(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """The dots of a straight line from one turn to the next (Bresenham)."""
    points = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    step_x, step_y = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    error = dx + dy
    while True:
        points.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return points
        twice = 2 * error
        if twice >= dy:
            error += dy
            x0 += step_x
        if twice <= dx:
            error += dx
            y0 += step_y
