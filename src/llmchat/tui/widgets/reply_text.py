"""A reply's text as it is displayed: neutralised, with one kind of line break, and the
parts of a huge reply that are shown when it is folded.

Line splitting and the Markdown parser must agree on what a line is, or spans computed
on one are applied to the other and text disappears: Python's `splitlines` breaks at
U+2028, U+2029, U+0085, VT, FF and the file separators, markdown-it only at `\\n` (and
`\\r`). So the displayed text breaks lines at `\\n` only: the other separators are shown
as visible stand-ins (VT, FF, U+0085 and the C0 separators already are, by `visible`),
and everything here splits at `\\n`. Only what is displayed changes; the stored text is
exactly what the model sent.

A reply beyond `FOLD_LINES` lines or `FOLD_CHARS` characters is folded: its first lines
(`HEAD_*`) are drawn as Markdown, its last lines (`TAIL_*`) as plain text, and a notice
between says how much is folded and how to show it all. Every bound here is on
characters, so a reply with no line breaks at all is bounded too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmchat.core.safe_text import visible

FOLD_LINES = 2_000
FOLD_CHARS = 200_000
"""A reply beyond either is folded."""
HEAD_LINES = 60
HEAD_CHARS = 6_000
"""What a folded reply shows of its start, as Markdown."""
TAIL_LINES = 20
TAIL_CHARS = 4_000
"""What a folded reply shows of its end, as plain text."""

_SEPARATORS = re.compile("[\u2028\u2029]")
_STAND_INS = {"\u2028": "⟨U+2028⟩", "\u2029": "⟨U+2029⟩"}


def display_text(text: str) -> str:
    """`text` safe to draw, its only line break `\\n` (per character: any chunking gives
    the same result)."""
    shown = visible(text)
    if _SEPARATORS.search(shown):
        shown = _SEPARATORS.sub(lambda match: _STAND_INS[match.group()], shown)
    return shown


def lines_of(text: str) -> list[str]:
    """The lines of displayed text, each with its `\\n` (never `splitlines`)."""
    lines = text.split("\n")
    ending = [line + "\n" for line in lines[:-1]]
    return [*ending, lines[-1]] if lines[-1] else ending


def is_huge(chars: int, newlines: int) -> bool:
    return chars > FOLD_CHARS or newlines + 1 > FOLD_LINES


def head_of(text: str) -> str:
    """The start of a folded reply: whole lines, at most HEAD_LINES and HEAD_CHARS (a
    single longer line is cut at HEAD_CHARS)."""
    head = text[:HEAD_CHARS]
    cut = -1
    for _ in range(HEAD_LINES):
        found = head.find("\n", cut + 1)
        if found < 0:
            break
        cut = found
    return head[: cut + 1] if cut >= 0 else head


def tail_of(recent: str, *, starts_text: bool) -> str:
    """The end of a folded reply from its last characters (`recent`, at most TAIL_CHARS):
    whole lines, at most TAIL_LINES; the first line is dropped if it may be cut (unless it
    is the only one). `starts_text`: `recent` is the whole text."""
    lines = recent.split("\n")
    if not starts_text and len(lines) > 1:
        lines = lines[1:]
    return "\n".join(lines[-TAIL_LINES:])


@dataclass(frozen=True, slots=True)
class Fold:
    """What a folded reply leaves out."""

    chars: int
    lines: int

    def notice(self) -> str:
        size = (
            f"{self.chars / 1_000_000:.1f} MB"
            if self.chars >= 100_000
            else f"{self.chars:,} characters"
        )
        lines = f"{self.lines:,} lines" if self.lines != 1 else "1 line"
        return (
            f"⋯ {lines} ({size}) folded here · Enter on the focused message "
            "(ctrl+↑) or `message: show all` shows all"
        )
