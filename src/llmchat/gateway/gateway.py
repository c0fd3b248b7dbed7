"""The gateway every front end streams through: retries before the first token, a
circuit breaker per backend, and a fallback chain to other backends. It is the only way
the app reaches a backend, for counting and listing models too, and it asks a backend
only for what its `capabilities` declare.

Once a token has been shown, a failure is never retried automatically (nor sent to a
fallback): the partial text stays and the user decides. Every attempt's `RequestSent`
is passed on, so a turn that was retried reports each body that went out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace

from llmchat.backends.base import Backend, BackendError, Capabilities
from llmchat.core.context import ContextWindow, TokenCount
from llmchat.core.events import (
    ChatError,
    Delta,
    ErrorKind,
    Failed,
    FellBack,
    Loading,
    Reasoning,
    RequestSent,
    Retrying,
    Started,
    StreamEvent,
)
from llmchat.core.model_rules import Protocol as WireProtocol
from llmchat.core.params import SamplingParams
from llmchat.core.probability_pool import ServerCuts
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.structured import OutputSchema
from llmchat.gateway.breaker import CircuitBreaker, counts_as_failure
from llmchat.gateway.retry import RetryPolicy

Sleep = Callable[[float], Awaitable[None]]
Replan = Callable[["Gateway"], Awaitable[ChatRequest | ChatError]]
"""The turn's request planned again for a fallback (its window, its model), or why it
cannot be sent there (it does not fit)."""


class Gateway:
    """Streams a request through a backend with the retry policy and its breaker
    applied, and through its fallbacks when it fails before the first token."""

    def __init__(
        self,
        backend: Backend | Callable[[], Backend],
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        breaker: CircuitBreaker | None = None,
        fallbacks: Sequence[Gateway] = (),
        name: str | None = None,
        free: bool | None = None,
        configured_window: int | None = None,
        key_source: str | None = None,
    ) -> None:
        """`name`, `free` and `configured_window` are what the config says of the
        backend, known before it is built (a fallback may never be)."""
        # A factory defers importing httpx and building its client off the start-up path.
        self._backend = backend if not callable(backend) else None
        self._factory = backend if callable(backend) else None
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self.discovered = False
        """Whether the server has told what it is (see `discover`)."""
        self.unreachable: ChatError | None = None
        """Why the server could not be reached the last time it was asked, until it
        answers again; None while it answers (or has not been asked)."""
        self._discovering = asyncio.Lock()
        self.breaker = breaker or CircuitBreaker()
        """Shared by every session using this backend, as primary or as a fallback."""
        self.fallbacks: tuple[Gateway, ...] = tuple(fallbacks)
        """The backends to try next, in order, when this one fails before its first
        token (their own fallbacks are not followed)."""
        self._name = name
        self._free = free
        self.configured_window = configured_window
        self.key_source = key_source
        """Where the key comes from ("environment variable OPENAI_API_KEY"), never the key."""
        """`context_window` from the config: wins over what the server or model info say."""

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            assert self._factory is not None
            self._backend = self._factory()
        return self._backend

    @property
    def name(self) -> str:
        return self._name if self._name is not None else self.backend.name

    @property
    def model(self) -> str:
        """The model requests go to (the server's own name for it, once discovered)."""
        return self.backend.model

    @property
    def protocol(self) -> WireProtocol:
        return self.backend.protocol

    @property
    def capabilities(self) -> Capabilities:
        """What the backend can do (a llama-server found behind an OpenAI-compatible URL
        can do more once `discover` has run)."""
        return self.backend.capabilities

    @property
    def free(self) -> bool:
        """Replies cost nothing (a model on this machine): nothing is priced. Asking
        does not build the backend: until it is built, only the config can say."""
        if self._free is not None:
            return self._free
        return self._backend is not None and self._backend.capabilities.free

    def chain(self) -> tuple[Gateway, ...]:
        """This gateway, then its fallbacks in order."""
        return (self, *self.fallbacks)

    def prepare(self) -> None:
        """Build the backend and its HTTP client now (safe to run in a thread)."""
        self.backend.prepare()

    # -- what the backend can tell (each only if it declares it can) --------------------

    async def count_prompt(self, messages: Sequence[WireMessage]) -> TokenCount | None:
        """The prompt's tokens by the model's own tokenizer; None if the backend cannot
        count (or cannot now: offline). Never raises for the server's faults."""
        if not self.capabilities.counts_exactly:
            return None
        try:
            return await self.backend.count_prompt(messages)
        except Exception:  # advisory: any failure means counting here instead
            return None

    async def count_text(self, text: str) -> int | None:
        """A bare text's tokens (the draft) by the model's own tokenizer, or None."""
        if not self.capabilities.counts_exactly:
            return None
        try:
            return await self.backend.count_text(text)
        except Exception:  # advisory, as above
            return None

    async def token_pieces(self, text: str) -> list[str] | None:
        """`text` split by the server's own tokenizer, or None if it cannot say."""
        if not self.capabilities.counts_exactly:
            return None
        try:
            return await self.backend.token_pieces(text)
        except Exception:  # advisory, as counting is
            return None

    async def sampler_cuts(self) -> ServerCuts | None:
        """The server's default top-k and min-p, or None if it does not cut with them."""
        await self.discover()
        if not self.capabilities.continues_text:
            return None
        try:
            return await self.backend.sampler_cuts()
        except BackendError:
            return ServerCuts()  # llama.cpp's own, which the server then gets named

    async def continue_reply(
        self,
        messages: Sequence[WireMessage],
        start: str,
        params: SamplingParams,
        *,
        probabilities: int = 0,
        schema: OutputSchema | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The reply to `messages` continued from `start` (resample from a token), on
        this backend only: no retry and no fallback, since another model cannot
        continue this one's words. Ends with `Finished` or `Failed` like `stream`."""
        await self.discover()
        if not self.capabilities.continues_text:
            error = ChatError(
                ErrorKind.BAD_REQUEST,
                f"{self.name} cannot continue a reply from a chosen token",
                backend=self.name,
            )
            yield Failed(error)
            return
        events = self.backend.continue_reply(
            messages, start, params, probabilities=probabilities, schema=schema
        )
        async with aclosing(events) as stream:
            async for event in stream:
                yield event

    async def image_refusal(self) -> str | None:
        """Why this backend's model cannot take images, if known (see the backend)."""
        await self.discover()  # a llama-server behind a plain URL knows more
        try:
            return await self.backend.image_refusal()
        except BackendError:
            return None

    async def context_window(self) -> ContextWindow | None:
        """The window: the config's, else the server's if it tells; None if neither."""
        if self.configured_window:
            return ContextWindow(self.configured_window, "config")
        if not self.capabilities.tells_window:
            return None
        try:
            return await self.backend.context_window()
        except BackendError:
            return None

    async def discover(self) -> bool:
        """Let the backend learn about its server: the model to ask for when none was
        configured, whether it is a llama-server. True once the server has answered.

        A server that cannot be reached teaches nothing, so until it answers every call
        asks again (`stream` calls this before each attempt): a server started after
        llmchat is still asked for its real model name.
        """
        async with self._discovering:  # the start-up probe and a first send may overlap
            if self.discovered:
                return True
            from llmchat.backends.discovery import discover

            try:
                self._backend = await discover(self.backend)
            except BackendError as exc:
                self.unreachable = exc.error
                return False
            self.discovered = True
            self.unreachable = None
            return True

    async def stream(
        self, request: ChatRequest, *, replan: Replan | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """The request through this backend, then, while it fails before its first token
        with a fault another server could mend (or its breaker is open), through each
        backend of the fallback chain in turn; ends with one `Finished` or `Failed`.

        A fallback gets the request `replan` makes for it (its own window and model);
        without `replan`, the same request for its own model. Its dials, their ranges and
        its max-tokens field are fitted by the backend itself, as for any request.
        """
        chain = self.chain()
        reason = ""
        for index, gateway in enumerate(chain):
            asked: ChatRequest | _Plan = request
            if index > 0:
                asked = replace(request, model=None) if replan is None else _Plan(replan)
            outcome = _Outcome()
            async with aclosing(gateway._attempts(asked, outcome)) as events:
                async for event in events:
                    yield event
            failure = outcome.failure
            unfit = outcome.unfit
            if failure is not None and unfit:
                # Not sent there; the next fallback may have the room this one lacks. Said
                # with why the backend before it failed, which is the news.
                failure = replace(failure, message=f"{reason}; {failure.message}")
            if failure is None:
                return
            if index + 1 == len(chain) or not (unfit or counts_as_failure(failure)):
                yield Failed(failure)
                return
            reason = failure.one_line()
            yield FellBack(gateway.name, chain[index + 1].name, reason)

    async def _attempts(
        self, asked: ChatRequest | _Plan, outcome: _Outcome
    ) -> AsyncGenerator[StreamEvent, None]:
        """This backend's attempts: every event but the final failure, which goes to
        `outcome` so that `stream` can move on to a fallback instead. A fallback's
        request is planned once its breaker lets a request through and its server has
        answered (its real model and window), never before: an open breaker refuses at
        once, and a dead host costs one connect."""
        request = asked if isinstance(asked, ChatRequest) else None
        attempt = 0
        loading_waits = 0
        waited_for_loading = 0.0
        breaker = self.breaker
        while True:
            if not breaker.allow():
                outcome.failure = breaker.refusal(self.backend.name)
                return
            shown = False
            failure: Failed | None = None
            try:
                if not await self.discover() and self.unreachable is not None:
                    # The probe just failed to connect: so would the request. The probe's
                    # failure is this attempt's, so a dead host costs one connect, not two.
                    failure = Failed(self.unreachable)
                else:
                    if request is None:
                        assert isinstance(asked, _Plan)
                        made = await asked.replan(self)
                        if isinstance(made, ChatError):
                            outcome.failure, outcome.unfit = made, True
                            return  # neither a failure of the server nor an answer
                        request = made
                    async with aclosing(self.backend.stream(request)) as events:
                        async for event in events:
                            if isinstance(event, Failed) and not shown:
                                failure = event
                                break
                            if isinstance(event, Started):
                                self.unreachable = None
                                breaker.record(None)
                            if isinstance(event, Delta | Reasoning):
                                shown = True
                            yield event
            finally:
                breaker.release()  # cancelled before an outcome: the next one probes
            if failure is None:
                return
            breaker.record(failure.error)
            if failure.error.kind is ErrorKind.CONNECT:
                self.unreachable = failure.error
            if breaker.is_open:
                outcome.failure = breaker.refusal(self.backend.name)
                return
            if failure.error.kind is ErrorKind.LOADING:
                # A local server loading its model is not failing: wait for it on its own
                # budget, polling gently, and say so.
                loading_waits += 1
                delay = self.policy.loading_delay(loading_waits, waited_for_loading)
                if delay is not None:
                    waited_for_loading += delay
                    yield Loading(failure.error.message)
                    await self._sleep(delay)
                    continue
            attempt += 1
            delay = self.policy.delay(attempt, failure.error)
            if delay is None:
                outcome.failure = self._with_advice(failure.error)
                return
            yield Retrying(attempt=attempt, delay_s=delay, reason=failure.error.one_line())
            await self._sleep(delay)

    def _with_advice(self, error: ChatError) -> ChatError:
        """Say when to try again if the server asked for a longer wait than we allow."""
        wait = error.retry_after_s
        if error.retryable and wait is not None and wait > self.policy.max_retry_after_s:
            return replace(error, message=f"{error.message} (retry in {wait:.0f} s)")
        return error

    async def prepared(self, request: ChatRequest) -> RequestSent | ChatError:
        """What this backend would be sent for `request` now (nothing is sent; a model
        left to the server is asked of it once), or why it cannot say. The server is
        asked what it is first, as a send would (a llama-server's body has its extras)."""
        await self.discover()
        try:
            return await self.backend.prepared(request)
        except BackendError as exc:
            return exc.error

    async def list_models(self) -> list[str]:
        """The model ids the server offers, as listed (raw: show them neutralised); []
        for a backend that cannot list them. Raises BackendError as the backend does."""
        if not self.capabilities.lists_models:
            return []
        return list(await self.backend.list_models())

    async def aclose(self, *, fallbacks: bool = True) -> None:
        """Close the backend's HTTP client (a later request makes a new one), and its
        fallbacks' unless they may still be in use elsewhere (`fallbacks=False`)."""
        if self._backend is not None:
            await self._backend.aclose()
        for fallback in self.fallbacks if fallbacks else ():
            await fallback.aclose()


@dataclass(slots=True)
class _Outcome:
    failure: ChatError | None = None
    """Why this backend gave up (None: it answered, or the stream was closed)."""
    unfit: bool = False
    """The turn was not sent: it does not fit this backend's window."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """A fallback's request, to be planned once it may be sent there."""

    replan: Replan
