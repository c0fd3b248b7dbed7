"""The gateway every front end streams through: retries before the first token.

Once a token has been shown, a failure is never retried automatically: the partial
text stays and the user decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace

from llmchat.backends.base import Backend
from llmchat.core.events import (
    ChatError,
    Delta,
    ErrorKind,
    Failed,
    Loading,
    Reasoning,
    Retrying,
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

    async def discover(self) -> None:
        """Let the backend learn about its server (e.g. that it is a llama-server)."""
        discover = getattr(self.backend, "discover", None)
        if discover is not None:
            self._backend = await discover()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        attempt = 0
        loading_waits = 0
        waited_for_loading = 0.0
        while True:
            shown = False
            failure: Failed | None = None
            async with aclosing(self.backend.stream(request)) as events:
                async for event in events:
                    if isinstance(event, Failed) and not shown:
                        failure = event
                        break
                    if isinstance(event, Delta | Reasoning):
                        shown = True
                    yield event
            if failure is None:
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
