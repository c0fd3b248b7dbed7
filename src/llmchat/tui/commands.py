"""Every action of llmchat by name: the one table the command palette is built from.

A key is a shortcut to one of these, never the only way in. Each row says when it
applies, so the palette offers only what can run on the screen that is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Needs(Enum):
    NOTHING = "nothing"
    SESSIONS = "sessions"
    """A session can be opened (a backend or saved sessions)."""
    CHAT = "chat"
    """A chat screen is open."""
    LOCAL_SERVER = "local server"
    """llmchat started the llama-server."""


@dataclass(frozen=True, slots=True)
class Command:
    title: str
    """Namespaced, as typed in the palette: "reply: retry"."""
    help: str
    action: str
    """A Textual action string, run by the app ("screen." runs it on the open screen)."""
    key: str = ""
    """The shortcut, shown beside the help."""
    needs: Needs = Needs.NOTHING

    @property
    def description(self) -> str:
        return f"{self.help} ({self.key})" if self.key else self.help


COMMANDS: tuple[Command, ...] = (
    Command("app: help", "Keys, files and how to connect", "app.help", "F1"),
    Command("app: quit", "Quit llmchat", "app.quit", "ctrl+q"),
    Command("theme: next", "Cycle through llmchat's themes", "app.toggle_theme", "F4"),
    Command("session: new", "Start a new session", "app.new_session", needs=Needs.SESSIONS),
    Command(
        "session: open…", "Pick a saved session to continue", "app.resume", "F3", Needs.SESSIONS
    ),
    Command("session: rename", "Give this session a new title", "screen.rename", "F2", Needs.CHAT),
    Command(
        "session: name with the model",
        "Ask the model for a short title (a request of its own: it costs tokens)",
        "screen.name_with_model",
        needs=Needs.CHAT,
    ),
    Command(
        "reply: stop", "Stop the reply that is streaming", "screen.stop_reply", "Esc", Needs.CHAT
    ),
    Command(
        "reply: retry",
        "Ask the last question again (after a failed, cancelled or cut reply)",
        "screen.retry",
        "ctrl+r",
        Needs.CHAT,
    ),
    Command(
        "inspect: choose a view…",
        "A menu of the views below, one letter each (r, t, p, l, c)",
        "screen.inspect",
        "F12 / alt+i",
        Needs.CHAT,
    ),
    Command(
        "inspect: request",
        "The exact body of the last request, what it left out, and a curl command for it",
        "screen.inspect_request",
        needs=Needs.CHAT,
    ),
    Command(
        "inspect: tokens",
        "The focused message (or the draft, or the last message) split into its tokens",
        "screen.inspect_tokens",
        needs=Needs.CHAT,
    ),
    Command(
        "inspect: probabilities",
        "Ask for each token's alternatives from now on, and show the pool the focused "
        "(or last) reply picked from, re-weighted by the dials",
        "screen.inspect_probabilities",
        needs=Needs.CHAT,
    ),
    Command(
        "inspect: probabilities off",
        "Stop asking for each token's alternatives (replies are then lighter to send and save)",
        "screen.probabilities_off",
        needs=Needs.CHAT,
    ),
    Command(
        "inspect: latency",
        "A chart and a table: time to first token, prefill and decode speed against the prompt",
        "screen.inspect_latency",
        needs=Needs.CHAT,
    ),
    Command(
        "inspect: cache",
        "Prompt tokens reused from the cache per turn; where reuse dropped, where and why",
        "screen.inspect_cache",
        needs=Needs.CHAT,
    ),
    Command(
        "attach: file…",
        "Attach a text file or an image to the next message (shown above the prompt)",
        "screen.attach_file",
        needs=Needs.CHAT,
    ),
    Command(
        "attach: remove last",
        "Take the last attached file off the next message",
        "screen.attach_remove_last",
        needs=Needs.CHAT,
    ),
    Command(
        "attach: remove all",
        "Take every attached file off the next message",
        "screen.attach_clear",
        needs=Needs.CHAT,
    ),
    Command(
        "copy: last reply",
        "Copy the last reply's Markdown to the clipboard",
        "screen.copy_reply",
        "ctrl+o",
        Needs.CHAT,
    ),
    Command(
        "copy: code block…",
        "Copy a code block of the last reply, without its fences",
        "screen.copy_code",
        "ctrl+g",
        Needs.CHAT,
    ),
    Command(
        "message: edit",
        "Edit the focused (or last) question and send it as a new branch",
        "screen.message_edit",
        "F6",
        Needs.CHAT,
    ),
    Command(
        "message: regenerate",
        "Ask again: a sibling of the focused (or last) reply",
        "screen.message_regenerate",
        "F7",
        Needs.CHAT,
    ),
    Command(
        "message: fork",
        "A new session holding the thread up to the focused (or last) message",
        "screen.message_fork",
        "F8",
        Needs.CHAT,
    ),
    Command(
        "message: next branch",
        "Show the next alternative of the focused (or last) message that has any",
        "screen.message_branch(1)",
        "alt+n",
        Needs.CHAT,
    ),
    Command(
        "message: previous branch",
        "Show the previous alternative",
        "screen.message_branch(-1)",
        "alt+p",
        Needs.CHAT,
    ),
    Command(
        "message: copy",
        "Copy the focused (or last) message's text",
        "screen.message_copy",
        needs=Needs.CHAT,
    ),
    Command(
        "message: show all",
        "Every line of the focused (or last) reply if it is folded (huge)",
        "screen.message_show_all",
        "Enter on a message",
        Needs.CHAT,
    ),
    Command(
        "message: focus",
        "Focus the newest message (then ↑/↓ move between messages, Esc comes back)",
        "screen.focus_messages",
        "ctrl+↑",
        Needs.CHAT,
    ),
    Command(
        "system: edit",
        "Edit the system prompt in the message box (shown at the top; every change saved)",
        "screen.system_edit",
        needs=Needs.CHAT,
    ),
    Command(
        "system: remove",
        "Send no system prompt from now on",
        "screen.system_remove",
        needs=Needs.CHAT,
    ),
    Command(
        "draft: minify JSON",
        "Minify the pretty-printed JSON in the message (fewer tokens, same data)",
        "screen.minify_json",
        "F5",
        Needs.CHAT,
    ),
    Command(
        "model: switch…",
        "Pick a backend and one of its server's models for the next turn",
        "screen.switch_model",
        needs=Needs.CHAT,
    ),
    Command(
        "backends: show",
        "Each backend's circuit breaker, failures and last error, and the fallback order",
        "screen.show_backends",
        needs=Needs.CHAT,
    ),
    Command(
        "sampling: open panel",
        "Sliders for temperature and top-p, max_tokens, seed, presets",
        "screen.toggle_params",
        "F9",
        Needs.CHAT,
    ),
    Command(
        "sampling: temperature up",
        "Raise the temperature by 0.05",
        "screen.nudge('temperature', 1)",
        "alt+↑",
        Needs.CHAT,
    ),
    Command(
        "sampling: temperature down",
        "Lower the temperature by 0.05",
        "screen.nudge('temperature', -1)",
        "alt+↓",
        Needs.CHAT,
    ),
    Command(
        "sampling: top-p up",
        "Raise top-p by 0.01",
        "screen.nudge('top_p', 1)",
        "alt+→",
        Needs.CHAT,
    ),
    Command(
        "sampling: top-p down",
        "Lower top-p by 0.01",
        "screen.nudge('top_p', -1)",
        "alt+←",
        Needs.CHAT,
    ),
    Command(
        "schema: attach file…",
        "Structured output: replies must follow a JSON Schema file",
        "app.attach_schema",
        needs=Needs.CHAT,
    ),
    Command("schema: clear", "Back to free-form replies", "app.clear_schema", needs=Needs.CHAT),
    Command(
        "server: show log",
        "The output of the llama-server llmchat started",
        "app.server_log",
        needs=Needs.LOCAL_SERVER,
    ),
)
