"""The probabilities a reply was written with: for each token the model chose, its
log-probability and the top alternatives it chose among (OpenAI-style `logprobs`).

Pure: the backends read them off the stream (`from_wire`), the session file keeps them
with the message in a compact form (`to_json` / `from_json`), and the probability view
(`core.probability_pool`) re-weights them. Everything read here is outside input: the
numbers are checked and bounded, the token texts cut short, and a reply keeps at most
`MAX_TOKENS` tokens' worth, so a huge reply cannot make a huge session line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_ALTERNATIVES = 20
"""OpenAI's most (`top_logprobs` 0–20); llama-server takes the same field."""
ASKED_ALTERNATIVES = 10
"""What llmchat asks for when the probabilities are on: enough to see the pool, half
the size on disk of the most."""
MAX_TOKENS = 4096
"""Tokens of one reply whose probabilities are kept; the rest of a longer reply is
written without them (the view says where they stop)."""
MAX_TOKEN_CHARS = 64
"""A token longer than this is not a token: its text is cut (to show, never to resend)."""
FLOOR = -99.0
"""The smallest log-probability kept: e^-99 is nothing, and llama-server writes a zero
probability as about -3.4e38, which is no use stored."""
DECIMALS = 4
"""Log-probabilities are stored to four decimals: 0.01 % of relative error at most."""


@dataclass(frozen=True, slots=True)
class Alternative:
    token: str
    logprob: float

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


@dataclass(frozen=True, slots=True)
class TokenProb:
    """One token of the reply: what was chosen, how likely it was, and the pool."""

    token: str
    logprob: float
    top: tuple[Alternative, ...] = ()
    """The most likely tokens at this position, most likely first (the chosen one is
    usually among them; not always, at a high temperature)."""

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


class TokenProbs:
    """The probabilities of one reply's tokens, in order.

    Read from a session file they stay as stored until first used (`tokens`): a long
    reply holds tens of thousands of numbers, and loading a session, listing sessions
    or recalling prompts must not pay for parsing them."""

    __slots__ = ("_stored", "_tokens", "asked", "cut", "damaged", "unreadable")

    def __init__(
        self,
        tokens: tuple[TokenProb, ...] = (),
        asked: int = ASKED_ALTERNATIVES,
        cut: bool = False,
        *,
        stored: list[Any] | None = None,
    ) -> None:
        self._tokens: tuple[TokenProb, ...] | None = None if stored is not None else tokens
        self._stored = stored
        self.asked = asked
        """How many alternatives were asked for per token."""
        self.cut = cut
        """The reply went on past `MAX_TOKENS` tokens: the rest has no probabilities."""
        self.unreadable = 0
        """Stored rows that were not sound and were skipped (a hand-edited file)."""
        self.damaged = False
        """Stored, but not in any shape llmchat writes: none could be read."""

    @property
    def tokens(self) -> tuple[TokenProb, ...]:
        if self._tokens is None:
            rows = self._stored or []
            self._tokens = tuple(t for t in map(_row, rows[:MAX_TOKENS]) if t is not None)
            self.unreadable = min(len(rows), MAX_TOKENS) - len(self._tokens)
            self._stored = None
        return self._tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenProbs):
            return NotImplemented
        return (self.tokens, self.asked, self.cut) == (other.tokens, other.asked, other.cut)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TokenProbs({len(self)} tokens, asked={self.asked}, cut={self.cut})"

    def text(self) -> str:
        return "".join(t.token for t in self.tokens)


# -- reading them off the wire (OpenAI and llama-server's chat stream) ---------------------


def _logprob(value: Any) -> float | None:
    """A log-probability, or None when it is not one (a probability above 1, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # a 400-digit integer: hugely negative is zero, else nonsense
        return FLOOR if value < 0 else None
    if math.isnan(number) or number > 1e-6:
        return None
    return max(FLOOR, min(0.0, number))


def _token(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value[:MAX_TOKEN_CHARS]


def from_wire(logprobs: Any, most: int = MAX_ALTERNATIVES) -> tuple[TokenProb, ...]:
    """The tokens of one chunk's `choices[0].logprobs`: `{"content": [{"token",
    "logprob", "top_logprobs": [{"token", "logprob"}, …]}, …]}`, with at most `most`
    alternatives each (what was asked). Entries that are not sound are skipped, never
    guessed."""
    most = max(0, min(most, MAX_ALTERNATIVES))
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return ()
    tokens: list[TokenProb] = []
    for entry in content:
        if not isinstance(entry, dict):
            continue
        token, logprob = _token(entry.get("token")), _logprob(entry.get("logprob"))
        if token is None or logprob is None:
            continue
        top: list[Alternative] = []
        alternatives = entry.get("top_logprobs")
        for alternative in alternatives if isinstance(alternatives, list) else ():
            if len(top) >= most:
                break
            if isinstance(alternative, dict):
                alt_token = _token(alternative.get("token"))
                alt_logprob = _logprob(alternative.get("logprob"))
                if alt_token is not None and alt_logprob is not None:
                    top.append(Alternative(alt_token, alt_logprob))
        top.sort(key=lambda a: -a.logprob)
        tokens.append(TokenProb(token, logprob, tuple(top)))
    return tuple(tokens)


# -- stored with the message ---------------------------------------------------------------


def to_json(probs: TokenProbs) -> dict[str, Any]:
    """Compact: one flat list per token, `[token, logprob, alt, logprob, alt, …]`."""
    rows: list[list[Any]] = []
    for t in probs.tokens:
        row: list[Any] = [t.token, round(t.logprob, DECIMALS)]
        for a in t.top:
            row += (a.token, round(a.logprob, DECIMALS))
        rows.append(row)
    record: dict[str, Any] = {"asked": probs.asked, "tokens": rows}
    if probs.cut:
        record["cut"] = True
    return record


def from_json(data: Any) -> TokenProbs | None:
    """What `to_json` wrote, or None when it is not that shape at all. Only the shape is
    checked here; the rows are read (and checked like the wire: a hand-edited file is
    outside input) when first used, unsound ones skipped and counted."""
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
        damaged = TokenProbs()
        damaged.damaged = True
        return damaged
    asked = data.get("asked")
    if isinstance(asked, bool) or not isinstance(asked, int) or not 0 <= asked <= MAX_ALTERNATIVES:
        asked = ASKED_ALTERNATIVES
    rows = data["tokens"]
    cut = data.get("cut") is True or len(rows) > MAX_TOKENS
    return TokenProbs(asked=asked, cut=cut, stored=rows)


def _row(row: Any) -> TokenProb | None:
    if not isinstance(row, list) or len(row) < 2 or len(row) % 2:
        return None
    token, logprob = _token(row[0]), _logprob(row[1])
    if token is None or logprob is None:
        return None
    top = []
    for i in range(2, min(len(row), 2 + 2 * MAX_ALTERNATIVES), 2):
        alt_token, alt_logprob = _token(row[i]), _logprob(row[i + 1])
        if alt_token is not None and alt_logprob is not None:
            top.append(Alternative(alt_token, alt_logprob))
    return TokenProb(token, logprob, tuple(top))
