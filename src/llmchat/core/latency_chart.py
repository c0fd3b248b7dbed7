"""The latency chart of `inspect: latency`: time to first token, prefill time and decode
speed of each turn against its prompt tokens, drawn in Braille dots so it fits a narrow
terminal. Pure: lines of text for a given width, the screen only shows them.

Each panel puts prompt tokens across and the value up from zero, one dot per turn,
joined in turn order: prefill cost climbing with the context shows as a rising line,
and a cache that serves the old prompt as a line that stays low while it moves right.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from llmchat.core.turn_history import TurnFacts

PANEL_ROWS = 4
"""Text rows per panel: 16 dots of height."""
LABEL_WIDTH = 7
"""The value labels at the left of each panel ("12.34 s", "999 ms", "1500 s", "88.8"):
a value is rounded to fit, so its unit is never cut off."""
NARROWEST = 24
"""Narrower than this a panel is no use: the chart is drawn this wide and the view
scrolls sideways."""
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
    return _fit(f"{value:.1f}", f"{value:.0f}", f"{value:.1e}")


def _duration(ms: float) -> str:
    """A time rounded to fit LABEL_WIDTH with its unit: "999 ms", "12.34 s", "1500 s",
    "167 min", "28 h"."""
    seconds = ms / 1000
    if ms < 1000:
        return f"{ms:.0f} ms"
    if seconds < 10000:
        return _fit(f"{seconds:.2f} s", f"{seconds:.1f} s", f"{seconds:.0f} s")
    minutes = seconds / 60
    if minutes < 1000:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return _fit(f"{hours:.0f} h", f"{hours:.0e} h")


def _fit(*forms: str) -> str:
    """The first (most precise) form that fits the label column, else the last one."""
    return next((form for form in forms if len(form) <= LABEL_WIDTH), forms[-1])


SERIES = (
    Series("time to first token", lambda r: r.ttft_ms, _duration),
    Series("prefill (the server's own time)", lambda r: r.prefill_ms, _duration),
    Series("decode speed (tokens/s)", lambda r: r.tok_s, _speed),
)


def latency_chart(rows: Sequence[TurnFacts], width: int) -> list[str]:
    """Three small panels, `width` columns wide (between NARROWEST and WIDEST); with too
    few turns, one line of text saying so (to be wrapped to the width shown)."""
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
            if r.prompt is not None
            and (value := series.value(r)) is not None
            and 0 <= value < math.inf
        ]
        if lines:
            lines.append("")
        if len(points) < 2:
            lines += textwrap.wrap(f"{series.title}: fewer than two turns report it", width)
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

    top = series.label(high_y)[:LABEL_WIDTH]  # fitted already; only an absurd value is cut
    labels = [top] + [""] * (PANEL_ROWS - 2) + ["0"]
    lines = [series.title[:width]]
    for label, row in zip(labels, cells, strict=True):
        lines.append(f"{label:>{LABEL_WIDTH}}│" + "".join(chr(0x2800 + bits) for bits in row))
    lines.append(" " * LABEL_WIDTH + "└" + "─" * columns)
    low, high = round(low_x), round(high_x)
    axes = (
        (f"{low:,}", f"{high:,} prompt tokens"),
        (f"{low:,}", f"{high:,}"),
        (_count(low), _count(high)),
        ("", _count(high)),
    )
    left, right = next(
        ((a, b) for a, b in axes if len(a) + len(b) + (1 if a else 0) <= columns), axes[-1]
    )
    lines.append(" " * (LABEL_WIDTH + 1) + left + right.rjust(columns - len(left)))
    return lines


def _count(tokens: int) -> str:
    """A token count made short: 9,999, 12k, 340M, 20G."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if tokens >= 10 * size:
            return f"{tokens // size:,}{unit}"
    return f"{tokens:,}"


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
