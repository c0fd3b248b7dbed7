"""Neutralise text that did not come from llmchat before it reaches the terminal.

Rich and Textual pass ESC and C1 bytes straight through, so a model (or a server error
body, or a session file) could move the cursor, retitle the window or write a hyperlink.
`visible()` maps every such character to a harmless visible stand-in. Stored text is
never changed: only what is displayed goes through here.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, lone surrogates, and the Unicode
# bidi controls used to make displayed text differ from its logical order.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")

_NAMES = {
    "\x1b": "␛",
    "\r": "␍",
    "\x08": "␈",
    "\x00": "␀",
    "\x07": "␇",
    "\x7f": "␡",
}


def _stand_in(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMES.get(char)
    if named:
        return named
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control pictures" block
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"⟨U+{code:04X}⟩"


def visible(text: str) -> str:
    """Text safe to hand to the terminal: controls become visible stand-ins, rest unchanged."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_stand_in, text)


def one_line(text: str, limit: int = 200) -> str:
    """A short single-line excerpt (for error bodies, titles and model names)."""
    flat = " ".join(visible(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
