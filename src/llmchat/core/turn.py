"""One assistant turn in progress: folds stream events into the message that gets saved."""

from __future__ import annotations

import time
from collections.abc import Callable

from llmchat.core.events import (
    ChatError,
    Delta,
    DialsFitted,
    ErrorKind,
    Failed,
    FellBack,
    Finished,
    Probabilities,
    Reasoning,
    ServerTimings,
    Started,
    StreamEvent,
    UsageReport,
)
from llmchat.core.limits import ReplyLimits, text_cut_reason
from llmchat.core.messages import Message, Role, Status, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.core.token_probs import MAX_TOKENS, TokenProb, TokenProbs


def estimate_tokens(text: str) -> int:
    """A rough count (about four characters a token) for when nobody reported one."""
    return _estimate(len(text))


def _estimate(chars: int) -> int:
    return (chars + 3) // 4


class Turn:
    """Accumulates one reply. The clock is injectable so timings can be tested exactly."""

    def __init__(
        self,
        params: SamplingParams,
        *,
        parent: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        limits: ReplyLimits | None = None,
        asked_alternatives: int = 0,
    ) -> None:
        self.params = params
        self.asked_alternatives = asked_alternatives
        """Alternatives per token the request asked for (0: no probabilities asked)."""
        self._asked = params
        self.fell_back_from: str | None = None
        """The backend asked first, when a fallback answered instead."""
        limits = limits or ReplyLimits()
        self.max_chars = limits.text_chars(params.max_tokens)
        """Text (reply and thinking) beyond which the turn is cut: a server that ignores
        max_tokens must not grow the reply, or llmchat, without bound."""
        self._cut_by_size = limits.cut_by_size(params.max_tokens)
        self._chars = 0
        self.parent = parent
        self._clock = clock
        self.sent_at = clock()
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.ended_at: float | None = None
        self._parts: list[str] = []
        self._text_chars = 0
        """Characters of reply text so far: the estimate needs no join of a huge reply."""
        self.reasoning: list[str] = []
        self.backend: str | None = None
        self.model: str | None = None
        self.usage: UsageReport | None = None
        self.server: ServerTimings | None = None
        self.finish_reason: str | None = None
        self.error: ChatError | None = None
        self.status = Status.STREAMING
        self.probabilities: list[TokenProb] = []
        """The tokens' log-probabilities, when they were asked for (the first
        `token_probs.MAX_TOKENS` of them)."""
        self._probabilities_cut = False
        self.resampled_at: int | None = None
        """Set for a reply resampled from a token of a sibling (see `Message`)."""

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def done(self) -> bool:
        return self.status is not Status.STREAMING

    def feed(self, event: StreamEvent) -> None:
        """Apply one event. Events after the turn has ended are ignored (nothing after cancel)."""
        if self.done:
            return
        match event:
            case Started(backend=backend, model=model):
                self.backend, self.model = backend, model
            case Delta(text=text) if text:
                now = self._clock()
                if self.first_token_at is None:
                    self.first_token_at = now
                self.last_token_at = now
                self._parts.append(text)
                self._text_chars += len(text)
                self._count(text)
            case Probabilities(tokens=tokens):
                room = MAX_TOKENS - len(self.probabilities)
                self.probabilities.extend(tokens[: max(0, room)])
                self._probabilities_cut = self._probabilities_cut or len(tokens) > room
            case Reasoning(text=text) if text:
                if self.first_token_at is None:
                    self.first_token_at = self._clock()
                self.reasoning.append(text)
                self._count(text)
            case FellBack(from_backend=asked_first):
                # Another backend takes the turn: what the first one fitted is not sent,
                # and the first one's Started (if it got that far) does not name the
                # backend that answers.
                self.fell_back_from = self.fell_back_from or asked_first
                self.params = self._asked
                self.backend = self.model = None
                self.probabilities.clear()
            case DialsFitted(params=params):
                self.params = params  # the reply records what was really sent
            case UsageReport():
                self.usage = event
            case ServerTimings():
                self.server = event
            case Finished(reason=reason):
                self.finish_reason = reason
                self._end(Status.COMPLETE)
            case Failed(error=error):
                self.error = error
                incomplete = error.kind is ErrorKind.INCOMPLETE
                self._end(Status.INCOMPLETE if incomplete else Status.ERROR)
            case _:
                pass

    def _count(self, text: str) -> None:
        # The piece that crosses the cap is kept (the SSE decoder bounds its size); the
        # front end then closes the stream, because the turn is done.
        self._chars += len(text)
        if self._chars > self.max_chars:
            cut = ChatError(
                ErrorKind.INCOMPLETE,
                text_cut_reason(self.max_chars, by_size=self._cut_by_size),
                backend=self.backend,
            )
            self.feed(Failed(cut))

    def cancel(self) -> None:
        if not self.done:
            self._end(Status.CANCELLED)

    def _end(self, status: Status) -> None:
        self.status = status
        self.ended_at = self._clock()

    @property
    def ttft_ms(self) -> float | None:
        if self.first_token_at is None:
            return None
        return (self.first_token_at - self.sent_at) * 1000

    @property
    def completion_tokens(self) -> int:
        if self.usage is not None:
            return self.usage.completion_tokens
        # Asked several times a second while streaming: counted, not joined and measured.
        return _estimate(self._text_chars)

    @property
    def tok_s(self) -> float | None:
        """Decode speed seen by the client, from first to last token."""
        if self.first_token_at is None or self.last_token_at is None:
            return None
        span = self.last_token_at - self.first_token_at
        tokens = self.completion_tokens
        if span <= 0 or tokens < 2:
            return None
        return (tokens - 1) / span

    def timing(self) -> Timing:
        end = self.ended_at if self.ended_at is not None else self._clock()
        server = self.server or ServerTimings()
        return Timing(
            ttft_ms=_round(self.ttft_ms),
            total_ms=_round((end - self.sent_at) * 1000),
            tok_s=_round(self.tok_s),
            prefill_ms=_round(server.prompt_ms),
            prefill_tokens=server.prompt_n,
            decode_ms=_round(server.predicted_ms),
            decode_tokens=server.predicted_n,
            cache_tokens=server.cache_n,
        )

    def to_message(self) -> Message:
        """The assistant message to append to the history and the session file."""
        if self.usage is not None:
            usage = Usage(
                prompt=self.usage.prompt_tokens,
                completion=self.usage.completion_tokens,
                cached=self.usage.cached_tokens,
                cache_write=self.usage.cache_write_tokens,
            )
        else:
            usage = Usage(completion=estimate_tokens(self.text), estimated=True)
        return Message(
            role=Role.ASSISTANT,
            content=self.text,
            parent=self.parent,
            tokens=usage.completion,
            status=self.status if self.done else Status.INCOMPLETE,
            backend=self.backend,
            model=self.model,
            params=self.params,
            usage=usage,
            timing=self.timing(),
            error=self.error.one_line() if self.error else None,
            finish_reason=self.finish_reason,
            fell_back_from=self.fell_back_from,
            probabilities=self._token_probs(),
            resampled_at=self.resampled_at,
        )

    def _token_probs(self) -> TokenProbs | None:
        """The tokens that spell the reply: a server may send the probabilities of
        tokens it then keeps out of the text (a stop string), which belong to no word."""
        text, spelled, kept = self.text, 0, 0
        for token in self.probabilities:
            if not text.startswith(token.token, spelled):
                break
            spelled += len(token.token)
            kept += 1
        while kept and not self.probabilities[kept - 1].token:  # held back, never written
            kept -= 1
        if not kept:
            return None
        cut = self._probabilities_cut or (kept < len(self.probabilities) and spelled < len(text))
        return TokenProbs(tuple(self.probabilities[:kept]), self.asked_alternatives, cut)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
