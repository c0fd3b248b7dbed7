"""One hostile corpus for every road outside text takes to the terminal (bad-input.md).

`hostile(tag)` is a string a model, a server, a session file, a config file, the
environment or a file name could hold: C0 and C1 controls, OSC/CSI/DCS/APC sequences,
bidi controls, line separators, a lone surrogate and Rich/Textual markup. Each road
gets its own tag, so a test can show the text reached the screen (the tag is there) and
reached it harmlessly (`raw_leaks` finds nothing).
"""

from __future__ import annotations

import re
from pathlib import Path

SEQUENCES = (
    "\x1b]0;PWN-TITLE\x07",  # OSC 0: window title, BEL-terminated
    "\x1b]52;c;cHduZWQ=\x07",  # OSC 52: write the clipboard
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink, ST
    "\x1b[2J\x1b[H",  # CSI: clear the screen, cursor home
    "\x1bP+q544e\x1b\\",  # DCS
    "\x1b_PWN-APC\x1b\\",  # APC
    "\x9b31m",  # 8-bit CSI
    "\x9d0;PWN-C1\x9c",  # 8-bit OSC and ST
)
CONTROLS = "\x00\x07\x08\r\x7f\x85\x0b\x0c"
BIDI = "\u202e\u2066\u2069"
SEPARATORS = "\u2028\u2029"
MARKUP = "[bold]B[/bold] [@click=app.quit]Q[/] [/]"
SURROGATE = "\ud800"

RAW_MARKERS = (
    "\x1b]0;PWN",
    "\x1b]52;",
    "\x1b]8;;https://evil",
    "\x1b[2J",
    "\x1bP+q",
    "\x1b_PWN",
)
"""Each sequence as it would reach the terminal if passed through raw."""

# What llmchat's own renderer (Textual, or llmchat's styling) may write: SGR and cursor
# CSI sequences, OSC 8 links it made itself and OSC 22 pointer shapes (Textual names the
# mouse pointer, e.g. "default"). Anything else starting with ESC leaks.
_OWN_SEQUENCE = re.compile(
    r"\x1b\[[0-9;:?<=>]*[ -/]*[@-~]|\x1b]8;[^\x07\x1b]*(?:\x07|\x1b\\)|\x1b]22;[a-z-]+\x07"
)
_FORBIDDEN_CHAR = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\ud800-\udfff{BIDI}]")


def hostile(tag: str, *, nul: bool = True, surrogate: bool = True) -> str:
    """The corpus after `tag`. The environment cannot hold NUL, and neither it nor a
    TOML file a lone surrogate: leave those out there."""
    controls = CONTROLS if nul else CONTROLS.replace("\x00", "")
    return (
        f"{tag} {''.join(SEQUENCES)} {controls} {BIDI} {SEPARATORS} {MARKUP}"
        f"{SURROGATE if surrogate else ''} end"
    )


def raw_leaks(output: str) -> list[str]:
    """What in `output` (text written to a terminal) came from the corpus raw: its
    sequences, any ESC that starts something other than the renderer's own SGR/cursor
    sequences, C0/C1 controls, bidi controls and surrogates."""
    leaks = [marker for marker in RAW_MARKERS if marker in output]
    rest = _OWN_SEQUENCE.sub("", output)
    if "\x1b" in rest:
        at = rest.index("\x1b")
        leaks.append(rest[at : at + 12])
    leaks += sorted({repr(char) for char in _FORBIDDEN_CHAR.findall(rest)})
    return leaks


def toml_key(text: str) -> str:
    """`text` as a quoted TOML key: every character outside printable ASCII escaped."""
    body = "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\u{ord(c):04X}" for c in text)
    return f'"{body}"'


HOSTILE_SESSION_ID = "e5ca9e5e55a0"


def write_hostile_session(sessions_dir: Path) -> str:
    """A session file whose every stored name and text is hostile (a resumed or
    imported file); returns its id."""
    import json

    sessions_dir.mkdir(parents=True, exist_ok=True)
    ts = "2026-12-01T18:00:00.000000Z"
    records = [
        {
            "type": "session",
            "v": 2,
            "id": HOSTILE_SESSION_ID,
            "created": ts,
            "title": hostile("TITLE-ROAD"),
            "backend": hostile("STORED-BACKEND"),
            "kind": "openai",
            "base_url": "http://gone.example/STORED-URL\x1b]0;PWN-TITLE\x07/v1",
            "model": hostile("STORED-MODEL"),
            "model_file": None,
            "params": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 1024, "seed": None},
            "system": hostile("SYSTEM-ROAD"),
            "forked_from": None,
        },
        {
            "type": "message",
            "id": "0000000000a1",
            "parent": None,
            "role": "user",
            "content": hostile("USER-ROAD"),
            "ts": ts,
        },
        {
            "type": "message",
            "id": "0000000000a2",
            "parent": "0000000000a1",
            "role": "assistant",
            "content": hostile("STORED-REPLY"),
            "ts": ts,
            "status": "error",
            "backend": hostile("MESSAGE-BACKEND"),
            "model": hostile("MESSAGE-MODEL"),
            "params": None,
            "usage": None,
            "timing": None,
            "cost_usd": None,
            "error": hostile("STORED-ERROR"),
            "finish_reason": None,
        },
    ]
    path = sessions_dir / f"20261201T180000Z-{HOSTILE_SESSION_ID}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return HOSTILE_SESSION_ID
