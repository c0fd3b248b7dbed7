"""Why a turn reused less of the prompt cache than the turn before it (`inspect: cache`).

Every cache llmchat talks to (llama-server's KV cache, OpenAI's and Anthropic's prompt
caches) serves the longest start of the new prompt that equals the start of one it has
seen. So when reuse drops, the question is where the new prompt first differs from the
one sent just before it, and why: what llmchat itself changed (old turns left out by the
window policy, the system prompt, a branch switch, an edited message, another model),
or, when the prompt starts the same, what the server did (evicted, expired, too short).

A drop is a turn that reused under half of what the turn before reused, at least MIN_LOST
tokens fewer, where the cache did not serve all it could (a prompt nearly all reused, or
an earlier question asked again whose prompt the cache served, is no drop).

"The turn before" is the request sent last before it in time that recorded its reuse (a
failed turn records none), whatever its branch: that is what the cache holds. Which
system prompt a request carried is known from the session's own records (its header and
`system` records, with their times; a loaded file keeps its latest few); what the window
policy left out only for turns sent since the session was opened (`PromptSent`, kept by
the engine). Where llmchat does not know, the explainer says so: for the first turn after
the session was opened again, that it was (a restarted llama-server has an empty cache).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from llmchat.core import branches
from llmchat.core.messages import Message, Role
from llmchat.core.params import SamplingParams
from llmchat.core.prompt_sent import PromptSent
from llmchat.core.records import SystemChanged
from llmchat.core.safe_text import one_line
from llmchat.core.tokens import PER_MESSAGE, estimate
from llmchat.core.turn_history import REUSE_DROP, TurnFacts, turns

__all__ = ["PromptSent", "ReuseDrop", "SystemTimeline", "explain_drops", "system_at"]

PROVIDER_MINIMUM = 1024
"""OpenAI and Anthropic cache no prompt shorter than this (Anthropic's Haiku models need
more)."""
PROVIDER_IDLE_S = 5 * 60
"""Provider caches drop a prefix unused for about five minutes (OpenAI: 5–10)."""
MIN_LOST = 64
"""A turn must reuse at least this many tokens fewer to be a drop: 3 → 0 is noise."""
TEMPLATE_SLACK = 16
"""The chat template's own tokens around the newest messages, which estimates miss."""


@dataclass(frozen=True, slots=True)
class _Prompt:
    """One request as far as llmchat knows it: the thread it answered and what it sent."""

    reply: Message
    chain: list[Message]
    """The thread up to the question, as shown (failed replies included)."""
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

    def newest(self) -> int:
        """About how many tokens the messages after the last reply take (the question)."""
        tail = len(self.thread)
        while tail and self.thread[tail - 1].role is not Role.ASSISTANT:
            tail -= 1
        return _tokens(self.thread[tail:])


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


class SystemTimeline:
    """Every system prompt a session had, by when it was set: the times are parsed and
    sorted once (a record whose time cannot be read is left out), then each look-up is a
    bisection."""

    def __init__(self, systems: Sequence[SystemChanged]) -> None:
        dated = [
            (at, order, change.system)
            for order, change in enumerate(systems)
            if (at := _moment(change.ts)) is not None
        ]
        dated.sort(key=lambda item: (item[0], item[1]))  # equal times keep file order
        self._times = [at for at, _, _ in dated]
        self._prompts = [system for _, _, system in dated]

    def at(self, ts: str) -> str | None:
        """The system prompt in force at `ts` (a reply is recorded as its request ends):
        the last one set at or before it. None if none is known from before it."""
        when = _moment(ts)
        if when is None:
            return None
        index = bisect_right(self._times, when)
        return self._prompts[index - 1] if index else None


def system_at(systems: Sequence[SystemChanged], ts: str) -> str | None:
    """`SystemTimeline(systems).at(ts)`, for one look-up."""
    return SystemTimeline(systems).at(ts)


def explain_drops(
    messages: Sequence[Message],
    thread: Sequence[Message],
    sent: Mapping[str, PromptSent],
    *,
    systems: Sequence[SystemChanged] = (),
    kind: str | None = None,
) -> list[ReuseDrop]:
    """The drops among the replies of `thread`, each against the reply sent last before
    it in `messages` (every branch, in the order they were sent) that recorded its reuse.
    `sent` holds what the engine planned, by reply id; `systems` every system prompt the
    session had (for the turns `sent` does not hold); `kind` is the session's backend
    protocol ("llamacpp", "openai", "anthropic"), used for a reply that does not tell
    its own. Runs in a worker thread for long sessions: it only reads its arguments."""
    replies = [m for m in messages if m.role is Role.ASSISTANT]
    facts = {r.id: fact for r, fact in zip(replies, turns(replies), strict=True)}
    shown = [m for m in thread if m.role is Role.ASSISTANT]
    numbers = {reply.id: n for n, reply in enumerate(shown, start=1)}
    prompts = _Prompts(messages, sent, SystemTimeline(systems))
    drops = []
    before: Message | None = None
    for after in replies:
        now = _reused(after, facts[after.id])
        if now is None:
            continue  # no reuse recorded (a failed turn): the next is compared past it
        if before is not None and after.id in numbers:
            was = facts[before.id].reused or 0
            if was - now >= MIN_LOST and now < REUSE_DROP * was:
                old, new = prompts.of(before), prompts.of(after)
                if not _served_all(new, old, facts[after.id], prompts.tokens_to):
                    drops.append(
                        _explain(
                            numbers[after.id],
                            (facts[before.id], old),
                            (facts[after.id], new),
                            _kind_of(after) or kind,
                            prompts.tokens_to,
                        )
                    )
        before = after
    return drops


def _reused(reply: Message, fact: TurnFacts) -> int | None:
    if fact.reused is None and reply.usage is not None and not reply.usage.estimated:
        return 0  # a provider's cached tokens of 0 are recorded as none
    return fact.reused


class _Prompts:
    """Each reply's request. Drops can come every other turn of a long session, so
    nothing here walks a whole thread per turn in Python: a thread is the one before it
    plus the few messages since (list copies run in C), and what each message's thread
    holds before it (its failed replies, its tokens) is summed once for all."""

    KEPT = 4
    """Threads kept to build the next from: a session's next turn nearly always follows
    one of the last few."""

    def __init__(
        self, messages: Sequence[Message], sent: Mapping[str, PromptSent], systems: SystemTimeline
    ) -> None:
        self._messages = messages
        self._legacy = branches.is_legacy(messages)
        self._by_id = {m.id: m for m in messages}
        self._position = {m.id: n for n, m in enumerate(messages)} if self._legacy else {}
        self._sent, self._systems = sent, systems
        self._paths: dict[str, list[Message]] = {}
        """The thread down to a message, that message included, for the last few."""
        self._made: dict[str, _Prompt] = {}
        self._failed: dict[str, int] = {}
        """Failed replies (sent as nothing) on the thread down to a message, included."""
        self.tokens_to: dict[str, int] = {}
        """About the tokens of the messages sent on the thread down to a message."""
        for message in messages:
            above = self._above(message)
            failed = _sent_as_nothing(message)
            self._failed[message.id] = self._failed.get(above, 0) + failed if above else failed
            tokens = 0 if failed else _tokens([message])
            self.tokens_to[message.id] = self.tokens_to.get(above, 0) + tokens if above else tokens

    def _above(self, message: Message) -> str | None:
        """The message just above `message` on its thread: its parent, or in an old file
        without parents the one before it."""
        if not self._legacy:
            return message.parent
        position = self._position[message.id]
        return self._messages[position - 1].id if position else None

    def of(self, reply: Message) -> _Prompt:
        prompt = self._made.get(reply.id)
        if prompt is None:
            chain = self._chain(reply)
            above = self._above(reply)
            failed = self._failed.get(above, 0) if above is not None else 0
            wire = [m for m in chain if not _sent_as_nothing(m)] if failed else chain
            planned = self._sent.get(reply.id)
            if planned is not None:
                prompt = _Prompt(reply, chain, wire, planned.system, planned.left_out)
            else:
                prompt = _Prompt(reply, chain, wire, self._systems.at(reply.ts), None)
            if len(self._made) >= 2:  # the turn before and this one
                del self._made[next(iter(self._made))]
            self._made[reply.id] = prompt
        return prompt

    def _chain(self, reply: Message) -> list[Message]:
        if self._legacy:  # one thread in the file's order
            return list(self._messages[: self._position[reply.id]])
        walked: list[Message] = []
        parent = reply.parent
        start: list[Message] = []
        while parent is not None and len(walked) <= len(self._messages):
            known = self._paths.get(parent)
            if known is not None:
                start = known
                break
            message = self._by_id.get(parent)
            if message is None:
                break  # a damaged file: the thread as far as it is known
            walked.append(message)
            parent = message.parent
        walked.reverse()
        chain = start + walked
        if chain:
            if len(self._paths) >= self.KEPT:
                del self._paths[next(iter(self._paths))]
            self._paths[chain[-1].id] = chain
        return chain


def _sent_as_nothing(message: Message) -> bool:
    """A reply that failed before any text: wire_history leaves it out."""
    return message.role is Role.ASSISTANT and not message.content


def _served_all(new: _Prompt, old: _Prompt, now: TurnFacts, tokens_to: Mapping[str, int]) -> bool:
    """The cache served all it could: everything but the newest messages, or (an
    earlier question asked again, the prompt the start of the one before) the whole
    prompt it shares with the one before."""
    processed = now.processed
    if processed is not None and processed <= new.newest() + TEMPLATE_SLACK:
        return True
    new_parts = new.parts()
    at = _first_difference(old.parts(), new_parts)
    if at is None or at < len(new_parts):
        return False
    shared = _tokens_before(new, len(new_parts), tokens_to)
    return (now.reused or 0) + TEMPLATE_SLACK >= shared


def _kind_of(reply: Message) -> str | None:
    """The protocol a reply's own record shows, whatever the session uses now."""
    if reply.timing is not None and reply.timing.cache_tokens is not None:
        return "llamacpp"
    return None


def _explain(
    number: int,
    before: tuple[TurnFacts, _Prompt],
    after: tuple[TurnFacts, _Prompt],
    kind: str | None,
    tokens_to: Mapping[str, int],
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
        where = (
            "The prompt is the start of the one before (an earlier question asked again): "
            "the cache could serve all of it but the newest tokens."
        )
        if not model:
            causes += _server_causes(old, new, now, kind)
    elif at is not None:
        name, tokens = _name(new, at), _tokens_before(new, at, tokens_to)
        where = (
            f"The prompt differs from its very start: {name}."
            if tokens == 0
            else f"The prompt differs from {name} on (token ≈ {tokens:,})."
        )
        named = _prompt_causes(old, new)
        causes += named if named or known else _untold_causes(old, new, was, now, kind)
    elif not known:
        where = "The thread goes on from the one before."
        causes += _untold_causes(old, new, was, now, kind)
    elif not model:
        where = "The prompt starts as the one before did."
        causes += _server_causes(old, new, now, kind)
    also = _params_change(old.reply.params, new.reply.params, kind)
    return ReuseDrop(number, was.reused or 0, now.reused or 0, where, tuple(causes), also)


def _first_difference(old: list[str | Message], new: list[str | Message]) -> int | None:
    """Where two requests first differ. Past the system prompt each part is a message of
    a thread from the first message down, so once two differ every later pair does:
    found by bisection, not a walk."""
    shortest = min(len(old), len(new))
    if shortest and not _same(old[0], new[0]):
        return 0
    low, high = 0, shortest
    while low < high:
        middle = (low + high) // 2
        if _same(old[middle], new[middle]):
            low = middle + 1
        else:
            high = middle
    if low < shortest:
        return low
    # One is the start of the other: the new prompt goes on from the old one (or, a
    # regenerated reply, is the same), or it is shorter and ends inside the old one.
    return len(new) if len(new) < len(old) else None


def _same(a: str | Message, b: str | Message) -> bool:
    return a == b if isinstance(a, str) and isinstance(b, str) else a is b


def _name(prompt: _Prompt, at: int) -> str:
    """Part `at` of the request, numbered as the thread is shown (failed replies in)."""
    head = 1 if prompt.system else 0
    if at < head:
        return "the system prompt"
    sent = at - head + (prompt.left_out or 0)
    part = prompt.thread[sent]
    # As far down the thread shown as in what was sent, or further by the failed
    # replies above it.
    number = next(n for n in range(sent, len(prompt.chain)) if prompt.chain[n] is part) + 1
    return f"message {number} (the {part.role})"


def _tokens_before(prompt: _Prompt, at: int, tokens_to: Mapping[str, int]) -> int:
    """About the tokens of the request's first `at` parts (see _tokens), from the sums
    down each thread."""
    head = 1 if prompt.system else 0
    total = _tokens([prompt.system]) if prompt.system and at else 0
    skipped = prompt.left_out or 0
    upto = skipped + max(0, at - head)
    if upto > skipped:
        total += tokens_to[prompt.thread[upto - 1].id]
        if skipped:
            total -= tokens_to[prompt.thread[skipped - 1].id]
    return total


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
    if old.left_out is not None and new.left_out is not None:
        if new.left_out > old.left_out:
            causes.append(
                "old turns left out by the window policy (the oldest "
                f"{new.left_out} messages not sent; {old.left_out} before)"
            )
        elif new.left_out < old.left_out:
            causes.append(
                f"older turns sent again ({new.left_out} left out, {old.left_out} before): "
                "the window policy had room for more of the thread"
            )
    return causes


def _untold_causes(
    old: _Prompt, new: _Prompt, was: TurnFacts, now: TurnFacts, kind: str | None
) -> list[str]:
    """No known part changed, but a part of the turn before is not known: the session
    was opened since it was sent (llmchat keeps what the window left out only for turns
    it sent itself, in this run)."""
    causes = []
    shrank = was.prompt is not None and now.prompt is not None and now.prompt < was.prompt
    reopened = old.left_out is None and new.left_out is not None
    if reopened:
        causes.append(_reopened(kind))
    unknown = []
    if old.system is None or new.system is None:
        unknown.append("a system prompt change")
    if shrank and (old.left_out is None or new.left_out is None):
        unknown.append("old turns left out by the window policy")
    if unknown:
        causes.append(
            f"not known: {' or '.join(unknown)} would explain it, and llmchat does not know "
            "it for turns sent before this session was opened"
        )
    if shrank:
        causes.append(
            f"the prompt shrank ({was.prompt:,} → {now.prompt:,} tokens) though the thread "
            "grew, as when the window policy leaves old turns out"
        )
    causes += _server_causes(old, new, now, kind, fallback=not causes)
    return causes


def _reopened(kind: str | None) -> str:
    if kind == "llamacpp":
        return (
            "the session was opened again since the turn before: if llama-server was "
            "started again since, its KV cache (kept in memory) was empty"
        )
    return "the session was opened again since the turn before"


def _system_change(old: str, new: str) -> str:
    if not old:
        return "a system prompt was added"
    if not new:
        return "the system prompt was removed"
    return "the system prompt changed"


def _tree_change(old: _Prompt, new: _Prompt) -> str:
    """A branch switch or an edit: the new thread leaves the old one (its reply
    included) before its own question. Numbered as the thread is shown."""
    before = [*old.chain, old.reply]
    shortest = min(len(before), len(new.chain))
    low, high = 0, shortest  # threads from the first message: once apart, apart after
    while low < high:
        middle = (low + high) // 2
        if before[middle] is new.chain[middle]:
            low = middle + 1
        else:
            high = middle
    if low == shortest:
        return ""
    a, b, number = before[low], new.chain[low], low + 1
    if b is new.chain[-1] and a.role is Role.USER and b.role is Role.USER:
        return f"an edited message: message {number} was edited (a new branch from there)"
    return f"a branch switch: from message {number} on, this turn follows another branch"


def _server_causes(
    old: _Prompt, new: _Prompt, now: TurnFacts, kind: str | None, *, fallback: bool = True
) -> list[str]:
    """What the server may have done; `fallback`: say so when nothing is named."""
    if kind == "llamacpp":
        if not fallback:
            return []
        return [
            "not one llmchat knows: llama-server recomputed a prompt that starts as the "
            "one before (its slot may have served another request in between, such as "
            "`session: name with the model`, the request went to another slot, or the "
            "server was restarted: its KV cache is in memory)"
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
    if not causes and fallback:
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
