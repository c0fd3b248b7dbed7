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

from llmchat.core.events import RequestSent
from llmchat.core.model_rules import Protocol
from llmchat.core.request import ChatRequest

PRETTY_LINES = 2000
"""Lines of a pretty-printed body shown; the rest is folded (the copy is whole)."""
_NAMED_VARIABLE = re.compile(r"environment variable ([A-Za-z_][A-Za-z0-9_]*)")
KEY_VARIABLES: dict[Protocol, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


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


def plan_summary(request: ChatRequest, skipped: int, reserve_clipped: bool) -> list[str]:
    """What the compiled request holds, in words: messages in and left out, the dials."""
    roles = [m.role for m in request.messages]
    system = roles.count("system")
    history = len(roles) - system
    held = f"{history} message{'s' if history != 1 else ''} of history"
    if system:
        held += " and the system prompt are in it."
    else:
        held += " is in it." if history == 1 else " are in it."
    lines = [held]
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
    images = sum(len(m.images) for m in request.messages)
    if images:
        lines.append(f"{images} image{'s' if images != 1 else ''} attached.")
    return lines


def key_variable(protocol: Protocol, key_source: str | None) -> str | None:
    """The environment variable the key comes from, for a command to show: the one the
    config named, else the protocol's usual one. Never the key."""
    named = _NAMED_VARIABLE.search(key_source or "")
    return named.group(1) if named else KEY_VARIABLES.get(protocol)


def curl_command(sent: SentBody, protocol: Protocol, key_variable: str | None) -> str:
    """The same request from a shell: the key read from its variable (`$OPENAI_API_KEY`),
    never written out; the body exactly as sent, in a here-document."""
    parts = ["curl", "-sS", "-N", "-X", sent.method, shlex.quote(sent.url)]
    parts += ["-H", shlex.quote("Content-Type: application/json")]
    if key_variable:
        header = "x-api-key" if protocol == "anthropic" else "Authorization: Bearer"
        sep = ": " if protocol == "anthropic" else " "
        parts += ["-H", f'"{header}{sep}${key_variable}"']
    if protocol == "anthropic":
        parts += ["-H", shlex.quote("anthropic-version: 2023-06-01")]
    end = "JSON"
    while end in sent.body.splitlines():
        end += "_END"
    return " ".join(parts) + f" --data-binary @- <<'{end}'\n{sent.body}\n{end}\n"
