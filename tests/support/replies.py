"""Reply texts for the test server: plain prose or rich Markdown of a chosen length.

"Tokens" here are word-sized pieces with their leading whitespace, close enough to BPE
tokens for pacing, usage figures and benchmarks.
"""

from __future__ import annotations

import re


def split_tokens(text: str) -> list[str]:
    """Word-sized pieces with their leading whitespace, like BPE tokens; they join to text."""
    return re.findall(r"\s*\S+|\s+", text)


_PROSE = (
    "the model reads every token of the prompt before it writes a reply and the client "
    "shows each piece as soon as it arrives so the user sees progress while decoding runs"
)


def prose_reply(tokens: int) -> str:
    """Exactly `tokens` words of plain prose, in sentences and paragraphs."""
    vocabulary = _PROSE.split()
    words = []
    for i in range(tokens):
        word = vocabulary[(i * 7) % len(vocabulary)]
        if i % 12 == 0:
            word = word.capitalize()
        if i % 12 == 11 or i == tokens - 1:
            word += "."
        sep = "" if i == 0 else "\n\n" if i % 84 == 0 else " "
        words.append(sep + word)
    return "".join(words)


_MARKDOWN_BLOCKS = (
    "## Step {n}\n\n",
    "This paragraph has **bold**, *italic* and `inline code`, and explains step {n} at "
    "some length so that the renderer has real prose to wrap across lines.\n\n",
    "- a first point about step {n}\n- a second point with [a link](https://example.com/{n})\n"
    "  - a nested detail\n- a third point\n\n",
    "1. install the package\n2. run the command\n3. check the output\n\n",
    "| name | value | note |\n|------|------:|------|\n"
    "| alpha | {n} | first |\n| beta | {n}.5 | second |\n\n",
    '```python\ndef step_{n}(x: int) -> int:\n    """Double x."""\n    return x * 2\n```\n\n',
    "> A quoted remark about step {n}.\n\n",
)


def markdown_reply(tokens: int) -> str:
    """Markdown rich in lists, tables and code fences, of at least `tokens` tokens."""
    text, n = "", 0
    while len(split_tokens(text)) < tokens:
        n += 1
        text += "".join(template.format(n=n) for template in _MARKDOWN_BLOCKS)
    return text.rstrip("\n")
