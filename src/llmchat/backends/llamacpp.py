"""llama.cpp's `llama-server`: the OpenAI-compatible stream plus what only it can tell.

Besides `/v1/chat/completions` (503 while the model loads) it uses `/props` (the
per-slot context size), `/apply-template` + `/tokenize` (the exact prompt the model
sees, counted by its own tokenizer) and `/slots` (is a slot busy).
The final chunk's `timings` (prefill, decode, KV-cache reuse) come through the shared
reader as `ServerTimings`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from llmchat.backends.base import BackendError, Capabilities
from llmchat.backends.endpoints import root_of
from llmchat.backends.llamacpp_completion import CompletionReader
from llmchat.backends.openai import ERROR_BODY_LIMIT, OpenAIBackend, encode_body, read_text
from llmchat.core.context import ContextWindow, TokenCount
from llmchat.core.events import ChatError, ErrorKind, Failed, StreamEvent
from llmchat.core.params import SamplingParams
from llmchat.core.probability_pool import ServerCuts
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.structured import OutputSchema

PROPS_RETRY_S = 60.0
"""After `/props` failed, how long requests go without asking it again."""


@dataclass(frozen=True, slots=True)
class ServerProps:
    """What llmchat reads of llama-server's `/props`."""

    n_ctx: int | None
    """Context size of one slot, in tokens."""
    vision: bool | None = None
    """`modalities.vision`: started with a multimodal projector (`--mmproj`)."""
    cuts: ServerCuts = field(default_factory=ServerCuts)
    """The top-k and min-p it uses when a request names none."""


class LlamaCppBackend(OpenAIBackend):
    """A llama-server: the chat stream, exact prompt counts and the real context size."""

    capabilities = Capabilities(
        counts_exactly=True,
        tells_window=True,
        reports_timings=True,
        lists_models=True,
        logprobs=True,
        continues_text=True,
        free=True,
    )

    def __init__(self, name: str, base_url: str, model: str, api_key: str | None = None, **kw: Any):
        extra = {"cache_prompt": True, **dict(kw.pop("extra_body", None) or {})}
        super().__init__(name, base_url, model, api_key, extra_body=extra, **kw)
        self.root_url = root_of(self.base_url)
        self._props: ServerProps | None = None
        self._props_failed_at: float | None = None

    @classmethod
    def taking_over(cls, plain: OpenAIBackend) -> LlamaCppBackend:
        """The llama.cpp backend for a server first reached as a plain OpenAI-compatible
        one (see `discovery`): same settings, and the HTTP client moves over."""
        upgraded = cls(
            plain.name,
            plain.base_url,
            plain.model,
            plain._api_key,
            api_key_hint=plain.api_key_hint,
            max_tokens_field=plain.max_tokens_field,
            connect_timeout=plain.timeout.connect or 5.0,
            read_timeout=plain.read_timeout,
            first_token_timeout=plain.first_token_timeout,
            idle_timeout=plain.idle_timeout,
            limits=plain.limits,
            extra_body=plain.extra_body,
            stop=plain.stop,
            client=plain.client,
            rules=plain.rules,
            vision=plain.vision,
        )
        upgraded._owns_client, plain._owns_client = plain._owns_client, False
        upgraded._model_checked = plain._model_checked
        return upgraded

    async def _get_json(self, path: str) -> Any:
        return await self._call("GET", path, None)

    async def _post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        return await self._call("POST", path, body)

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None) -> Any:
        """The JSON answer of one of llama-server's own routes, within the discovery
        deadline (`OpenAIBackend._fetch`); raises `BackendError` on any failure."""
        text = await self._ask(method, self.root_url, path, body)
        try:
            return json.loads(text)
        except ValueError as exc:
            error = ChatError(ErrorKind.PROTOCOL, f"{path} did not answer JSON", status=200)
            raise BackendError(self._scrubbed(error)) from exc

    async def props(self) -> ServerProps:
        """What `/props` says, asked once."""
        if self._props is None:
            data = await self._get_json("/props")
            settings = data.get("default_generation_settings") if isinstance(data, dict) else None
            n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
            modalities = data.get("modalities") if isinstance(data, dict) else None
            vision = modalities.get("vision") if isinstance(modalities, dict) else None
            params = settings.get("params") if isinstance(settings, dict) else None
            self._props = ServerProps(
                n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None,
                vision if isinstance(vision, bool) else None,
                _cuts(params) if isinstance(params, dict) else ServerCuts(),
            )
        return self._props

    async def sampler_cuts(self) -> ServerCuts:
        return (await self.props()).cuts

    def request_body(self, request: ChatRequest, *, include_usage: bool = True) -> dict[str, Any]:
        """The chat body with top-k and min-p always named: the user's, else the
        server's own defaults, so the probability view shows what the server does."""
        body = super().request_body(request, include_usage=include_usage)
        body.update(self._cut_fields(request.params))
        return body

    def _cut_fields(self, params: SamplingParams) -> dict[str, Any]:
        """top-k and min-p as set, else the server's defaults; when `/props` did not
        answer those are unknown, and only what the user set is named."""
        defaults = self._props.cuts if self._props is not None else None
        top_k = params.top_k if params.top_k is not None else defaults and defaults.top_k
        min_p = params.min_p if params.min_p is not None else defaults and defaults.min_p
        named = {"top_k": top_k, "min_p": min_p}
        return {name: value for name, value in named.items() if value is not None}

    async def _props_if_due(self) -> None:
        """Read `/props` before a request, unless it failed a moment ago: a server that
        does not answer it must not cost every turn a wait."""
        if self._props is not None:
            return
        now = time.monotonic()
        if self._props_failed_at is not None and now - self._props_failed_at < PROPS_RETRY_S:
            return
        try:
            await self.props()
        except BackendError:
            self._props_failed_at = now

    async def _before_request(self) -> None:
        # The body names the server's top-k and min-p (`request_body`): read them first,
        # for `stream` and `prepared` alike.
        await self._props_if_due()

    async def continue_reply(
        self,
        messages: Sequence[WireMessage],
        start: str,
        params: SamplingParams,
        *,
        probabilities: int = 0,
        schema: OutputSchema | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The model's reply to `messages` continued from `start`: a raw `/completion`
        of the chat's templated prompt followed by `start`, with the chat's sampling and
        stop strings. Its text is what comes after `start`."""
        await self._props_if_due()
        try:
            prompt = await self.apply_template(messages)
        except BackendError as exc:
            yield self._failed(exc.error)
            return
        params = params.in_range()
        body: dict[str, Any] = {
            "prompt": prompt + start,
            "stream": True,
            "n_predict": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            **self._cut_fields(params),
            "cache_prompt": True,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if self.stop:
            body["stop"] = list(self.stop)
        if probabilities:
            body["n_probs"] = probabilities
        if schema is not None:  # schema mode: the continuation is held to it too
            body["json_schema"] = schema.schema
        url = f"{self.root_url}/completion"
        async with aclosing(self._raw_stream(url, body, params)) as events:
            async for event in events:
                yield event

    async def context_window(self) -> ContextWindow | None:
        try:
            props = await self.props()
        except BackendError:
            return None
        return ContextWindow(props.n_ctx, "server") if props.n_ctx else None

    async def image_refusal(self) -> str | None:
        if self.vision is not None:
            return await super().image_refusal()
        try:
            props = await self.props()
        except BackendError:
            return None
        if props.vision is False:
            return (
                f"{self.name}'s llama-server was started without a multimodal projector "
                "(--mmproj), so its model cannot see images"
            )
        return None

    async def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        data = await self._post_json("/tokenize", {"content": text, "add_special": add_special})
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list):
            raise BackendError(ChatError(ErrorKind.PROTOCOL, "/tokenize gave no token list"))
        # Ids, or {"id", "piece"} objects when pieces were asked for; anything else is
        # not a token list.
        ids: list[int] = []
        for token in tokens:
            found = token.get("id") if isinstance(token, dict) else token
            if not isinstance(found, int) or isinstance(found, bool):
                raise BackendError(ChatError(ErrorKind.PROTOCOL, "/tokenize gave no token ids"))
            ids.append(found)
        return ids

    async def token_pieces(self, text: str) -> list[str]:
        """`/tokenize` with `with_pieces`: each token's text (or its bytes, for a token
        that is part of a character)."""
        body = {"content": text, "add_special": False, "with_pieces": True}
        data = await self._post_json("/tokenize", body)
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list):
            raise BackendError(ChatError(ErrorKind.PROTOCOL, "/tokenize gave no token list"))
        pieces: list[str] = []
        for token in tokens:
            piece = token.get("piece") if isinstance(token, dict) else None
            if isinstance(piece, list):  # bytes of a partial character
                piece = bytes(b for b in piece if isinstance(b, int) and 0 <= b < 256).decode(
                    "utf-8", "replace"
                )
            if not isinstance(piece, str):
                raise BackendError(ChatError(ErrorKind.PROTOCOL, "/tokenize gave no pieces"))
            pieces.append(piece)
        return pieces

    async def apply_template(self, messages: Sequence[WireMessage]) -> str:
        body = {"messages": [{"role": m.role, "content": m.content} for m in messages]}
        data = await self._post_json("/apply-template", body)
        prompt = data.get("prompt") if isinstance(data, dict) else None
        if not isinstance(prompt, str):
            raise BackendError(ChatError(ErrorKind.PROTOCOL, "/apply-template gave no prompt"))
        return prompt

    async def count_prompt(self, messages: Sequence[WireMessage]) -> TokenCount:
        """Exactly the prompt tokens the server will process for these messages."""
        prompt = await self.apply_template(messages)
        return TokenCount(len(await self.tokenize(prompt, add_special=True)), exact=True)

    async def count_text(self, text: str) -> int:
        """Tokens of a bare text (no template, no special tokens), e.g. the draft."""
        return len(await self.tokenize(text, add_special=False))

    async def _raw_stream(
        self, url: str, body: dict[str, Any], params: SamplingParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """One `/completion` stream, sent and read as the chat stream is (no resend: it
        has no dials for a server to refuse)."""
        content = encode_body(body)
        headers = self._stream_headers()
        yield self._sent("POST", url, content, headers)
        deadline = asyncio.get_running_loop().time() + self.first_token_timeout
        try:
            response = await self._post_streaming(url, content, headers, deadline)
            if isinstance(response, Failed):
                yield response
                return
            try:
                if response.status_code != 200:
                    text = await read_text(response, ERROR_BODY_LIMIT)
                    yield self._failed(self._http_error(response, text, url))
                    return
                reader = CompletionReader(self.name, self._mask)
                reader.asked = body.get("n_probs", 0)
                relay = self._relay(response, url, self.model, params.max_tokens, deadline, reader)
                async with aclosing(relay) as events:
                    async for event in events:
                        yield event
            finally:
                await response.aclose()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            yield self._failed(self._transport_error(exc, url))

    async def slots(self) -> list[dict[str, Any]]:
        data = await self._get_json("/slots")
        return [s for s in data if isinstance(s, dict)] if isinstance(data, list) else []


def _cuts(params: dict[str, Any]) -> ServerCuts:
    """`/props`' top-k and min-p, where they are sane; llama.cpp's defaults otherwise."""
    top_k, min_p = params.get("top_k"), params.get("min_p")
    default = ServerCuts()
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 0 <= top_k <= 1000:
        top_k = default.top_k
    if isinstance(min_p, bool) or not isinstance(min_p, int | float) or not 0 <= min_p <= 1:
        min_p = default.min_p
    return ServerCuts(top_k, round(float(min_p), 4))
