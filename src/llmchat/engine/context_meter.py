"""Measures the next request against the context window, for the gauge.

Counts come from the best source at hand, asked through the gateway: the server's own
tokenizer where the backend declares one (llama-server's `/tokenize`, Anthropic's
`count_tokens`: exact), tiktoken for OpenAI models once its encoding has loaded in the
background (exact), an estimate otherwise (marked). The history's count is cached until the
history changes, so a keystroke only counts the draft.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from llmchat.core.budget import (
    DEFAULT_THRESHOLD,
    ContextBudget,
    CountedPrompt,
    DoesNotFit,
    RequestPlan,
    Truncation,
    plan_request,
)
from llmchat.core.conversation import Conversation
from llmchat.core.json_draft import minify_json
from llmchat.core.request import WireMessage
from llmchat.core.tokens import (
    PER_MESSAGE,
    TokenCounter,
    encoding_name_for,
    load_encoder,
)
from llmchat.gateway.gateway import Gateway


@dataclass(slots=True)
class ContextMeter:
    conversation: Conversation
    gateway: Gateway
    model: str
    configured_window: int | None = None
    """`context_window` from the config: wins over what the server or model info say."""
    threshold: float = DEFAULT_THRESHOLD
    """Share of the window a request may fill before its oldest turns are left out."""
    truncation: Truncation = "chunked"
    """How they are left out: in blocks that keep the prompt's start (cache-friendly) or
    one at a time."""
    counter: TokenCounter = field(default_factory=TokenCounter)
    window: int | None = None
    _history_key: tuple[int, str | None, str] | None = None
    _history: tuple[int, bool] = (0, False)
    _counted_key: tuple[int, str | None, str, str, float] | None = None
    _counted: CountedPrompt | None = None

    async def prepare(self) -> None:
        """Load what counting needs (encoder, window), off the UI thread where slow."""
        self.window = self.configured_window
        if self.window is None:
            told = await self.gateway.context_window()
            self.window = told.tokens if told else None
        encoding = encoding_name_for(self.model)
        if encoding is not None:
            encoder = await asyncio.to_thread(load_encoder, encoding)
            if encoder is not None:
                self.counter.use(encoder, encoding)
                self._history_key = None
        # The price list's windows come later, when the app is idle (see ChatScreen).

    async def measure(self, draft: str, *, image_tokens: int = 0) -> ContextBudget:
        """The budget of sending `draft` now, with images attached worth `image_tokens`."""
        history, exact = await self._history_tokens()
        draft_tokens = 0
        if draft:
            counted = await self.gateway.count_text(draft) if exact else None
            if counted is not None:
                draft_tokens = PER_MESSAGE + counted
            else:
                draft_tokens = self.counter.count_message(WireMessage("user", draft))
                exact = exact and self.counter.exact
        if image_tokens:
            draft_tokens += image_tokens
            exact = False  # an image's tokens are a formula's or an estimate
        reserved = self.conversation.params.max_tokens
        skipped = 0
        used = history + draft_tokens + reserved
        # Chunked truncation keeps an earlier cut below the threshold too, so it always
        # asks the plan (the history's counts are kept until it changes).
        chunked = self.truncation == "chunked"
        if self.window and (chunked or used > self.window * self.threshold):
            # The send may leave the oldest turns out: show what will really be sent.
            sent = self._counted_history()
            plan = self._plan(sent, draft)
            if plan is not None and plan.skip:
                history, skipped = sent.kept(plan.skip), plan.skip
                exact = exact and self.counter.exact
                reserved = plan.max_tokens
        return ContextBudget(
            window=self.window,
            system=0,
            history=history,
            draft=draft_tokens,
            reserved=reserved,
            exact=exact,
            minify_saving=self.minify_saving(draft),
            skipped=skipped,
        )

    def _counted_history(self) -> CountedPrompt:
        """The plan's counts of the history as the next request sends it, kept until the
        history (or the counter) changes: a keystroke only counts the draft."""
        conversation = self.conversation
        key = (
            len(conversation.messages),
            conversation.last_id,
            conversation.info.system,
            self.counter.tokenizer,
            self.counter.scale,
        )
        if key != self._counted_key or self._counted is None:
            request = conversation.build_request(self.model)
            self._counted = CountedPrompt.of(request.messages, self.counter)
            self._counted_key = key
        return self._counted

    def _plan(self, counted: CountedPrompt, draft: str) -> RequestPlan | None:
        pending = counted.then(WireMessage("user", draft or " "), self.counter)
        try:
            return plan_request(
                pending,
                self.counter,
                max_tokens=self.conversation.params.max_tokens,
                window=self.window,
                threshold=self.threshold,
                truncation=self.truncation,
            )
        except DoesNotFit:
            return None

    def minify_saving(self, draft: str) -> int:
        """Tokens saved by minifying the draft's JSON (by this side's counter)."""
        if "{" not in draft and "[" not in draft:
            return 0
        small = minify_json(draft)
        if small is None:
            return 0
        saved = self.counter.count_text(draft).tokens - self.counter.count_text(small).tokens
        return max(0, saved)

    async def _history_tokens(self) -> tuple[int, bool]:
        """System prompt + history as the next request sends it (reply priming included)."""
        conversation = self.conversation
        key = (len(conversation.messages), conversation.last_id, conversation.info.system)
        if key == self._history_key:
            return self._history
        request = conversation.build_request(self.model)
        counted = await self.gateway.count_prompt(request.messages)
        if counted is not None:
            result = (counted.tokens, counted.exact)
            if counted.exact:
                # The plan counts here (message by message, many times a turn): its
                # estimates are scaled to the server's tokenizer, or a plan that fits
                # by the estimate overflows the server (1.35–1.6× for Gemma).
                here = self.counter.count_prompt(request.messages).tokens
                self.counter.calibrate(counted.tokens, here)
        else:  # the server cannot say (or not now): count here
            prompt = self.counter.count_prompt(request.messages)
            result = (prompt.tokens, prompt.exact)
        self._history_key, self._history = key, result
        return result
