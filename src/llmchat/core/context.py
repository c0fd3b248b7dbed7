"""What a backend can tell about the context window and prompt size, in core terms.

The context gauge (and truncation) are built on these; a backend that knows more (llama.cpp
knows its exact tokenizer and `n_ctx`) provides exact figures, others estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from llmchat.core.request import WireMessage


@dataclass(frozen=True, slots=True)
class TokenCount:
    tokens: int
    exact: bool
    """True when the server's own tokenizer counted them."""


@dataclass(frozen=True, slots=True)
class ContextWindow:
    tokens: int
    source: str
    """Where the size came from: "server", "config" or "model info"."""


@runtime_checkable
class PromptCounter(Protocol):
    """A backend that can count a prompt with the model's own tokenizer and template."""

    async def count_prompt(self, messages: Sequence[WireMessage]) -> TokenCount: ...

    async def count_text(self, text: str) -> int: ...

    async def context_window(self) -> ContextWindow | None: ...
