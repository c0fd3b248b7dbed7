"""A reply's Markdown as a column of blocks, each a single widget rendered by Rich.

Textual's Markdown widget builds a widget tree per block (a list item is four widgets, a
table cell one each): about 960 widgets for an 11 KB answer, which took 2.5 s to mount
here. Rendering each top-level block with Rich's Markdown into one Static makes the same
answer about 140 widgets and 0.4 s, and a streamed reply only ever re-renders its last,
still-growing block.

Links are not clickable: Rich shows them as `text (target)`, so the real target is always
visible and nothing is ever opened on the model's say-so.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, Heading, Markdown
from rich.segment import Segment
from rich.syntax import Syntax
from rich.text import Text

# The same grammar Rich's Markdown parses with, so block boundaries agree with rendering.
_PARSER = MarkdownIt().enable("strikethrough").enable("table")


class _LeftHeading(Heading):
    """Headings aligned left: a centred heading reads oddly in a chat column."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text: Text = self.text.copy()
        text.justify = "left"
        yield text


class _CodeBlock(CodeBlock):
    """Code without Rich's blank line above and below: blocks already have a margin."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        yield Syntax(code, self.lexer_name, theme=self.theme, word_wrap=True, padding=(0, 1))


class BlockMarkdown(Markdown):
    elements = {
        **Markdown.elements,
        "heading_open": _LeftHeading,
        "fence": _CodeBlock,
        "code_block": _CodeBlock,
    }


class RenderedOnce:
    """A renderable that renders its content once per width and replays it.

    Layout asks every block for its height on each pass, and Rich renders a Markdown
    block from scratch each time; finished blocks never change, so their lines are kept.
    """

    def __init__(self, renderable: BlockMarkdown) -> None:
        self.renderable = renderable
        self._lines: dict[int, list[list[Segment]]] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Keyed by width alone: measuring (no height) and drawing (height = the measured
        # one) give the same lines, so one render serves both.
        lines = self._lines.get(options.max_width)
        if lines is None:
            lines = console.render_lines(self.renderable, options.update(height=None), pad=False)
            self._lines[options.max_width] = lines
        if options.height is not None:
            lines = lines[: options.height]
        new_line = Segment.line()
        for line in lines:
            yield from line
            yield new_line


def render_block(source: str, *, dark: bool) -> RenderedOnce:
    return RenderedOnce(
        BlockMarkdown(
            source,
            code_theme="ansi_dark" if dark else "ansi_light",
            hyperlinks=False,
        )
    )


def block_spans(source: str) -> Iterator[tuple[int, int]]:
    """(first line, end line) of each top-level block, in order (lines end at `\\n`)."""
    for start, end, _ in blocks(source):
        yield start, end


def blocks(source: str) -> list[tuple[int, int, str | None]]:
    """(first line, end line, fence) of each top-level block: `fence` is the opening line
    of a code fence that is not closed yet (the reply stops inside it), else None."""
    found: list[tuple[int, int, str | None]] = []
    for token in _PARSER.parse(source):
        if token.level == 0 and token.map is not None and token.nesting >= 0:
            found.append((token.map[0], token.map[1], None))
            last = token
    if found and last.type == "fence" and last.map is not None:
        start, end = last.map
        lines = source.split("\n")[start:end]
        mark = last.markup
        closed = (len(lines) > 1 and _closes(lines[-1], mark)) or (
            len(lines) > 2 and not lines[-1].strip() and _closes(lines[-2], mark)
        )
        if not closed:
            found[-1] = (start, end, lines[0])
    return found


def _closes(line: str, mark: str) -> bool:
    text = line.strip()
    return len(text) >= len(mark) and set(text) == {mark[0]}


def warm_up() -> None:
    """Import and exercise the renderer once (thread-safe), so the first reply does not
    pay for building markdown-it's and Pygments' regular expressions."""
    sample = "# h\n\nsome **bold** `code`\n\n- a\n\n| a |\n|---|\n| b |\n\n```python\nx = 1\n```\n"
    console = Console(width=60, file=io.StringIO(), color_system=None)
    for start, end in block_spans(sample):
        block = "".join(sample.splitlines(keepends=True)[start:end])
        console.render_lines(render_block(block, dark=True), console.options)
