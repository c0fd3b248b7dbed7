"""Why a turn reused less of the prompt cache than the turn before it (`inspect: cache`).

Every cache llmchat talks to (llama-server's KV cache, OpenAI's and Anthropic's prompt
caches) serves the longest start of the new prompt that equals the start of one it has
seen. So when reuse drops, the question is where the new prompt first differs from the
one sent just before it, and why: what llmchat itself changed (old turns left out by the
window policy, the system prompt, a branch switch, an edited message, another model),
or, when the prompt starts the same, what the server did (evicted, expired, too short).

"The turn before" is the request sent just before in time, whatever its branch: that is
what the cache holds. Which system prompt a request carried is known from the session's
own records (its header and `system` records, with their times); what the window policy
left out only for turns sent since the session was opened (`PromptSent`, kept by the
engine). Where llmchat does not know, the explainer says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import pairwise

from llmchat.core import branches
from llmchat.core.messages import Message, Role
from llmchat.core.params import SamplingParams
from llmchat.core.records import SystemChanged
from llmchat.core.safe_text import one_line
from llmchat.core.tokens import PER_MESSAGE, estimate
from llmchat.core.turn_history import REUSE_DROP, TurnFacts, turns

PROVIDER_MINIMUM = 1024
"""OpenAI and Anthropic cache no prompt shorter than this (Anthropic's Haiku models need
more)."""
PROVIDER_IDLE_S = 5 * 60
"""Provider caches drop a prefix unused for about five minutes (OpenAI: 5–10)."""


@dataclass(frozen=True, slots=True)
class PromptSent:
    """What a reply's request held beyond its thread, as the engine planned it."""

    system: str
    """The system prompt sent ("" for none)."""
    left_out: int
    """The oldest history messages the window policy did not send."""


@dataclass(frozen=True, slots=True)
class _Prompt:
    """One request as far as llmchat knows it: the thread it answered and what it sent."""

    reply: Message
    thread: list[Message]
    """The history up to the question, as wire_history sends it (empty failures out)."""
    system: str | None
    """None: not known (a file without its header)."""
    left_out: int | None
    """None: not known (a turn sent before the session was opened)."""

    def parts(self) -> list[str | Message]:
        """The request's messages in order, as far as they are known: the system prompt
        (its text), then the messages sent."""
        head: list[str | Message] = [self.system] if self.system else []
        return head + list(self.thread[self.left_out or 0 :])


@dataclass(frozen=True, slots=True)
class ReuseDrop:
    """One turn whose reuse dropped, and what llmchat can say about why."""

    turn: int
    reused_before: int
    reused: int
    where: str
    """Where the prompt first differs from the one before ("" if it does not)."""
    causes: tuple[str, ...]
    also: tuple[str, ...] = ()
    """Changes that do not explain a drop but a user may suspect (sampling parameters)."""

    def lines(self) -> list[str]:
        head = f"Turn {self.turn}: {self.reused_before:,} → {self.reused:,} tokens reused."
        body = [self.where] if self.where else []
        body += [f"Cause: {cause}" for cause in self.causes] or ["Cause: unknown."]
        body += [f"Also: {note}" for note in self.also]
        return [head] + [f"  {line}" for line in body]


def explain_drops(
    messages: Sequence[Message],
    thread: Sequence[Message],
    sent: Mapping[str, PromptSent],
    *,
    systems: Sequence[SystemChanged] = (),
    kind: str | None = None,
) -> list[ReuseDrop]:
    """The drops among the replies of `thread`, each against the reply sent before it
    in `messages` (every branch, in the order they were sent). `sent` holds what the
    engine planned, by reply id; `systems` every system prompt the session had (for the
    turns `sent` does not hold); `kind` is the backend's wire protocol ("llamacpp",
    "openai", "anthropic"), else it is told from what the replies recorded."""
    replies = [m for m in messages if m.role is Role.ASSISTANT]
    facts = {r.id: fact for r, fact in zip(replies, turns(replies), strict=True)}
    shown = [m for m in thread if m.role is Role.ASSISTANT]
    numbers = {reply.id: n for n, reply in enumerate(shown, start=1)}
    drops = []
    for before, after in pairwise(replies):
        if after.id not in numbers:
            continue
        was, now = facts[before.id].reused or 0, facts[after.id].reused
        if now is None and after.usage is not None and not after.usage.estimated:
            now = 0  # a provider's cached tokens of 0 are recorded as none
        if now is None or was <= 0 or now >= REUSE_DROP * was:
            continue
        drops.append(
            _explain(
                numbers[after.id],
                (facts[before.id], _prompt(messages, before, sent, systems)),
                (facts[after.id], _prompt(messages, after, sent, systems)),
                kind or _kind_of(after),
            )
        )
    return drops


def _prompt(
    messages: Sequence[Message],
    reply: Message,
    sent: Mapping[str, PromptSent],
    systems: Sequence[SystemChanged],
) -> _Prompt:
    chain = branches.thread(messages, reply.parent) if reply.parent else []
    wire = [m for m in chain if not (m.role is Role.ASSISTANT and not m.content)]
    planned = sent.get(reply.id)
    if planned is not None:
        return _Prompt(reply, wire, planned.system, planned.left_out)
    return _Prompt(reply, wire, system_at(systems, reply.ts), None)


def system_at(systems: Sequence[SystemChanged], ts: str) -> str | None:
    """The system prompt in force at `ts` (a reply is recorded as its request ends): the
    last one set before it. None if none is known from before it."""
    when = _moment(ts)
    if when is None:
        return None
    current = None
    for change in systems:
        at = _moment(change.ts)
        if at is None or at > when:
            break
        current = change.system
    return current


def _kind_of(reply: Message) -> str | None:
    if reply.timing is not None and reply.timing.cache_tokens is not None:
        return "llamacpp"
    return None


def _explain(
    number: int,
    before: tuple[TurnFacts, _Prompt],
    after: tuple[TurnFacts, _Prompt],
    kind: str | None,
) -> ReuseDrop:
    (was, old), (now, new) = before, after
    causes: list[str] = []
    model = _model_change(old.reply, new.reply)
    if model:
        causes.append(model)
    old_parts, new_parts = old.parts(), new.parts()
    at = _first_difference(old_parts, new_parts)
    known = None not in (old.system, new.system, old.left_out, new.left_out)
    where = ""
    if at is not None and at >= len(new_parts):
        where = "The prompt is the start of the one before (an earlier question asked again)."
    elif at is not None:
        name, tokens = _name(new, new_parts[at]), _tokens(new_parts[:at])
        where = f"The prompt differs from {name} on (token ≈ {tokens:,})."
        named = _prompt_causes(old, new)
        causes += named if named or known else _untold_causes(old, new, was, now)
    elif not known:
        where = "The thread goes on from the one before."
        causes += _untold_causes(old, new, was, now)
    elif not model:
        where = "The prompt starts as the one before did."
        causes += _server_causes(old, new, now, kind)
    also = _params_change(old.reply.params, new.reply.params, kind)
    return ReuseDrop(number, was.reused or 0, now.reused or 0, where, tuple(causes), also)


def _first_difference(old: list[str | Message], new: list[str | Message]) -> int | None:
    for index, (a, b) in enumerate(zip(old, new, strict=False)):
        same = a == b if isinstance(a, str) and isinstance(b, str) else a is b
        if not same:
            return index
    # One is the start of the other: the new prompt goes on from the old one (or, a
    # regenerated reply, is the same), or it is shorter and ends inside the old one.
    return len(new) if len(new) < len(old) else None


def _name(prompt: _Prompt, part: str | Message) -> str:
    if isinstance(part, str):
        return "the system prompt"
    number = next(n for n, m in enumerate(prompt.thread, start=1) if m is part)
    return f"message {number} (the {part.role})"


def _tokens(parts: Sequence[str | Message]) -> int:
    """About how many tokens `parts` take: the count stored with a question (its
    framing included), a reply's completion count, else an estimate from the text;
    the chat template's own tokens are not known, so this runs a little short."""
    total = 0
    for part in parts:
        if isinstance(part, str):
            total += PER_MESSAGE + estimate(part)
        elif part.tokens is not None:
            total += part.tokens
        elif part.usage is not None and part.usage.completion:
            total += PER_MESSAGE + part.usage.completion
        else:
            total += PER_MESSAGE + estimate(part.content)
    return total


def _model_change(old: Message, new: Message) -> str:
    """Names from a server or a file, so each is folded to one short line."""
    if old.backend and new.backend and old.backend != new.backend:
        names = f"{one_line(old.backend, 40)} → {one_line(new.backend, 40)}"
        return f"another backend answered ({names}): each server has its own cache"
    if old.model and new.model and old.model != new.model:
        names = f"{one_line(old.model, 60)} → {one_line(new.model, 60)}"
        return f"another model ({names}): each model has its own cache"
    return ""


def _prompt_causes(old: _Prompt, new: _Prompt) -> list[str]:
    causes = []
    if old.system is not None and new.system is not None and old.system != new.system:
        causes.append(_system_change(old.system, new.system))
    tree = _tree_change(old, new)
    if tree:
        causes.append(tree)
    if old.left_out is not None and new.left_out is not None and new.left_out > old.left_out:
        causes.append(
            "old turns left out by the window policy (the oldest "
            f"{new.left_out} messages not sent; {old.left_out} before)"
        )
    return causes


def _untold_causes(old: _Prompt, new: _Prompt, was: TurnFacts, now: TurnFacts) -> list[str]:
    """The thread goes on and no known part changed: what is not known may have."""
    unknown = []
    if old.system is None or new.system is None:
        unknown.append("a system prompt change")
    if old.left_out is None or new.left_out is None:
        unknown.append("old turns left out by the window policy")
    causes = [
        f"not known: {' or '.join(unknown)} would explain it, and llmchat does not know "
        "it for turns sent before this session was opened"
    ]
    if was.prompt is not None and now.prompt is not None and now.prompt < was.prompt:
        causes.append(
            f"the prompt shrank ({was.prompt:,} → {now.prompt:,} tokens) though the thread "
            "grew, as when the window policy leaves old turns out"
        )
    return causes


def _system_change(old: str, new: str) -> str:
    if not old:
        return "a system prompt was added"
    if not new:
        return "the system prompt was removed"
    return "the system prompt changed"


def _tree_change(old: _Prompt, new: _Prompt) -> str:
    """A branch switch or an edit: the new thread leaves the old one (its reply
    included) before its own question."""
    before = [*old.thread, old.reply]
    for index, (a, b) in enumerate(zip(before, new.thread, strict=False)):
        if a is b:
            continue
        number = index + 1
        if b is new.thread[-1] and a.role is Role.USER and b.role is Role.USER:
            return f"an edited message: message {number} was edited (a new branch from there)"
        return f"a branch switch: from message {number} on, this turn follows another branch"
    return ""


def _server_causes(old: _Prompt, new: _Prompt, now: TurnFacts, kind: str | None) -> list[str]:
    if kind == "llamacpp":
        return [
            "not one llmchat knows: llama-server recomputed a prompt that starts as the "
            "one before (its slot may have served another request in between, such as "
            "`session: name with the model`, or the request went to another slot)"
        ]
    causes = []
    idle = _seconds_between(old.reply.ts, new.thread[-1].ts if new.thread else new.reply.ts)
    if idle is not None and idle > PROVIDER_IDLE_S:
        causes.append(
            f"{idle / 60:.0f} minutes passed since the turn before: provider prompt caches "
            "drop a prefix unused for about 5 minutes"
        )
    if now.prompt is not None and now.prompt < PROVIDER_MINIMUM:
        causes.append(
            f"the prompt is {now.prompt:,} tokens: OpenAI and Anthropic cache no prompt "
            f"under {PROVIDER_MINIMUM:,} (some Anthropic models need more)"
        )
    if not causes:
        causes.append(
            "not one llmchat knows: provider caches are best effort (a request may "
            "reach a machine that has not seen the prefix)"
        )
    return causes


def _seconds_between(earlier: str, later: str) -> float | None:
    start, end = _moment(earlier), _moment(later)
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _moment(ts: str) -> datetime | None:
    """A record's time; None for one that is not a time with its zone (a hand-made file)."""
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _params_change(
    old: SamplingParams | None, new: SamplingParams | None, kind: str | None
) -> tuple[str, ...]:
    if old is None or new is None or old == new:
        return ()
    changed = ", ".join(
        f"{field.name} {getattr(old, field.name)} → {getattr(new, field.name)}"
        for field in fields(SamplingParams)
        if getattr(old, field.name) != getattr(new, field.name)
    )
    where = "on llama-server" if kind == "llamacpp" else "for prompt caches"
    return (
        f"{changed} (sampling parameters are not part of the prompt: {where} they do "
        "not change what the cache can serve)",
    )
