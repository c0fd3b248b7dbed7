"""What a copy puts on the clipboard: a reply's Markdown, or one of its fenced code blocks,
made safe to paste.

A pasted ESC can end a shell's bracketed paste (`ESC[201~`) and run the rest of the text
as typed commands, and a stray `\\r` or backspace rewrites what the user sees before they
press Enter. So everything copied goes through `paste_safe`, which removes control
characters (keeping newline and tab) rather than showing stand-ins: the clipboard should
hold the text itself, not a picture of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from llmchat.core.messages import Message, Role

# C0 controls except tab and newline, DEL, C1 controls (0x9b is an 8-bit CSI), lone
# surrogates (not encodable, so no clipboard could take them) and the bidi controls that
# make code read differently from how it runs ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def paste_safe(text: str) -> str:
    """`text` with control characters removed; CRLF line ends become LF."""
    return _UNSAFE.sub("", text.replace("\r\n", "\n"))


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """One fenced code block of a reply: the code without its fences."""

    code: str
    language: str = ""
    """The first word of the fence's info string (```python → "python"), or ""."""

    @property
    def line_count(self) -> int:
        return self.code.count("\n") + 1 if self.code else 0

    @property
    def first_line(self) -> str:
        """The first line that is not blank (for a picker)."""
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")


def code_blocks(markdown: str) -> list[CodeBlock]:
    """The fenced code blocks of `markdown` in the order they appear, nested ones included.

    Parsed with the grammar the reply is rendered with, so a fence inside a list item, a
    `~~~` fence or a longer fence around backticks count exactly as they are shown. The
    code loses its final newline: pasted into a shell, it would run the last line at once.
    """
    # Imported here: markdown-it is only needed once the user copies.
    from markdown_it import MarkdownIt

    blocks = []
    for token in MarkdownIt().parse(markdown):
        if token.type == "fence":
            words = token.info.split()
            blocks.append(CodeBlock(token.content.rstrip("\n"), words[0] if words else ""))
    return blocks


def last_reply(thread: Iterable[Message]) -> Message | None:
    """The newest assistant message with text (a reply that failed before any has none)."""
    replies = [m for m in thread if m.role is Role.ASSISTANT and m.content]
    return replies[-1] if replies else None
