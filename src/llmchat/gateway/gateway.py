"""The gateway every front end streams through: retries before the first token.

Once a token has been shown, a failure is never retried automatically: the partial
text stays and the user decides. Every attempt's `RequestSent` is passed on, so a turn
that was retried reports each body that went out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace

from llmchat.backends.base import Backend, BackendError
from llmchat.core.events import (
    ChatError,
    Delta,
    ErrorKind,
    Failed,
    Loading,
    Reasoning,
    Retrying,
    Started,
    StreamEvent,
)
from llmchat.core.request import ChatRequest
from llmchat.gateway.retry import RetryPolicy

Sleep = Callable[[float], Awaitable[None]]


class Gateway:
    """Streams a request through a backend with the retry policy applied."""

    def __init__(
        self,
        backend: Backend | Callable[[], Backend],
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
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

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            assert self._factory is not None
            self._backend = self._factory()
        return self._backend

    def prepare(self) -> None:
        """Build the backend and its HTTP client now (safe to run in a thread)."""
        prepare = getattr(self.backend, "prepare", None)
        if prepare is not None:
            prepare()

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
            discover = getattr(self.backend, "discover", None)
            try:
                if discover is not None:
                    self._backend = await discover()
            except BackendError as exc:
                self.unreachable = exc.error
                return False
            self.discovered = True
            self.unreachable = None
            return True

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        attempt = 0
        loading_waits = 0
        waited_for_loading = 0.0
        while True:
            shown = False
            failure: Failed | None = None
            if not await self.discover() and self.unreachable is not None:
                # The probe just failed to connect: so would the request. The probe's
                # failure is this attempt's, so a dead host costs one connect, not two.
                failure = Failed(self.unreachable)
            else:
                async with aclosing(self.backend.stream(request)) as events:
                    async for event in events:
                        if isinstance(event, Failed) and not shown:
                            failure = event
                            break
                        if isinstance(event, Started):
                            self.unreachable = None
                        if isinstance(event, Delta | Reasoning):
                            shown = True
                        yield event
            if failure is None:
                return
            if failure.error.kind is ErrorKind.CONNECT:
                self.unreachable = failure.error
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
                yield Failed(self._with_advice(failure.error))
                return
            yield Retrying(attempt=attempt, delay_s=delay, reason=failure.error.one_line())
            await self._sleep(delay)

    def _with_advice(self, error: ChatError) -> ChatError:
        """Say when to try again if the server asked for a longer wait than we allow."""
        wait = error.retry_after_s
        if error.retryable and wait is not None and wait > self.policy.max_retry_after_s:
            return replace(error, message=f"{error.message} (retry in {wait:.0f} s)")
        return error

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
