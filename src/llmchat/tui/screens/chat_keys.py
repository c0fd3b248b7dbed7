"""The chat screen's keys: one table, each key with an id (for user keymaps) and a
description; the command palette (tui/commands.py) offers the same actions by name."""

from __future__ import annotations

from textual.binding import Binding, BindingType

CHAT_KEYS: list[BindingType] = [
    Binding(
        "escape",
        "stop_reply",
        "Stop",
        id="chat.stop",
        tooltip="Stop the reply that is streaming; its partial text is kept",
    ),
    Binding(
        "ctrl+r",
        "retry",
        "Retry",
        id="chat.retry",
        tooltip="Ask the last question again (after a failed, cancelled or incomplete reply)",
    ),
    Binding(
        "f5",
        "minify_json",
        "Minify JSON",
        id="chat.minify_json",
        tooltip="Minify the pretty-printed JSON in the message (fewer tokens, same data)",
    ),
    Binding(
        "f9",
        "toggle_params",
        "Params",
        id="chat.params",
        tooltip="Open or close the sampling panel (temperature, top-p, max_tokens, seed)",
    ),
    # alt+i too: Guake, Yakuake and terminals in a browser take F12 for themselves.
    Binding(
        "f12,alt+i",
        "inspect",
        "Inspect",
        show=False,  # the footer has room for few keys at 80 columns; F1 lists it
        id="chat.inspect",
        tooltip="A menu of the inspect views (request, tokens, latency, cache…), one letter each",
    ),
    Binding(
        "ctrl+up",
        "focus_messages",
        "Messages",
        show=False,
        id="chat.message_focus",
        tooltip="Focus the newest message; ↑/↓ move between messages, Esc comes back",
    ),
    Binding("alt+up", "nudge('temperature', 1)", "T+", show=False, id="chat.t_up"),
    Binding("alt+down", "nudge('temperature', -1)", "T-", show=False, id="chat.t_down"),
    Binding("alt+right", "nudge('top_p', 1)", "top-p+", show=False, id="chat.p_up"),
    Binding("alt+left", "nudge('top_p', -1)", "top-p-", show=False, id="chat.p_down"),
    Binding(
        "f6",
        "message_edit",
        "Edit",
        id="chat.message_edit",
        tooltip="Edit the focused (or last) question and send it as a new branch",
    ),
    Binding(
        "f7",
        "message_regenerate",
        "Regenerate",
        show=False,
        id="chat.message_regenerate",
        tooltip="Ask again the question the focused (or last) reply answers: a sibling",
    ),
    Binding(
        "f8",
        "message_fork",
        "Fork",
        show=False,
        id="chat.message_fork",
        tooltip="A new session holding the thread up to the focused (or last) message",
    ),
    Binding(
        "alt+p",
        "message_branch(-1)",
        "Previous branch",
        show=False,
        id="chat.branch_previous",
    ),
    Binding(
        "alt+n",
        "message_branch(1)",
        "Next branch",
        show=False,
        id="chat.branch_next",
    ),
    Binding(
        "f2",
        "rename",
        "Rename",
        id="chat.rename",
        tooltip="Give this session a new title",
    ),
    # Not ctrl+y: the prompt (a TextArea) has it for redo, and it has the focus.
    Binding(
        "ctrl+o",
        "copy_reply",
        "Copy reply",
        id="chat.copy_reply",
        tooltip="Copy the last reply's Markdown (also written to clipboard.txt)",
    ),
    Binding(
        "ctrl+g",
        "copy_code",
        "Copy code",
        id="chat.copy_code",
        tooltip="Copy a code block of the last reply, without its fences",
        show=False,  # the footer has room for few keys at 80 columns; F1 lists it
    ),
]
