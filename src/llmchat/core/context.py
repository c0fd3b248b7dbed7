"""What a backend can tell about the context window and prompt size, in core terms.

The context gauge (and truncation) are built on these; a backend that declares it can
(llama.cpp knows its exact tokenizer and `n_ctx`) provides exact figures, others
estimates (see `backends.base.Capabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass


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
