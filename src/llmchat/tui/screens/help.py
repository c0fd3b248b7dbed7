"""F1: what the keys do, where llmchat keeps its files, and how to connect."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# llmchat help

| key | what it does |
|---|---|
| Enter | send the message |
| ctrl+j (shift+enter, alt+enter where the terminal reports them) | new line in the message |
| ↑ / ↓ in an empty message box | your earlier messages (this session's, then older sessions') |
| Esc | stop the reply that is streaming (its partial text is kept, marked *cancelled*) |
| F9 | sampling panel: T / top-p sliders, max_tokens, seed (type, then Enter or Tab), presets |
| PageUp / PageDown | scroll the conversation (from the message box too) |
| ctrl+Home / ctrl+End | the very first message / the end of the conversation |
| ctrl+↑ | focus a message: ↑/↓ (k/j) move, Home/End first/last, Esc back to typing |
| Enter on a focused reply | show all of a folded (very long) reply |
| Tab / shift+Tab | message box ↔ conversation (typing there goes to the message box) |
| alt+↑ / alt+↓ | temperature ± 0.05 |
| alt+→ / alt+← | top-p ± 0.01 |
| F5 | minify the pretty-printed JSON in the message (fewer tokens, same data) |
| ctrl+r | ask the last question again after a failed, cancelled or incomplete reply |
| F6 | edit the focused (or last) question: Enter sends a new branch, Esc gives up |
| F7 | regenerate the focused (or last) reply (a sibling) |
| alt+p / alt+n | previous / next branch (`‹2/3›`); the thread below follows |
| F8 | fork the thread up to the focused (or last) message into a new session |
| ctrl+o | copy the last reply (its Markdown) |
| ctrl+g | copy a code block of the last reply, without fences (several: pick one, newest first) |
| mouse drag, then ctrl+c | copy the selected text, from any message |
| F12 / alt+i | inspect: r request, t tokens, p probabilities, l latency, c cache (why it dropped) |
| F1 | this help |
| F2 | rename the session |
| F3 | saved sessions: type to filter (and search every message), Enter opens |
| F4 | next of llmchat's themes (shipped, then yours) |
| ctrl+p | command palette: every action by name |
| ctrl+q | quit |

**Sessions** are saved as you chat, one JSONL file each, in:
`{sessions}`

Reopen the last one with `llmchat --continue`, or pick one with `llmchat --resume`.
In the list, F2 renames, ctrl+e exports, ctrl+d deletes: a deleted session goes to
`.trash` in that folder, and ctrl+z brings it back (`llmchat sessions --purge-trash`
empties the trash). Attach a file to the next message with `attach: file…` (ctrl+p).

**Copying** goes through the terminal (OSC 52), which some terminals ignore (in tmux:
`set -g set-clipboard on`); ctrl+o and ctrl+g also write the copied text to
`clipboard.txt` in llmchat's state folder, and their notice says where.

**Config**: `{config}` (create it with `llmchat config init`).
**Your themes**: TOML files in `{themes}`.

Press Esc or F1 to close.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 95%; height: 80%;
        background: $panel; border: round $primary;
    }
    """
    BINDINGS = [
        Binding("escape,f1,q", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, sessions: str, config: str, themes: str) -> None:
        super().__init__()
        self._text = HELP.format(sessions=sessions, config=config, themes=themes)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self._text, open_links=False)
