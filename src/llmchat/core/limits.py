"""How much one reply may be: caps on its text and on its bytes on the wire.

A server that ignores `max_tokens` and never stops, or one that sends endless comments
(a gzip "comment bomb" is 256 MB of `:` lines in 260 KB), must not grow llmchat without
bound. Every reply is capped twice, generously, so a real reply never meets a cap:

- its text (reply and thinking), by the rough token estimate, at a multiple of
  `max_tokens`, and at an absolute size whatever `max_tokens` says;
- its decoded bytes on the wire, comments and keep-alives included, at a size per
  token far above what a token costs with logprobs (about 1.85 KB with 20 alternatives).

At a cap the stream is closed and the reply kept as incomplete, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

CUT_REASON = "cut by llmchat: the server sent more than max_tokens"


@dataclass(frozen=True, slots=True)
class ReplyLimits:
    """The caps one reply is held to; small values in tests, the defaults otherwise."""

    token_factor: int = 4
    """Estimated tokens allowed per token asked for (the estimate is rough)."""
    token_slack: int = 1024
    """Estimated tokens allowed on top, so a tiny `max_tokens` is not cut by the
    estimate's error (a single token can be a long run of spaces)."""
    max_chars: int = 8_000_000
    """Characters of text, whatever `max_tokens` says (about 8 MB)."""
    wire_bytes_per_token: int = 8 * 1024
    """Decoded bytes on the wire allowed per token asked for: over four times a token
    with 20 logprob alternatives."""
    wire_floor: int = 4 * 1024 * 1024
    """Decoded bytes allowed whatever `max_tokens` is (headers of events, keep-alives
    during a long prefill)."""
    wire_max: int = 512 * 1024 * 1024
    """Decoded bytes never exceeded, however large `max_tokens` is."""

    def cut_by_size(self, max_tokens: int) -> bool:
        """Whether the absolute size, not max_tokens, sets this reply's text cap."""
        return self.text_chars(max_tokens) == self.max_chars

    def text_chars(self, max_tokens: int) -> int:
        """Characters of text a reply asked for `max_tokens` may reach."""
        tokens = self.token_factor * max(0, max_tokens) + self.token_slack
        return min(self.max_chars, tokens * 4)  # the estimate is four characters a token

    def wire_bytes(self, max_tokens: int) -> int:
        """Decoded bytes on the wire a reply asked for `max_tokens` may reach."""
        return min(self.wire_max, self.wire_floor + self.wire_bytes_per_token * max(0, max_tokens))


SIZE_CUT_REASON = "cut by llmchat: the reply reached the most text llmchat keeps for one reply"


def text_cut_reason(limit_chars: int, *, by_size: bool = False) -> str:
    """Why a reply was cut at `limit_chars`: beyond what max_tokens allows, or (`by_size`)
    at the absolute cap, whatever max_tokens said."""
    return f"{SIZE_CUT_REASON if by_size else CUT_REASON} (over {limit_chars:,} characters)"


def wire_cut_reason(limit_bytes: int, max_tokens: int) -> str:
    return (
        f"cut by llmchat: the server sent over {_size(limit_bytes)} (comments and "
        f"keep-alives included) for a reply of at most {max_tokens:,} tokens"
    )


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.0f} MiB"
    return f"{count / 1024:.0f} KiB"
