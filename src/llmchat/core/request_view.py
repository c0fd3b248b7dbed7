"""The request inspector's text: what the last turn sent, as sent, and how to send it
again from a shell. Pure formatting: the engine keeps the bodies (`TurnRequest`).

The API is stateless: every turn sends the whole conversation again. Showing the exact
body (and which history it left out) is how a user sees what the model really got.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from llmchat.core.events import RawEvents, RequestSent, ServerTimings, UsageReport
from llmchat.core.request import ChatRequest
from llmchat.core.secrets import MASK

PRETTY_LINES = 2000
"""Lines of a pretty-printed body shown; the rest is folded (the copy is whole)."""
SHOWN_CHARS = 64 * 1024
"""Characters of a body shown: a 1 MB draft on one line would hold the screen for
seconds (the copy is whole)."""
_NAMED_VARIABLE = re.compile(r"environment variable ([A-Za-z_][A-Za-z0-9_]*)")
_BARE_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class SentBody:
    method: str
    url: str
    body: str
    size: int
    """Bytes on the wire (UTF-8)."""

    @classmethod
    def of(cls, sent: RequestSent) -> SentBody:
        return cls(sent.method, sent.url, sent.body, len(sent.body.encode("utf-8")))

    def pretty(self) -> str:
        """The body indented, keys in the order sent; the text as sent if it is not JSON."""
        try:
            return json.dumps(json.loads(self.body), indent=2, ensure_ascii=False)
        except ValueError:
            return self.body


def folded(text: str) -> str:
    """`text` as shown: at most `PRETTY_LINES` lines and `SHOWN_CHARS` characters, then
    a line saying how much more there is and that the copy holds it all."""
    lines = text.splitlines()
    shown = "\n".join(lines[:PRETTY_LINES]) if len(lines) > PRETTY_LINES else text
    shown = shown[:SHOWN_CHARS]
    if len(shown) == len(text):
        return text
    more = len(text) - len(shown)
    return f"{shown}\n⋯ {more:,} more characters not shown (the copy is whole)"


def plan_summary(request: ChatRequest, skipped: int, reserve_clipped: bool) -> list[str]:
    """What the compiled request holds, in words: messages in and left out, the dials."""
    roles = [m.role for m in request.messages]
    system = roles.count("system")
    # The last message is the one the turn asks (the draft, for the next request).
    history = max(0, len(roles) - system - 1)
    parts = [f"{history} message{'s' if history != 1 else ''} of history"] if history else []
    if system:
        parts.insert(0, "the system prompt")
    parts.append("the new message")
    held = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    lines = [f"{held[0].upper()}{held[1:]} {'are' if len(parts) > 1 else 'is'} in it."]
    if skipped:
        lines.append(
            f"{skipped} older message{'s' if skipped != 1 else ''} left out by the window "
            "policy (to keep the request within the context threshold; `context_truncation` "
            "says whether a block at a time or one turn at a time)."
        )
    p = request.params
    lines.append(
        f"Sampling as planned: temperature {p.temperature:g}, top-p {p.top_p:g}, "
        f"max tokens {p.max_tokens}" + (f", seed {p.seed}" if p.seed is not None else "")
    )
    if reserve_clipped:
        lines.append("The reply's reserve was lowered to what the window has left.")
    images = [image for m in request.messages for image in m.images]
    if images:
        size = sum(len(image.data) for image in images)
        lines.append(
            f"{len(images)} image{'s' if len(images) != 1 else ''} attached "
            f"({size:,} bytes, sent as base64 in the body)."
        )
    return lines


def key_variable(key_source: str | None) -> str | None:
    """The environment variable the key comes from, for a command or a header to show,
    if the config named one (never a guess: a guessed variable would send someone's
    key where it was not configured to go). Never the key."""
    named = _NAMED_VARIABLE.search(key_source or "")
    if named:
        return named.group(1)
    if key_source and _BARE_VARIABLE.fullmatch(key_source):
        return key_source
    return None


_KEY_HEADERS = frozenset({"authorization", "x-api-key"})
_SHOWN_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_LEFT_TO_CURL = frozenset({"accept-encoding"})
"""Headers curl sets itself (it would print a compressed reply raw)."""
KEY_PLACEHOLDER = "LLMCHAT_API_KEY"
"""The variable a copied command reads a key from that came from no variable."""


def curl_command(sent: SentBody, headers: tuple[tuple[str, str], ...], backend: str = "") -> str:
    """The same request from a shell, with the headers it was sent with (`sent.headers`):
    a key header only if a key went out, read from the variable it came from
    (`$OPENAI_API_KEY`) or, for a key from the config file, from a placeholder the shell
    refuses to leave empty; never the key itself. The body exactly as sent, in a
    here-document."""
    parts = ["curl", "-sS", "-N", "-X", sent.method, shlex.quote(sent.url)]
    for name, value in headers:
        if name.lower() in _LEFT_TO_CURL:
            continue
        if name.lower() in _KEY_HEADERS:
            parts += ["-H", _key_header(name, value, backend)]
        else:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    end = "JSON"
    while end in sent.body.splitlines():
        end += "_END"
    return " ".join(parts) + f" --data-binary @- <<'{end}'\n{sent.body}\n{end}\n"


def _key_header(name: str, value: str, backend: str) -> str:
    """`Authorization: Bearer $VAR` quoted so the shell fills in the variable and
    nothing else; a masked key (`•••`) becomes `${LLMCHAT_API_KEY:?…}`."""
    named = _SHOWN_VARIABLE.search(value)
    if named is not None:
        before, after, variable = value[: named.start()], value[named.end() :], named.group(1)
        reference = f'"${variable}"'
    else:
        before, _, after = value.partition(MASK)
        whose = f" for {_safe_word(backend)}" if backend else ""
        reference = f'"${{{KEY_PLACEHOLDER}:?set {KEY_PLACEHOLDER} to the key{whose}}}"'
    quoted = [shlex.quote(f"{name}: {before}"), reference]
    if after:
        quoted.append(shlex.quote(after))
    return "".join(quoted)


def _safe_word(name: str) -> str:
    """A backend name fit to stand unquoted inside `${…:?…}` in double quotes."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def header_lines(headers: tuple[tuple[str, str], ...]) -> str:
    """`Name: value` a line each, as sent (the key already written as its variable)."""
    return "\n".join(f"{name}: {value}" for name, value in headers)


def usage_lines(usage: UsageReport | None, timings: ServerTimings | None) -> list[str]:
    """The usage and the server's timings, as the server reported them."""
    if usage is None:
        lines = ["Usage: the server reported none (the counts shown are estimates)."]
    else:
        lines = [
            f"Usage as received: {usage.prompt_tokens:,} prompt tokens "
            f"({usage.cached_tokens:,} from the cache, {usage.cache_write_tokens:,} written "
            f"to it), {usage.completion_tokens:,} completion tokens."
        ]
    if timings is not None:
        shown = [
            f"{label} {value:g}"
            for label, value in (
                ("prompt_n", timings.prompt_n),
                ("prompt_ms", timings.prompt_ms),
                ("predicted_n", timings.predicted_n),
                ("predicted_ms", timings.predicted_ms),
                ("cache_n", timings.cache_n),
            )
            if value is not None
        ]
        lines.append("Server timings as received: " + ", ".join(shown) + ".")
    return lines


def raw_events_heading(raw: RawEvents) -> str:
    kept = len(raw.first) + len(raw.last)
    if raw.total <= kept:
        return f"The reply's stream events as received: all {raw.total}."
    return (
        f"The reply's stream events as received: the first {len(raw.first)} and the last "
        f"{len(raw.last)} of {raw.total:,} (comments and keep-alives are not kept)."
    )
