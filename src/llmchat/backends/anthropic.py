"""The native Anthropic Messages backend (`kind = "anthropic"`).

Owns what differs from Chat Completions: the request body (the system prompt as a
top-level field, messages as content blocks, `max_tokens` always, prompt caching on the
system prompt and the last user turn), the `x-api-key` and `anthropic-version` headers,
the event stream (read by `anthropic_reply`), an overflow told in prose, exact prompt
counts from `POST /v1/messages/count_tokens`, and schema mode through Anthropic's
structured outputs (`output_config.format`) on the models the rules table says have
them, refused plainly on the others.

Everything else is the OpenAI backend's, shared rather than copied: one HTTP client, the
bounded body reading and the per-reply wire cap, the first-token and discovery deadlines,
the classification of HTTP errors (529 and 5xx are SERVER, 429 RATE_LIMIT, both retried
by the gateway with Retry-After), and the masking of the key in everything that leaves.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import httpx

from llmchat import __version__
from llmchat.backends.anthropic_reply import AnthropicReplyReader
from llmchat.backends.base import BackendError, Capabilities
from llmchat.backends.body import ACCEPT_ENCODING
from llmchat.backends.errors import error_object
from llmchat.backends.openai import OpenAIBackend
from llmchat.backends.openai_reply import ReplyReader
from llmchat.core.context import ContextWindow, TokenCount
from llmchat.core.events import ChatError, ErrorKind, RequestSent, StreamEvent
from llmchat.core.model_rules import STRUCTURED_OUTPUT_MODELS
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.safe_text import one_line
from llmchat.core.structured import OutputSchema

ANTHROPIC_VERSION = "2023-06-01"
CACHE_CONTROL = {"type": "ephemeral"}
"""Marks the end of a cacheable prefix: the next request that repeats it pays 0.1× for it."""
TEMPERATURE_MAX = 1.0
"""Anthropic's temperature runs 0–1, not 0–2."""
TEXT_COUNT_CACHE = 64
"""Drafts whose exact counts are kept, so retyping a word does not ask again."""

_PROMPT_TOO_LONG = re.compile(r"prompt is too long:\s*(\d+)\s*tokens\s*>\s*(\d+)")


def _blocks(message: WireMessage) -> list[dict[str, Any]]:
    """A message's content blocks: its images first (as Anthropic advises), then its text."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": i.media_type, "data": i.base64()},
        }
        for i in message.images
    ]
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    return blocks


class AnthropicBackend(OpenAIBackend):
    """An Anthropic Messages endpoint (`base_url` like `https://api.anthropic.com/v1`)."""

    chat_route = "/messages"
    protocol = "anthropic"
    """For the model rules: Anthropic's temperature runs 0–1, and recent models take
    only one of temperature and top_p."""
    capabilities = Capabilities(
        counts_exactly=True,
        lists_models=True,
        image_formula="anthropic",
    )
    """Counts exactly (free, online); no window from the API, no token alternatives."""
    models_page_size = 1000
    """Anthropic's largest page (the default is 20)."""
    models_cursor = "after_id"

    def __init__(self, *args: Any, prompt_caching: bool = True, **kwargs: Any) -> None:
        """`prompt_caching` marks the system prompt and the last user turn for the
        server's prompt cache (on by default: long chats cost less)."""
        super().__init__(*args, **kwargs)
        self.prompt_caching = prompt_caching
        self._text_counts: OrderedDict[str, int] = OrderedDict()

    def __repr__(self) -> str:
        return super().__repr__().replace("OpenAIBackend(", "AnthropicBackend(", 1)

    # -- the request -------------------------------------------------------------------

    def request_body(self, request: ChatRequest, *, include_usage: bool = True) -> dict[str, Any]:
        """The JSON body for `request` (`include_usage` is Chat Completions' business:
        Anthropic always reports usage)."""
        params = request.params
        body: dict[str, Any] = dict(self.extra_body)
        system, messages = self._split(request.messages)
        body.update(
            model=request.model or self.model,
            max_tokens=params.max_tokens,
            messages=messages,
            stream=True,
            temperature=min(params.temperature, TEMPERATURE_MAX),
        )
        if system is not None:
            body["system"] = system
        else:
            body.pop("system", None)
        # 1.0 keeps every token, the same as leaving it out; recent models refuse
        # top_p beside temperature, so it goes only when the user moved it.
        if params.top_p < 1.0:
            body["top_p"] = params.top_p
        else:
            body.pop("top_p", None)
        if self.stop:
            body["stop_sequences"] = list(self.stop)
        if request.schema is not None:
            body["output_config"] = self.output_config(request.schema)
        return body

    def output_config(self, schema: OutputSchema) -> dict[str, Any]:
        """`output_config` holding the reply to `schema` (structured outputs, generally
        available: no beta header; the 2025 beta's `output_format` is deprecated). Other
        settings under `output_config` in the backend's `extra_body` (`effort`) are kept."""
        config = self.extra_body.get("output_config")
        kept = dict(config) if isinstance(config, dict) else {}
        return {**kept, "format": {"type": "json_schema", "schema": schema.schema}}

    def _split(
        self, wire: Sequence[WireMessage], *, caching: bool | None = None
    ) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
        """The top-level system blocks (None without a system prompt) and the messages,
        with the cache marks when prompt caching is on."""
        caching = self.prompt_caching if caching is None else caching
        system_text = "\n\n".join(m.content for m in wire if m.role == "system" and m.content)
        system: list[dict[str, Any]] | None = None
        if system_text:
            system = [{"type": "text", "text": system_text}]
            if caching:
                system[0]["cache_control"] = dict(CACHE_CONTROL)
        # Anthropic refuses an empty turn (a reply cancelled before its first token).
        messages: list[dict[str, Any]] = [
            {"role": m.role, "content": _blocks(m)}
            for m in wire
            if m.role != "system" and (m.content or m.images)
        ]
        last_user = next(
            (i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"), None
        )
        if caching and last_user is not None:
            messages[last_user]["content"][-1]["cache_control"] = dict(CACHE_CONTROL)
        return system, messages

    def _headers(
        self, accept: str = "application/json", *, with_key: bool = True
    ) -> dict[str, str]:
        headers = {
            "Accept": accept,
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": f"llmchat/{__version__}",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if self._api_key and with_key:
            headers["x-api-key"] = self._api_key
        return headers

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """As for Chat Completions. A request with an output schema goes out with
        structured outputs when the model has them, and is refused before anything is
        sent when it does not, rather than answered with text that ignores the schema."""
        if request.schema is not None:
            model = await self._model_for(request)
            if not self.rules.rule_for(model, self.protocol).structured_output:
                yield self._failed(ChatError(ErrorKind.BAD_REQUEST, _no_schema_mode(model)))
                return
            request = replace(request, model=model)
        async with aclosing(super().stream(request)) as events:
            async for event in events:
                yield event

    async def prepared(self, request: ChatRequest) -> RequestSent:
        """As for Chat Completions; raises `BackendError` for a request `stream` would
        refuse before sending (schema mode on a model without structured outputs)."""
        if request.schema is not None:
            model = await self._model_for(request)
            if not self.rules.rule_for(model, self.protocol).structured_output:
                error = ChatError(ErrorKind.BAD_REQUEST, _no_schema_mode(model))
                raise BackendError(self._scrubbed(error))
        return await super().prepared(request)

    def _reply_reader(self) -> ReplyReader:
        return AnthropicReplyReader(self.name, self._mask)

    # -- errors ------------------------------------------------------------------------

    def _http_error(self, response: httpx.Response, text: str, url: str) -> ChatError:
        """As for Chat Completions, but an overflow is told in prose: "prompt is too long:
        201234 tokens > 200000 maximum"."""
        error = super()._http_error(response, text, url)
        found = error_object(text) if response.status_code in (400, 413) else None
        prose = str(found.get("message", "")) if found else ""
        if (overflow := _PROMPT_TOO_LONG.search(prose)) is not None:
            prompt, window = int(overflow.group(1)), int(overflow.group(2))
            return replace(
                error,
                kind=ErrorKind.CONTEXT_OVERFLOW,
                message=(
                    f"the prompt ({prompt} tokens) does not fit the context window "
                    f"({window} tokens)"
                ),
                prompt_tokens=prompt,
                context_window=window,
            )
        return error

    # -- counting (the context gauge) --------------------------------------------------

    async def count_prompt(self, messages: Sequence[WireMessage]) -> TokenCount:
        """Exactly the input tokens the server will bill for these messages, from
        `POST /messages/count_tokens` (free). Raises `BackendError` when it cannot say
        (offline, no key, no messages yet): the gauge then estimates, and says so."""
        system, wire = self._split(messages, caching=False)
        if not wire:
            error = ChatError(ErrorKind.BAD_REQUEST, "nothing to count before the first message")
            raise BackendError(self._scrubbed(error))
        body: dict[str, Any] = {"model": await self._count_model(), "messages": wire}
        if system is not None:
            body["system"] = system
        text = await self._ask("POST", self.base_url, "/messages/count_tokens", body)
        try:
            tokens = json.loads(text).get("input_tokens")
        except (ValueError, AttributeError):
            tokens = None
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            error = ChatError(ErrorKind.PROTOCOL, "count_tokens gave no input_tokens", status=200)
            raise BackendError(self._scrubbed(error))
        return TokenCount(tokens, exact=True)

    async def count_text(self, text: str) -> int:
        """Tokens of a bare text (a draft), counted as a user message of its own."""
        if text in self._text_counts:
            self._text_counts.move_to_end(text)
            return self._text_counts[text]
        counted = (await self.count_prompt([WireMessage("user", text or " ")])).tokens
        self._text_counts[text] = counted
        if len(self._text_counts) > TEXT_COUNT_CACHE:
            self._text_counts.popitem(last=False)
        return counted

    async def context_window(self) -> ContextWindow | None:
        """Not told by the API: the model table (or the config) says."""
        return None

    async def _count_model(self) -> str:
        return await self._model_for(ChatRequest(messages=(), params=SamplingParams()))


def _no_schema_mode(model: str) -> str:
    return (
        f"schema mode (--schema) is not available for {one_line(model, 60)} on an Anthropic "
        f"backend: Anthropic's structured outputs serve {STRUCTURED_OUTPUT_MODELS}; "
        "switch to one of those, or to an OpenAI-compatible backend or llama-server"
    )
