"""The context budget: what the next request will use of the window, and what to leave out.

Every request must fit: system prompt + the history that is sent + the new message +
the tokens reserved for the reply (`max_tokens`, always sent). When it would pass the
safety threshold, the oldest turns are left out of the request (never the system
prompt, never the newest message); the session file keeps them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmchat.core.request import WireMessage
from llmchat.core.tokens import REPLY_PRIMING, TokenCounter

DEFAULT_THRESHOLD = 0.9
MIN_REPLY = 16
"""A reply reserve smaller than this is not worth sending for."""


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
) -> int:
    """How many of the oldest history messages to leave out so the request fits.

    `history` is the token count of each message in order; the last one is the newest
    message, which is always sent. With `turn_starts` (True where a user message opens a
    turn) whole turns are dropped, so the request never opens with a stray reply.
    Raises DoesNotFit if the newest message alone is too big.
    """
    if not history:
        return 0
    limit = int(window * threshold)
    newest = history[-1]
    if system + newest + reserved > limit:
        raise DoesNotFit(system + newest + reserved, limit)
    total = system + sum(history) + reserved
    dropped = 0
    last = len(history) - 1
    while total > limit and dropped < last:
        total -= history[dropped]
        dropped += 1
    while turn_starts is not None and dropped < last and not turn_starts[dropped]:
        total -= history[dropped]
        dropped += 1
    return dropped


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """How to send the next request so it fits: history left out, reply reserve."""

    skip: int
    """Oldest history messages (after the system prompt) not sent."""
    max_tokens: int
    """The reply's reserve: the configured max_tokens, clipped to what is left."""


def plan_request(
    messages: Sequence[WireMessage],
    counter: TokenCounter,
    *,
    max_tokens: int,
    window: int | None,
    threshold: float = DEFAULT_THRESHOLD,
) -> RequestPlan:
    """Fit `messages` (system first if any, the newest message last) into the window.

    Drops the oldest whole turns first; if the newest message alone still leaves less
    than `max_tokens`, the reserve is clipped to what is left. Raises DoesNotFit when
    not even MIN_REPLY tokens would be left for the reply.
    """
    if not window or not messages:
        return RequestPlan(0, max_tokens)
    has_system = messages[0].role == "system"
    system = (counter.count_message(messages[0]) if has_system else 0) + REPLY_PRIMING
    history = messages[1:] if has_system else messages
    counts = [counter.count_message(m) for m in history]
    starts = [m.role == "user" for m in history]
    try:
        skip = history_to_drop(
            counts,
            system=system,
            reserved=max_tokens,
            window=window,
            threshold=threshold,
            turn_starts=starts,
        )
        return RequestPlan(skip, max_tokens)
    except DoesNotFit:
        limit = int(window * threshold)
        left = limit - system - (counts[-1] if counts else 0)
        if left < MIN_REPLY:
            raise DoesNotFit(system + (counts[-1] if counts else 0) + MIN_REPLY, limit) from None
        return RequestPlan(len(history) - 1, min(max_tokens, left))
