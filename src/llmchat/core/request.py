"""The compiled request: everything a backend needs to send one turn, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from llmchat.core.model_rules import Dial
from llmchat.core.params import SamplingParams
from llmchat.core.structured import OutputSchema

SERVER_DEFAULT_MODEL = "default"
"""The model name meaning "whatever the server serves" when none was configured."""


@dataclass(frozen=True, slots=True)
class WireMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A stateless request compiled from the conversation's state."""

    messages: tuple[WireMessage, ...]
    params: SamplingParams
    model: str | None = None
    """None lets the backend use its configured model."""
    schema: OutputSchema | None = None
    """Structured output: the JSON Schema the reply must follow."""
    last_dial: Dial = "temperature"
    """The sampling dial the user moved last: the one sent to a model that takes only
    one of temperature and top_p."""
