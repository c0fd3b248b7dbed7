"""The OpenAI-compatible Chat Completions backend (OpenAI, llama-server, vLLM, OpenRouter…).

Owns the wire exchange for one turn: the request body (every sampling dial sent
explicitly, because server defaults differ), the streamed reply read through the SSE
decoder, and the translation of every fault into exactly one `Failed` event. How a
failure is classified lives in `errors.py`; what to do about it (retry, fallback) is the
gateway's business.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing, suppress
from dataclasses import replace
from typing import Any, Literal

import httpx

from llmchat import __version__
from llmchat.backends.base import BackendError, Capabilities
from llmchat.backends.body import ACCEPT_ENCODING, BodyDecodeError, decoded_pieces
from llmchat.backends.endpoints import endpoint, root_of
from llmchat.backends.errors import error_object, excerpt, http_error
from llmchat.backends.model_list import ModelPages, read_page
from llmchat.backends.openai_reply import ReplyReader
from llmchat.backends.sse import SSEDecoder, SSEError
from llmchat.backends.stream_sample import StreamSample
from llmchat.core.context import ContextWindow, TokenCount
from llmchat.core.events import (
    ChatError,
    Delta,
    DialsFitted,
    ErrorKind,
    Failed,
    Reasoning,
    RequestSent,
    Started,
    StreamEvent,
)
from llmchat.core.limits import ReplyLimits, wire_cut_reason
from llmchat.core.model_rules import Fitted, ModelRules, Protocol, changes_body, fit, refusal_in
from llmchat.core.params import SamplingParams
from llmchat.core.probability_pool import ServerCuts
from llmchat.core.request import SERVER_DEFAULT_MODEL, ChatRequest, WireMessage
from llmchat.core.request_view import key_variable
from llmchat.core.safe_text import one_line
from llmchat.core.secrets import MASK, SecretMask, shown_url, url_secrets, url_without_secrets
from llmchat.core.structured import OutputSchema

MaxTokensField = Literal["max_tokens", "max_completion_tokens"]

KEY_HEADERS = frozenset({"authorization", "x-api-key"})
"""The headers that carry the key (lower case): the only ones shown with it replaced."""
ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of a non-stream body read for an error message; the rest is never downloaded."""
ANSWER_BODY_LIMIT = 16 * 1024 * 1024
"""Bytes read of an answer about the server (a model list, a token list, a templated
prompt as long as the conversation); a longer one is cut, and then not valid JSON."""
FIRST_TOKEN_TIMEOUT = 600.0
"""Seconds from sending a request to its first token, response headers included, however
the server trickles bytes meanwhile (the read timeout restarts with every byte, so a
server sending one header byte a second would otherwise hold a turn forever). Long,
because llama-server sends its headers only after a prefill that can take minutes."""
DISCOVERY_TIMEOUT = 10.0
"""Seconds for a whole answer to a question about the server (`GET /models`, and
llama-server's `/props`, `/tokenize`, `/apply-template`), however slowly it trickles
in; the first-token deadline instead when that is shorter. Short, because answering
needs no generation, and a send waits for the first of them (the model's name)."""


class OpenAIBackend:
    """A Chat Completions endpoint and model. One `httpx.AsyncClient`, created once."""

    chat_route = "/chat/completions"
    """Where a turn is posted, under the base URL."""
    protocol: Protocol = "openai"
    """The wire protocol, for the model rules (Anthropic's temperature runs 0–1)."""
    capabilities = Capabilities(lists_models=True, logprobs=True, image_formula="openai")
    """A server known only as OpenAI-compatible: its counts are estimated here, its
    window comes from the config or the model table."""
    models_page_size: int | None = None
    """The `limit` asked of `GET /models`; None asks for the server's own page."""
    models_cursor = "after"
    """The query parameter asking a paged model list for the page after a cursor."""

    def __init__(
        self,
        name: str,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        api_key_hint: str | None = None,
        max_tokens_field: MaxTokensField = "max_tokens",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        first_token_timeout: float = FIRST_TOKEN_TIMEOUT,
        idle_timeout: float | None = None,
        limits: ReplyLimits | None = None,
        extra_body: Mapping[str, Any] | None = None,
        stop: Sequence[str] = (),
        client: httpx.AsyncClient | None = None,
        rules: ModelRules | None = None,
        vision: bool | None = None,
    ) -> None:
        """`api_key_hint` names where the key comes from (e.g. "OPENAI_API_KEY"), so an
        auth error can say what to check. `read_timeout` is the socket's inactivity
        limit, the longest wait for the next bytes; `first_token_timeout` the longest wait
        for the headers and first token together; `idle_timeout` the longest silence
        between chunks after the first token (None: `read_timeout`), which ends the
        reply as stalled, its text kept. `limits` caps each reply's bytes on the wire
        (see `core.limits`). `extra_body` adds server-specific fields
        (`top_k`, `cache_prompt`, …) but never overrides the sampling params. `stop`
        strings go out in every request's `stop` field (a model file's template may need
        them to end a reply). A `client` passed in is shared and left open by `aclose()`."""
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError(
                f"max_tokens_field must be max_tokens or max_completion_tokens, "
                f"not {max_tokens_field!r}"
            )
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key or None
        # The key and any secret in the URL: masked in every message that leaves here.
        self._mask = SecretMask.of([self._api_key, *url_secrets(self.base_url)])
        self.api_key_hint = api_key_hint
        self.max_tokens_field: MaxTokensField = max_tokens_field
        self.read_timeout = read_timeout
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = read_timeout if idle_timeout is None else idle_timeout
        self.discovery_timeout = min(DISCOVERY_TIMEOUT, first_token_timeout)
        self.limits = limits or ReplyLimits()
        self.timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self.extra_body = dict(extra_body or {})
        self._without_probabilities: set[str] = set()
        """Models that refused `logprobs` with a 400: asked without them since."""
        self.stop = tuple(stop)
        self._client = client
        self._owns_client = client is None
        self._model_checked = False
        self.rules = rules or ModelRules()
        """Which dials each model accepts (the table, and what servers taught)."""
        self.vision = vision
        """`vision` from the config: the model takes images (or not); None: unknown."""

    def __repr__(self) -> str:  # the key stays out of reprs, logs and tracebacks
        return (
            f"OpenAIBackend(name={self.name!r}, base_url={shown_url(self.base_url)!r}, "
            f"model={self.model!r})"
        )

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client, created on first use. Touch it early (after the first frame)
        to pay for the SSL context before the user's first send, not during it."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
            self._owns_client = True
        return self._client

    async def serves_llamacpp(self) -> bool:
        """Whether the server is llama-server (its `/props` has default_generation_settings).
        The probe carries no key.

        Raises `BackendError` when nothing answers at all (CONNECT: that is not "some other
        server", and the caller asks again once it is up) or not within the discovery
        deadline (DEADLINE).
        """
        try:
            response, text = await self._fetch(
                "GET", root_of(self.base_url), "/props", headers=self._headers(with_key=False)
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise BackendError(self._scrubbed(self._transport_error(exc, self.base_url))) from exc
        except (httpx.HTTPError, httpx.InvalidURL):
            return False
        try:
            data = json.loads(text) if response.status_code == 200 else None
        except ValueError:
            return False
        return isinstance(data, dict) and isinstance(data.get("default_generation_settings"), dict)

    def prepare(self) -> None:
        """Build the HTTP client now; safe to call from a thread after the first frame."""
        _ = self.client

    async def _model_for(self, request: ChatRequest) -> str:
        """The model to ask for: the request's, else this backend's (see below)."""
        model = request.model or self.model
        if model != SERVER_DEFAULT_MODEL:
            return model
        with suppress(BackendError):  # unreachable: the request will say so
            await self.resolve_default_model()
        return self.model

    async def resolve_default_model(self) -> None:
        """With no model configured, use the server's only (or first) model.

        vLLM and friends refuse an unknown model name, so "default" is replaced by what
        `GET /models` lists; servers that list nothing (or refuse to) keep "default",
        which llama-server and most single-model servers accept. Asked once the server
        has answered; a server that cannot be reached, or does not answer in time, is
        asked again next time (raises `BackendError`, kind CONNECT or DEADLINE).
        """
        if self.model != SERVER_DEFAULT_MODEL or self._model_checked:
            return
        try:
            listed = await self.list_models()
        except BackendError as exc:
            if exc.error.kind in (ErrorKind.CONNECT, ErrorKind.DEADLINE):
                raise
            listed = []
        self._model_checked = True
        if listed:
            self.model = listed[0]

    async def aclose(self) -> None:
        """Close the client if this backend created it. A later request makes a new one."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    # -- the request -------------------------------------------------------------------

    def request_body(self, request: ChatRequest, *, include_usage: bool = True) -> dict[str, Any]:
        """The JSON body for `request`. `stream` encodes it with `encode_body` and reports
        the bytes it sends as `RequestSent`."""
        params = request.params
        body: dict[str, Any] = dict(self.extra_body)
        body.update(
            model=request.model or self.model,
            messages=[chat_message(m) for m in request.messages],
            stream=True,
            temperature=params.temperature,
            top_p=params.top_p,
        )
        body.pop("max_tokens", None)
        body.pop("max_completion_tokens", None)
        body[self.max_tokens_field] = params.max_tokens
        if params.seed is not None:
            body["seed"] = params.seed
        else:
            body.pop("seed", None)
        if self.stop:
            body["stop"] = list(self.stop)
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream_options", None)
        if request.schema is not None:
            body["response_format"] = self.response_format(request.schema)
        if request.probabilities:
            body["logprobs"] = True
            body["top_logprobs"] = request.probabilities
        return body

    def response_format(self, schema: OutputSchema) -> dict[str, Any]:
        """The nested json_schema form (llama.cpp reads the flat one as an empty schema);
        strict where the schema allows it, which OpenAI then enforces exactly."""
        form: dict[str, Any] = {"name": schema.name, "schema": schema.schema}
        if schema.strict_ok:
            form["strict"] = True
        return {"type": "json_schema", "json_schema": form}

    def _headers(
        self, accept: str = "application/json", *, with_key: bool = True
    ) -> dict[str, str]:
        headers = {
            "Accept": accept,
            "Accept-Encoding": ACCEPT_ENCODING,  # what `body.decoded_pieces` reads
            "User-Agent": f"llmchat/{__version__}",
        }
        if self._api_key and with_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    # -- the stream --------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """Send one turn; yield `Started`, the reply, then one `Finished` or `Failed`.

        Never raises for server or network faults. Closing the iterator early closes the
        HTTP response, so the server stops generating.
        """
        url = endpoint(self.base_url, self.chat_route)
        model, request, fitted = await self._to_send(request)
        warnings = self.rules.take_warnings()
        if fitted.params != request.params or fitted.notes or warnings:
            yield DialsFitted(model, fitted.params, (*warnings, *fitted.notes))
        # Sent again only with a body the server's 400 asked for: without stream_options
        # (usage is then estimated downstream), or without a dial the model refuses
        # (learnt for next time); every other answer ends the stream.
        include_usage = True
        while True:
            body, content = self._encoded(request, fitted, include_usage=include_usage)
            headers = self._stream_headers()
            yield self._sent("POST", url, content, headers)
            # One deadline for the headers and the first token, from the moment of sending.
            deadline = asyncio.get_running_loop().time() + self.first_token_timeout
            try:
                response = await self._post_streaming(url, content, headers, deadline)
                if isinstance(response, Failed):
                    yield response
                    return
                try:
                    if response.status_code != 200:
                        text = await read_text(response, ERROR_BODY_LIMIT)
                        if include_usage and _rejects_stream_options(response.status_code, text):
                            include_usage = False
                            continue
                        if request.probabilities and _rejects_logprobs(response.status_code, text):
                            # Reasoning models refuse them: once without, remembered.
                            self._without_probabilities.add(model)
                            request = replace(request, probabilities=0)
                            yield DialsFitted(model, fitted.params, (_no_logprobs(model),))
                            continue
                        refitted = self._refit(
                            model, request, fitted, body, response.status_code, text
                        )
                        if refitted is not None:
                            fitted = refitted
                            yield DialsFitted(model, fitted.params, fitted.notes, learnt=True)
                            continue
                        yield self._failed(self._http_error(response, text, url))
                        return
                    reader = self._reply_reader()
                    reader.asked = body.get("top_logprobs", 0) if body.get("logprobs") else 0
                    max_tokens = request.params.max_tokens
                    relay = self._relay(response, url, model, max_tokens, deadline, reader)
                    async with aclosing(relay) as events:
                        async for event in events:
                            yield event
                    return
                finally:
                    # Closing the response (also on cancel, or at a cap) stops the server.
                    await response.aclose()
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                yield self._failed(self._transport_error(exc, url))
                return

    async def prepared(self, request: ChatRequest) -> RequestSent:
        """What `stream` would send first for `request` now, without sending it: the
        body encoded by the same code, the headers with the key shown as its variable.
        (A body the server then refuses is adjusted and sent again: only `stream` knows.)"""
        _, request, fitted = await self._to_send(request)
        _, content = self._encoded(request, fitted)
        url = endpoint(self.base_url, self.chat_route)
        return self._sent("POST", url, content, self._stream_headers())

    async def _to_send(self, request: ChatRequest) -> tuple[str, ChatRequest, Fitted]:
        """The model, the request and its fitted dials as `stream` first sends them (and
        `prepared` shows them): what the server said of the model is remembered (no
        probabilities asked of one that refused them)."""
        await self._before_request()
        model = await self._model_for(request)
        request = replace(request, model=model)
        if model in self._without_probabilities:
            request = replace(request, probabilities=0)
        return model, request, self._fitted(request, model)

    def _encoded(
        self, request: ChatRequest, fitted: Fitted, *, include_usage: bool = True
    ) -> tuple[dict[str, Any], bytes]:
        """The body for `request` with its `fitted` dials, and its bytes on the wire."""
        body = self.request_body(
            replace(request, params=fitted.params), include_usage=include_usage
        )
        return body, encode_body(fitted.shape(body))

    async def _before_request(self) -> None:
        """What a server needs asked before its body can be built (llama-server: its
        sampler defaults); nothing here."""

    def _fitted(self, request: ChatRequest, model: str) -> Fitted:
        """The request's dials fitted to what `model` accepts (the rules table)."""
        rule = self.rules.rule_for(model, self.protocol)
        return fit(request.params, rule, model, request.last_dial)

    def _stream_headers(self) -> dict[str, str]:
        return {**self._headers("text/event-stream"), "Content-Type": "application/json"}

    async def _post_streaming(
        self, url: str, content: bytes, headers: dict[str, str], deadline: float
    ) -> httpx.Response | Failed:
        """The streaming POST's response (the caller closes it), or `Failed` when no
        headers came by `deadline`. Transport errors are raised (httpx's)."""
        outgoing = self.client.build_request(
            "POST", url, content=content, headers=headers, timeout=self.timeout
        )
        try:
            async with asyncio.timeout_at(deadline):
                return await self.client.send(outgoing, stream=True)
        except TimeoutError:
            return self._failed(self._deadline_error("no response headers"))

    async def _relay(
        self,
        response: httpx.Response,
        url: str,
        model: str,
        max_tokens: int,
        deadline: float,
        reader: ReplyReader,
    ) -> AsyncGenerator[StreamEvent, None]:
        """A 200 answer's events: refused if it is not an event stream, else `Started`,
        the reply as `reader` reads it, and one final event."""
        if not _is_event_stream(response):
            text = await read_text(response, ERROR_BODY_LIMIT)
            yield self._failed(self._not_a_stream(response, text, url))
            return
        yield Started(backend=self.name, model=model)
        reading = self._read_reply(response, max_tokens, deadline, reader)
        async with aclosing(reading) as events:
            async for event in events:
                yield self._failed(event.error) if isinstance(event, Failed) else event

    def _refit(
        self,
        model: str,
        request: ChatRequest,
        fitted: Fitted,
        body: dict[str, Any],
        status: int,
        text: str,
    ) -> Fitted | None:
        """The dials fitted again after a 400 refusing one (learnt for `model`), or None
        when the error refuses nothing this body sent (it is then the turn's failure)."""
        refusal = refusal_in(error_object(text)) if status in (400, 422) else None
        if refusal is None:
            return None
        rule = self.rules.rule_for(model, self.protocol).merged(refusal.rule)
        if self.protocol == "anthropic":
            rule = replace(rule, max_tokens_field=None)
        again = fit(request.params, rule, model, request.last_dial)
        if not changes_body(fitted, again, body):
            return None
        kept = self.rules.learn(model, refusal)
        notes = tuple(f"{note} ({kept})" for note in again.notes if note not in fitted.notes)
        return replace(again, notes=notes or (refusal.note(model, kept),))

    def _reply_reader(self) -> ReplyReader:
        """The reader that folds this protocol's stream events into core events."""
        return ReplyReader(self.name, self._mask)

    async def _read_reply(
        self,
        response: httpx.Response,
        max_tokens: int,
        deadline: float,
        reply: ReplyReader | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The events of a 200 event stream, ending with exactly one Finished or Failed.

        The body is read in small decoded pieces, yielding to the event loop after each,
        so a cancel (Esc) wins at once whatever the server sends; its decoded bytes,
        comments and keep-alives included, are capped (`ReplyLimits.wire_bytes`); until
        the first token, `deadline` holds however slowly bytes trickle in; after it, a
        silence of `idle_timeout` ends the reply as stalled, its text kept.
        """
        reply = reply or self._reply_reader()
        decoder = SSEDecoder()
        sample = StreamSample()  # the first and last few events, for the inspector
        cap = self.limits.wire_bytes(max_tokens)
        received = 0
        waiting = True  # for the first token
        pieces = decoded_pieces(response)
        try:
            while True:
                try:
                    if waiting:
                        async with asyncio.timeout_at(deadline):
                            piece = await anext(pieces)
                    else:
                        try:
                            async with asyncio.timeout(self.idle_timeout):
                                piece = await anext(pieces)
                        except TimeoutError:
                            reply.fail(ErrorKind.TIMEOUT, self._stalled_message())
                            break
                except StopAsyncIteration:
                    for sse in decoder.finish():
                        sample.keep(sse)
                        for event in reply.take(sse):
                            yield event
                    break
                received += len(piece)
                if received > cap:
                    reply.fail(ErrorKind.INCOMPLETE, wire_cut_reason(cap, max_tokens))
                    break
                reply.note_bytes(piece)
                for sse in decoder.feed(piece):
                    sample.keep(sse)
                    for event in reply.take(sse):
                        if isinstance(event, Delta | Reasoning):
                            waiting = False
                        yield event
                    if reply.ended:
                        break
                if reply.ended:
                    break
                await asyncio.sleep(0)  # let a cancel, a key, a frame in between pieces
        except TimeoutError:
            reply.fail(ErrorKind.DEADLINE, self._deadline_message("no first token"))
        except SSEError as exc:
            reply.fail(ErrorKind.PROTOCOL, f"{exc}; this is not a chat stream")
        except httpx.TimeoutException:
            reply.fail(ErrorKind.TIMEOUT, f"no data from the server for {self.read_timeout:g} s")
        except (httpx.DecodingError, BodyDecodeError) as exc:
            detail = one_line(self._mask(str(exc)), 120)
            reply.fail(ErrorKind.PROTOCOL, f"the stream could not be decoded ({detail})")
        except httpx.TransportError as exc:
            # The connection died mid-reply: what arrived is kept, marked incomplete.
            detail = one_line(self._mask(str(exc)), 120) or type(exc).__name__
            reply.fail(ErrorKind.INCOMPLETE, f"the connection was lost mid-reply ({detail})")
        finally:
            await pieces.aclose()
        yield sample.events(self._mask)
        for event in reply.outcome():
            yield event

    def _sent(
        self, method: str, url: str, content: bytes, headers: Mapping[str, str]
    ) -> RequestSent:
        """What a view may show of a request: the body as sent; the headers with the key
        written as the variable it comes from (`$OPENAI_API_KEY`); the URL without
        user:password or token-like query values. The key is not in the body unless
        someone put it there, and then it is hidden too."""
        body = content.decode("utf-8")
        return RequestSent(
            method,
            self._without_key(url_without_secrets(url)),
            self._without_key(body),
            self._shown_headers(headers),
            self.protocol,
            self.name,
        )

    def _shown_headers(self, headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        # A key from the config file (or from nobody knows where) is shown masked.
        variable = key_variable(self.api_key_hint)
        stand_in = f"${variable}" if variable else MASK
        shown = []
        for name, value in headers.items():
            # Only where the key goes: a short key ("json") may be part of any other value.
            if self._api_key and name.lower() in KEY_HEADERS:
                value = value.replace(self._api_key, stand_in)
                shown.append((name, self._mask(value)))
            else:
                shown.append((name, value))
        return tuple(shown)

    # -- errors ------------------------------------------------------------------------

    def _failed(self, error: ChatError) -> Failed:
        return Failed(self._scrubbed(error))

    def _scrubbed(self, error: ChatError) -> ChatError:
        """The one place errors leave the backend: any run of the key (a server may echo
        it back) or of a secret in the URL is masked, and the backend is named. Server
        text is masked once more where it is cut (`errors.py`), before the cut."""
        return replace(error, message=self._mask(error.message), backend=self.name)

    def _without_key(self, text: str) -> str:
        return self._mask(text)

    def _key_hint(self) -> str:
        if self._api_key is None:
            return (
                f"no API key was sent; set {self.api_key_hint}"
                if self.api_key_hint
                else f"no API key is configured for backend {self.name}"
            )
        return (
            f"check {self.api_key_hint}"
            if self.api_key_hint
            else f"check the API key configured for backend {self.name}"
        )

    def _http_error(self, response: httpx.Response, text: str, url: str) -> ChatError:
        return http_error(
            response.status_code,
            response.headers,
            text,
            backend=self.name,
            url=url,
            key_hint=self._key_hint(),
            mask=self._mask,
        )

    def _not_a_stream(self, response: httpx.Response, text: str, url: str) -> ChatError:
        error = error_object(text)
        code = error.get("code") if error else None
        if isinstance(code, int) and 400 <= code < 600:
            # An error wrapped in a 200 (some proxies): classify it by the code inside.
            return http_error(
                code,
                response.headers,
                text,
                backend=self.name,
                url=url,
                key_hint=self._key_hint(),
                mask=self._mask,
            )
        kind = response.headers.get("content-type") or "no content type"
        return ChatError(
            ErrorKind.PROTOCOL,
            f"expected an event stream, got {one_line(kind, 60)}: {excerpt(text, self._mask)}",
            status=response.status_code,
        )

    def _deadline_message(self, what: str) -> str:
        where = one_line(self._mask(shown_url(self.base_url)), 100)
        return (
            f"{what} from {where} within {self.first_token_timeout:g} s "
            "(the deadline for the headers and first token)"
        )

    def _stalled_message(self) -> str:
        name = one_line(self.name, 60)
        return f"no data from {name} for {self.idle_timeout:g} s: the stream stalled"

    def _deadline_error(self, what: str) -> ChatError:
        return ChatError(ErrorKind.DEADLINE, self._deadline_message(what))

    def _discovery_deadline(self, method: str, base: str, route: str) -> ChatError:
        where = one_line(self._mask(shown_url(base)), 100)
        return ChatError(
            ErrorKind.DEADLINE,
            f"no answer to {method} {route} from {where} within {self.discovery_timeout:g} s "
            "(the deadline for questions about the server)",
        )

    def _transport_error(self, exc: Exception, url: str) -> ChatError:
        # httpx may quote the URL, user:password and all: masked before it is cut.
        detail = one_line(self._mask(str(exc)), 120) or type(exc).__name__
        where = one_line(self._mask(shown_url(self.base_url)), 100)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ChatError(ErrorKind.BAD_REQUEST, f"invalid base_url {where} ({detail})")
        if isinstance(exc, httpx.ConnectTimeout):
            return ChatError(ErrorKind.CONNECT, f"timed out connecting to {where}")
        if isinstance(exc, httpx.TimeoutException):
            return ChatError(
                ErrorKind.TIMEOUT, f"no answer from {where} for {self.read_timeout:g} s"
            )
        return ChatError(ErrorKind.CONNECT, f"cannot connect to {where} ({detail})")

    # -- questions about the server ----------------------------------------------------

    async def _fetch(
        self,
        method: str,
        base: str,
        route: str,
        *,
        headers: Mapping[str, str],
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        limit: int = ANSWER_BODY_LIMIT,
    ) -> tuple[httpx.Response, str]:
        """`method` `route` under `base`: the (closed) response and at most `limit` bytes of
        its body, all within `discovery_timeout` however slowly they come. `params` join
        the query the base URL may carry.

        Raises `BackendError` (DEADLINE) past it; transport errors pass through as httpx's.
        """
        url = endpoint(base, route)
        if params:  # merged by hand: httpx's `params=` would replace the base URL's query
            url = str(httpx.URL(url).copy_merge_params(params))
        content = None if body is None else encode_body(body)
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            async with asyncio.timeout(self.discovery_timeout):
                async with self.client.stream(
                    method, url, content=content, headers=headers, timeout=self.timeout
                ) as response:
                    return response, await read_text(response, limit)
        except TimeoutError as exc:
            raise BackendError(
                self._scrubbed(self._discovery_deadline(method, base, route))
            ) from exc

    async def _ask(
        self,
        method: str,
        base: str,
        route: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """The body of a 200 answer to a question about the server (see `_fetch`).

        Raises `BackendError` on any failure: a one-shot call, not a stream.
        """
        url = endpoint(base, route)
        try:
            response, text = await self._fetch(
                method, base, route, headers=self._headers(), body=body, params=params
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise BackendError(self._scrubbed(self._transport_error(exc, url))) from exc
        if response.status_code != 200:
            raise BackendError(self._scrubbed(self._http_error(response, text, url)))
        return text

    async def list_models(self) -> list[str]:
        """Model ids the server offers (`GET /models`), exactly as listed: they are sent
        back and stored as they are, so show them only through `safe_text.one_line`.

        A paged list (`has_more`, `last_id`) is followed page by page, within one
        `discovery_timeout` for the whole listing and at most `model_list.MAX_PAGES`
        pages. Raises `BackendError` on any failure (DEADLINE past the deadline).
        """
        pages = ModelPages()
        params = {} if self.models_page_size is None else {"limit": str(self.models_page_size)}
        try:
            async with asyncio.timeout(self.discovery_timeout):
                while True:
                    text = await self._ask("GET", self.base_url, "/models", params=params)
                    page = read_page(text)
                    if page is None:
                        error = ChatError(
                            ErrorKind.PROTOCOL,
                            f"not a model list: {excerpt(text, self._mask)}",
                            status=200,
                        )
                        raise BackendError(self._scrubbed(error))
                    cursor = pages.take(page)
                    if cursor is None:
                        break
                    params = {**params, self.models_cursor: cursor}
        except TimeoutError as exc:
            error = self._discovery_deadline("GET", self.base_url, "/models")
            raise BackendError(self._scrubbed(error)) from exc
        return sorted(pages.ids)

    # -- what this kind cannot do (see `capabilities`; the gateway does not ask) ---------

    async def count_prompt(self, messages: Sequence[WireMessage]) -> TokenCount:
        raise BackendError(self._cannot("count tokens"))

    async def count_text(self, text: str) -> int:
        raise BackendError(self._cannot("count tokens"))

    async def context_window(self) -> ContextWindow | None:
        return None

    async def token_pieces(self, text: str) -> list[str]:
        raise BackendError(self._cannot("show its tokens"))

    async def sampler_cuts(self) -> ServerCuts:
        raise BackendError(self._cannot("cut with top-k and min-p"))

    async def continue_reply(
        self,
        messages: Sequence[WireMessage],
        start: str,
        params: SamplingParams,
        *,
        probabilities: int = 0,
        schema: OutputSchema | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        yield self._failed(self._cannot("continue a text from a chosen token"))

    async def image_refusal(self) -> str | None:
        if self.vision is False:
            return f"{self.name} is set not to take images (vision = false in its table)"
        return None

    def _cannot(self, what: str) -> ChatError:
        return ChatError(ErrorKind.BAD_REQUEST, f"{self.name} cannot {what}")


def chat_message(message: WireMessage) -> dict[str, Any]:
    """A message as Chat Completions takes it: its text, or, with images, content parts
    (the text, then each image as a data URL)."""
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    parts += [
        {"type": "image_url", "image_url": {"url": f"data:{i.media_type};base64,{i.base64()}"}}
        for i in message.images
    ]
    return {"role": message.role, "content": parts}


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The bytes of a JSON body, as httpx's `json=` would encode them (compact, UTF-8)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (a model sent `\ud800`; the session keeps it exactly) has no
        # UTF-8 form: JSON's own escapes send it back as it came.
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _is_event_stream(response: httpx.Response) -> bool:
    kind = str(response.headers.get("content-type", ""))
    return kind.split(";", 1)[0].strip().lower() == "text/event-stream"


def _no_logprobs(model: str) -> str:
    return f"{one_line(model, 60)} gives no token probabilities: sent without them"


def _rejects_logprobs(status: int, text: str) -> bool:
    return status in (400, 422) and "logprobs" in text


def _rejects_stream_options(status: int, text: str) -> bool:
    return status in (400, 422) and "stream_options" in text


async def read_text(response: httpx.Response, limit: int) -> str:
    """At most `limit` bytes of the body, decoded leniently; the rest is not downloaded."""
    body = bytearray()
    pieces = decoded_pieces(response)  # inflated a piece at a time: no bomb in errors
    try:
        async for chunk in pieces:
            body += chunk[: limit - len(body)]
            if len(body) >= limit:
                break
    except (httpx.HTTPError, BodyDecodeError):
        pass  # a body cut short still says enough about the error its status announced
    finally:
        await pieces.aclose()
    return body.decode(response.encoding or "utf-8", errors="replace")
