"""Neutralise text that did not come from llmchat before it reaches the terminal.

Rich and Textual pass ESC and C1 bytes straight through, so a model (or a server error
body, or a session file) could move the cursor, retitle the window or write a hyperlink.
`visible()` maps every such character to a harmless visible stand-in. Stored text is
never changed: only what is displayed goes through here.

This module is the one place outside text (server, file, config, environment, model)
becomes display text; every road to the screen calls one of these:

- `visible()`: for literal sinks (Textual `Content`, `notify(..., markup=False)`, stderr);
- `one_line()`: the same, flattened and bounded, for names, titles and error excerpts;
- `markup_literal()`: for the few sinks that parse Textual markup (command palette
  titles, option prompts given as strings), so `[@click=…]` is shown, never run;
- `for_pipe()`: model text written to a pipe or file, exact except what the stream
  cannot encode (a lone surrogate from a JSON `\ud800` escape).
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


_SURROGATE = re.compile("[\ud800-\udfff]")


def for_pipe(text: str, encoding: str | None) -> str:
    """`text` as a pipe can take it: unchanged, except lone surrogates (never valid in
    UTF-8) become U+FFFD and characters the stream's encoding lacks become its "?"."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    codec = encoding or "utf-8"
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        text = text.encode(codec, "replace").decode(codec)
    except LookupError:
        pass  # an encoding Python does not know: the stream will say so itself
    return text


def markup_literal(text: str) -> str:
    """`visible(text)` for a sink that parses Textual markup: every `[` escaped, so the
    text shows literally and no `[@click=…]` tag can run. (Textual reads only the
    backslash right before a `[` as an escape; other backslashes show as they are.)"""
    return visible(text).replace("[", "\\[")


def one_line(text: str, limit: int = 200) -> str:
    """A short single-line excerpt (for error bodies, titles and model names)."""
    flat = " ".join(visible(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
