"""The compiled request: everything a backend needs to send one turn, and nothing else."""

from __future__ import annotations

from base64 import b64encode
from dataclasses import dataclass, field

from llmchat.core.model_rules import Dial
from llmchat.core.params import SamplingParams
from llmchat.core.structured import OutputSchema

SERVER_DEFAULT_MODEL = "default"
"""The model name meaning "whatever the server serves" when none was configured."""


@dataclass(frozen=True, slots=True)
class WireImage:
    """An image sent with a message: its bytes, and what they are."""

    media_type: str
    data: bytes = field(repr=False)

    def base64(self) -> str:
        return b64encode(self.data).decode("ascii")


@dataclass(frozen=True, slots=True)
class WireMessage:
    role: str
    content: str
    images: tuple[WireImage, ...] = ()
    """Images sent with the text (each backend encodes them its own way)."""


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
    probabilities: int = 0
    """Alternatives asked for per token with their log-probabilities (`logprobs`,
    `top_logprobs`); 0: none asked."""
