"""A huge reply shown whole, as plain text drawn one screen row at a time.

Markdown for megabytes of text is out of reach (Rich lays out a few tens of KB a second
here), so "show all" draws the text as it is, wrapped at the width, and only the rows
the compositor asks for: the work per frame is the visible rows, whatever the size.
The rows per line are counted once per width (a long ASCII line by its length, others
cell by cell) and kept as running totals, so a row is found by bisection; appending
text (a reply still streaming) recounts only the last line and the new ones.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget


def _rows(line: str, width: int) -> int:
    if not line:
        return 1
    if line.isascii():
        return -(-len(line) // width)
    return max(1, len(chop_cells(line, width)))


def _row(line: str, width: int, index: int) -> str:
    if line.isascii():
        return line[index * width : (index + 1) * width]
    pieces = chop_cells(line, width)
    return pieces[index] if index < len(pieces) else ""


class ReplyLines(Widget):
    """Displayed text (see reply_text.display_text), every character of it, windowed."""

    DEFAULT_CSS = """
    ReplyLines { height: auto; }
    """

    def __init__(self, text: str = "") -> None:
        super().__init__(classes="block")
        self._lines: list[str] = [""]
        self._width = 0
        self._counts: list[int] = []
        """Rows of each line at `_width`."""
        self._ends: list[int] = []
        """Running totals of `_counts`."""
        self.append(text)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def append(self, text: str) -> None:
        """More text at the end (a reply still streaming)."""
        if not text:
            return
        new = text.expandtabs(4).split("\n")
        self._lines[-1] += new[0]
        self._lines.extend(new[1:])
        if self._width:
            changed = len(self._lines) - len(new)
            del self._counts[changed:], self._ends[changed:]
            self._count_from(changed)
        self.refresh(layout=True)

    def _count_from(self, start: int) -> None:
        width = self._width
        counts = [_rows(line, width) for line in self._lines[start:]]
        base = self._ends[-1] if self._ends else 0
        self._counts.extend(counts)
        self._ends.extend(accumulate(counts, initial=base))
        del self._ends[len(self._counts) - len(counts)]  # `initial` repeats the base

    def _measure(self, width: int) -> int:
        width = max(1, width)
        if width != self._width:
            self._width = width
            self._counts, self._ends = [], []
            self._count_from(0)
        return self._ends[-1] if self._ends else 0

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._measure(width)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width or self.size.width
        self._measure(width)
        line_index = bisect_right(self._ends, y)
        if line_index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        before = self._ends[line_index - 1] if line_index else 0
        text = _row(self._lines[line_index], self._width, y - before)
        strip = Strip([Segment(text, self.rich_style)], cell_len(text))
        return strip.extend_cell_length(width, self.rich_style)
