"""The context budget: what the next request will use of the window, and what to leave out.

Every request must fit: system prompt + the history that is sent + the new message +
the tokens reserved for the reply (`max_tokens`, always sent). When it would pass the
safety threshold, the oldest turns are left out of the request (never the system
prompt, never the newest message); the session file keeps them all.

How many are left out is the truncation policy. "oldest" leaves out just enough, so once
the window is full the start of the prompt moves every turn and a server's prompt cache
(llama-server's `cache_prompt`, OpenAI's and Anthropic's prefix caches) can reuse only the
system prompt. "chunked" (the default) leaves out a block of whole turns, enough to bring
the request down to `LOW_WATER` of the threshold, and then keeps that same starting point
on the following turns until the threshold is passed again: the kept prefix stays
byte-identical for many turns and the server reuses it.

The chunked cut is remembered nowhere. It is a function of the history alone: the
conversation is replayed as it grew, one request per user message, and the cut moves
only when one of those requests would pass the threshold. Recomputing it on any later
turn (the gauge as you type, the send, `-p`, a resumed session, a retry) gives the same
answer, so what the gauge and the marker say is left out is what is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from llmchat.core.request import WireMessage
from llmchat.core.tokens import REPLY_PRIMING, TokenCounter

DEFAULT_THRESHOLD = 0.9
MIN_REPLY = 16
"""A reply reserve smaller than this is not worth sending for."""
LOW_WATER = 0.7
"""Chunked truncation brings the request down to this share of the threshold's tokens
(63 % of the window at the default threshold), so the turns after a cut have room to
grow with the same start."""

Truncation = Literal["chunked", "oldest"]
"""How old turns are left out: in blocks that keep the prompt's start for many turns
(cache-friendly), or one at a time, just enough to fit."""
TRUNCATIONS: tuple[Truncation, ...] = ("chunked", "oldest")


class DoesNotFit(Exception):
    """Even the newest message alone does not fit; the message gives the numbers."""

    def __init__(self, needed: int, limit: int) -> None:
        super().__init__(
            f"the newest message needs {needed} tokens (with the system prompt and the "
            f"reply's reserve) but only {limit} fit in the context window"
        )
        self.needed = needed
        self.limit = limit


@dataclass(frozen=True, slots=True)
class ContextBudget:
    """Tokens the next request will use, by part, against the window."""

    window: int | None
    system: int
    history: int
    draft: int
    reserved: int
    exact: bool
    minify_saving: int = 0
    """Tokens the draft would save with its pretty-printed JSON minified."""
    skipped: int = 0
    """Oldest history messages the next request leaves out to fit."""

    @property
    def prompt(self) -> int:
        return self.system + self.history + self.draft

    @property
    def used(self) -> int:
        return self.prompt + self.reserved

    @property
    def fraction(self) -> float | None:
        return None if not self.window else self.used / self.window


def history_to_drop(
    history: Sequence[int],
    *,
    system: int,
    reserved: int,
    window: int,
    threshold: float = DEFAULT_THRESHOLD,
    turn_starts: Sequence[bool] | None = None,
    truncation: Truncation = "chunked",
) -> int:
    """How many of the oldest history messages to leave out so the request fits.

    `history` is the token count of each message in order; the last one is the newest
    message, which is always sent. With `turn_starts` (True where a user message opens a
    turn) whole turns are dropped, so the request never opens with a stray reply.
    `truncation` picks the policy (see the module's docstring).
    Raises DoesNotFit if the newest message alone is too big.
    """
    if not history:
        return 0
    limit = int(window * threshold)
    newest = history[-1]
    if system + newest + reserved > limit:
        raise DoesNotFit(system + newest + reserved, limit)
    starts = list(turn_starts) if turn_starts is not None else [True] * len(history)
    before = [0]  # before[i]: tokens of history[:i]
    for count in history:
        before.append(before[-1] + count)
    last = len(history) - 1
    if truncation == "oldest":
        return _cut(before, starts, 0, last, system + reserved, limit)
    low = int(limit * LOW_WATER)
    cut = 0
    # One request per user message, as the conversation grew, then the one being planned.
    for newest_at in (*(i for i in range(last) if starts[i]), last):
        sent = system + reserved + before[newest_at + 1] - before[cut]
        if sent > limit:
            # Passed the threshold: cut a block, down to the low-water mark if whole
            # turns allow it, else as little as fits (a large newest message).
            fixed = system + reserved
            lowest = _cut(before, starts, cut, newest_at, fixed, low)
            fits = fixed + before[newest_at + 1] - before[lowest] <= low
            cut = lowest if fits else _cut(before, starts, cut, newest_at, fixed, limit)
    return cut


def _cut(
    before: Sequence[int], starts: Sequence[bool], cut: int, newest: int, fixed: int, ceiling: int
) -> int:
    """The first cut at or after `cut` (a turn's start, or the newest message) that brings
    `fixed` + history[cut:newest + 1] to `ceiling` or under; `newest` if none does."""
    for at in range(cut, newest):
        if (at == cut or starts[at]) and fixed + before[newest + 1] - before[at] <= ceiling:
            return at
    return newest


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """How to send the next request so it fits: history left out, reply reserve."""

    skip: int
    """Oldest history messages (after the system prompt) not sent."""
    max_tokens: int
    """The reply's reserve: the configured max_tokens, clipped to what is left."""


@dataclass(frozen=True, slots=True)
class CountedPrompt:
    """A request's messages as the plan sees them: token counts, and where turns start."""

    system: int
    """The system prompt (0 without one) plus the reply's priming."""
    history: tuple[int, ...]
    """Each message after the system prompt, the newest last."""
    starts: tuple[bool, ...]
    """True where a user message opens a turn."""

    @classmethod
    def of(cls, messages: Sequence[WireMessage], counter: TokenCounter) -> CountedPrompt:
        has_system = bool(messages) and messages[0].role == "system"
        system = (counter.count_message(messages[0]) if has_system else 0) + REPLY_PRIMING
        history = messages[1:] if has_system else messages
        return cls(
            system,
            tuple(counter.count_message(m) for m in history),
            tuple(m.role == "user" for m in history),
        )

    def then(self, message: WireMessage, counter: TokenCounter) -> CountedPrompt:
        """These messages and `message` after them (the gauge's draft)."""
        return CountedPrompt(
            self.system,
            (*self.history, counter.count_message(message)),
            (*self.starts, message.role == "user"),
        )

    def kept(self, skip: int) -> int:
        """Tokens of the prompt with the oldest `skip` history messages left out."""
        return self.system + sum(self.history[skip:])


def plan_request(
    messages: Sequence[WireMessage] | CountedPrompt,
    counter: TokenCounter,
    *,
    max_tokens: int,
    window: int | None,
    threshold: float = DEFAULT_THRESHOLD,
    truncation: Truncation = "chunked",
) -> RequestPlan:
    """Fit `messages` (system first if any, the newest message last; or their counts)
    into the window.

    Drops the oldest whole turns first (as `truncation` says); if the newest message
    alone still leaves less than `max_tokens`, the reserve is clipped to what is left.
    Raises DoesNotFit when not even MIN_REPLY tokens would be left for the reply.
    """
    if not window or not messages:
        return RequestPlan(0, max_tokens)
    counted = (
        messages if isinstance(messages, CountedPrompt) else CountedPrompt.of(messages, counter)
    )
    system, counts = counted.system, counted.history
    try:
        skip = history_to_drop(
            counts,
            system=system,
            reserved=max_tokens,
            window=window,
            threshold=threshold,
            turn_starts=counted.starts,
            truncation=truncation,
        )
        return RequestPlan(skip, max_tokens)
    except DoesNotFit:
        limit = int(window * threshold)
        left = limit - system - (counts[-1] if counts else 0)
        if left < MIN_REPLY:
            raise DoesNotFit(system + (counts[-1] if counts else 0) + MIN_REPLY, limit) from None
        return RequestPlan(len(counts) - 1, min(max_tokens, left))
