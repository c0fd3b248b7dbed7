"""What every backend offers the gateway, and what it declares it can do beyond that.

A backend kind is chosen by the launch code (from the config, or by a probe of the
server, see `discovery`); what it can do is declared in its `capabilities`, not implied
by its class. The gateway reads those and is the only way the app reaches a backend:
streaming a turn, counting a prompt, asking the context window, listing models.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol

from llmchat.core.context import ContextWindow, TokenCount
from llmchat.core.events import ChatError, RequestSent, StreamEvent
from llmchat.core.model_rules import Protocol as WireProtocol
from llmchat.core.params import SamplingParams
from llmchat.core.probability_pool import ServerCuts
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.structured import OutputSchema


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do besides streaming a turn. The gateway asks a backend only
    for what it declares here; the rest answers "cannot" without a round trip."""

    counts_exactly: bool = False
    """Counts a prompt and a draft with the model's own tokenizer (`count_prompt`,
    `count_text`): llama-server's `/tokenize`, Anthropic's `count_tokens`."""
    tells_window: bool = False
    """Says the context window it serves (`context_window`): llama-server's `/props`."""
    reports_timings: bool = False
    """Each reply carries the server's own prefill and decode timings (for the latency
    and cache views; other backends' replies say only what the client saw)."""
    lists_models: bool = False
    """`list_models` answers (`GET /models`)."""
    logprobs: bool = False
    """Can return each token's log-probability and its top alternatives (for the
    probability view; Anthropic gives none)."""
    continues_text: bool = False
    """Continues a raw text with the chat's sampling (`continue_reply`: llama-server's
    `/completion`), so a reply can be resampled from a chosen token, and cuts with
    top-k and min-p too (`sampler_cuts`)."""
    free: bool = False
    """Replies cost nothing: a model on this machine (nothing is priced)."""
    image_formula: WireProtocol | None = None
    """Whose published formula gives an image's tokens ("openai", "anthropic"); None:
    not known (a llama-server's projector decides), so they are estimated."""


class Backend(Protocol):
    """A wire protocol bound to one server and model.

    `stream()` never raises for server or network faults: it ends with a `Failed` event
    instead. Closing the iterator early (cancel) closes the HTTP response, which makes
    the server stop generating. The one-shot calls raise `BackendError`; those a backend
    has not declared in `capabilities` are never called.
    """

    name: str
    """The user's name for this backend (`[backends.NAME]`), shown in the UI."""
    model: str
    """The model requests go to unless a request names another."""
    protocol: WireProtocol
    """The wire protocol, for the per-model rules (which dials, which ranges)."""
    capabilities: Capabilities

    def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]: ...

    async def prepared(self, request: ChatRequest) -> RequestSent:
        """What `stream` would send first for `request`, without sending it (the body
        encoded by the same code; the headers with the key masked)."""
        ...

    def prepare(self) -> None:
        """Build what the first request needs (the HTTP client); may run in a thread."""
        ...

    async def list_models(self) -> list[str]: ...

    async def count_prompt(self, messages: Sequence[WireMessage]) -> TokenCount: ...

    async def count_text(self, text: str) -> int: ...

    async def context_window(self) -> ContextWindow | None: ...

    async def token_pieces(self, text: str) -> list[str]:
        """`text` as the model's tokenizer splits it (the text of each token); only
        asked of a backend whose capabilities say `counts_exactly` and it can."""
        ...

    async def sampler_cuts(self) -> ServerCuts:
        """The top-k and min-p the server uses when a request names none (`/props`);
        only asked of a backend that `continues_text`."""
        ...

    def continue_reply(
        self,
        messages: Sequence[WireMessage],
        start: str,
        params: SamplingParams,
        *,
        probabilities: int = 0,
        schema: OutputSchema | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream the model's reply to `messages` continued from the text `start` (its
        own words up to a token, then a chosen alternative), like `stream()`; only asked
        of a backend that `continues_text`."""
        ...

    async def image_refusal(self) -> str | None:
        """Why the model cannot be sent images, if it is known it cannot; None when it
        can or nobody knows (then it is tried, and a refusal is the server's words)."""
        ...

    async def aclose(self) -> None: ...


class BackendError(Exception):
    """Raised by a backend's one-shot calls (listing models, …), never by `stream()`."""

    def __init__(self, error: ChatError) -> None:
        super().__init__(error.one_line())
        self.error = error
