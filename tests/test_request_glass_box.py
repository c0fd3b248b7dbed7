"""The request inspector's other sides: the next request (what llmchat would send now,
compiled by the code that sends it), the headers with the key masked, and the reply's
first and last raw stream events. All over the loopback servers."""

from __future__ import annotations

from pathlib import Path

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.backends.sse import SSEEvent
from llmchat.backends.stream_sample import EVENT_CHARS, StreamSample
from llmchat.core.events import RawEvents, RequestSent, StreamEvent
from llmchat.core.secrets import SecretMask
from llmchat.engine.events import EngineEvent
from tests.support.anthropic_server import AnthropicServer
from tests.support.anthropic_server import Turn as AnthropicTurn
from tests.support.openai_server import OpenAIServer, Script
from tests.test_request_sent import KEY, REQUEST, service_for

HINT = "environment variable OPENAI_API_KEY"


async def quiet(event: EngineEvent) -> None:
    return None


def raw_of(events: list[StreamEvent]) -> RawEvents:
    [raw] = [e for e in events if isinstance(e, RawEvents)]
    return raw


# -- headers ------------------------------------------------------------------------------


async def test_the_headers_sent_are_shown_with_the_key_as_its_variable(
    server: OpenAIServer,
) -> None:
    backend = OpenAIBackend("local", server.base_url, "m", api_key=KEY, api_key_hint=HINT)
    try:
        events = [event async for event in backend.stream(REQUEST)]
    finally:
        await backend.aclose()
    [sent] = [e for e in events if isinstance(e, RequestSent)]
    headers = dict(sent.headers)
    assert headers["Authorization"] == "Bearer $OPENAI_API_KEY"
    assert headers["Content-Type"] == "application/json"
    assert KEY not in repr(sent)
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_anthropic_headers_keep_their_version_and_mask_the_key() -> None:
    key = "sk-ant-test-0123456789abcdef"
    with AnthropicServer(api_key=key) as server:
        hint = "environment variable ANTHROPIC_API_KEY"
        backend = AnthropicBackend(
            "claude", server.base_url, "claude-test", api_key=key, api_key_hint=hint
        )
        try:
            events = [event async for event in backend.stream(REQUEST)]
        finally:
            await backend.aclose()
    [sent] = [e for e in events if isinstance(e, RequestSent)]
    headers = dict(sent.headers)
    assert headers["x-api-key"] == "$ANTHROPIC_API_KEY"
    assert headers["anthropic-version"] == "2023-06-01"
    assert key not in repr(sent)


# -- the next request -----------------------------------------------------------------------


async def test_the_next_request_is_the_body_the_send_then_sends(
    server: OpenAIServer, tmp_path: Path
) -> None:
    service = await service_for(server, tmp_path)
    await service.send("first", quiet)
    upcoming = await service.next_request("second question")
    assert not isinstance(upcoming, str)
    assert len(server.chat_requests) == 1  # nothing was sent for it
    assert service.conversation.count() == 2  # nor saved
    await service.send("second question", quiet)
    await service.gateway.aclose()
    assert upcoming.sent[0].body.encode() == server.chat_requests[-1].raw
    assert upcoming.planned.request.messages[-1].content == "second question"


async def test_the_next_request_says_why_it_would_be_refused(
    server: OpenAIServer, tmp_path: Path
) -> None:
    service = await service_for(server, tmp_path, max_tokens=40, window=100)
    upcoming = await service.next_request("word " * 400)
    await service.gateway.aclose()
    assert isinstance(upcoming, str) and upcoming.startswith("Not sent")
    assert server.chat_requests == []


async def test_the_next_request_leaves_out_what_the_window_policy_would(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="one " * 30))
    service = await service_for(server, tmp_path, max_tokens=40, window=200)
    await service.send("first " + "padding " * 60, quiet)
    upcoming = await service.next_request("second")
    await service.gateway.aclose()
    assert not isinstance(upcoming, str)
    assert upcoming.planned.skipped == 2
    assert upcoming.sent[0].payload()["messages"] == [{"role": "user", "content": "second"}]


# -- the reply side -------------------------------------------------------------------------


def test_the_sample_keeps_the_first_and_last_few_events_once_each() -> None:
    sample = StreamSample(kept=3)
    for n in range(10):
        sample.keep(SSEEvent(f'{{"n":{n}}}'))
    raw = sample.events()
    assert raw.first == ('data: {"n":0}', 'data: {"n":1}', 'data: {"n":2}')
    assert raw.last == ('data: {"n":7}', 'data: {"n":8}', 'data: {"n":9}')
    assert raw.total == 10
    short = StreamSample(kept=3)
    for n in range(4):
        short.keep(SSEEvent(str(n), event="ping"))
    assert short.events().last == ("event: ping\ndata: 3",)


def test_a_huge_event_is_cut_and_a_secret_in_it_masked_before_the_cut() -> None:
    key = "sk-secret-abcdefghijklmnop"
    sample = StreamSample()
    sample.keep(SSEEvent("x" * (EVENT_CHARS - 10) + key + "y" * 100_000))
    [text] = sample.events(SecretMask.of([key])).first
    assert len(text) < EVENT_CHARS + 100
    assert key[:12] not in text and "abcdefgh" not in text


async def test_the_reply_side_is_kept_with_the_last_request(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="alpha beta gamma delta epsilon zeta eta", timings=True))
    service = await service_for(server, tmp_path)
    await service.send("hello", quiet)
    await service.gateway.aclose()
    last = service.last_request
    assert last is not None and last.raw is not None
    assert len(last.raw.first) == 3 and len(last.raw.last) == 3
    assert last.raw.total > 6
    assert last.raw.last[-1] == "data: [DONE]"
    assert '"usage"' in last.raw.last[-2]  # usage as received
    assert last.usage is not None and last.usage.prompt_tokens == 12
    assert last.timings is not None
    assert last.reply is not None and last.reply.content.startswith("alpha")


async def test_anthropic_raw_events_carry_their_names() -> None:
    with AnthropicServer() as server:
        server.push(AnthropicTurn(reply="one two three four five"))
        backend = AnthropicBackend("claude", server.base_url, "claude-test")
        try:
            events = [event async for event in backend.stream(REQUEST)]
        finally:
            await backend.aclose()
    raw = raw_of(events)
    assert raw.first[0].startswith("event: message_start\ndata: ")
    assert raw.last[-1].startswith("event: message_stop")


async def test_the_dials_the_model_refused_are_kept_with_the_last_request(
    tmp_path: Path,
) -> None:
    with OpenAIServer(picky={"test-model": "no_dials"}) as server:
        service = await service_for(server, tmp_path)
        service.conversation.set_params(service.conversation.with_params(temperature=0.2))
        await service.send("hello", quiet)
        await service.gateway.aclose()
    last = service.last_request
    assert last is not None and len(last.sent) == 2  # refused, then sent without the dial
    assert last.fitted and any("temperature" in note for note in last.fitted)


def test_hostile_raw_events_reach_the_inspector_harmless() -> None:
    from llmchat.core.params import SamplingParams
    from llmchat.core.request import ChatRequest
    from llmchat.engine.events import RequestPlanned
    from llmchat.engine.turn_request import TurnRequest
    from llmchat.tui.screens.request_inspector import RequestInspector
    from tests.support.hostile import hostile, raw_leaks

    sample = StreamSample()
    for n in range(8):  # raw, not JSON-escaped: what a hostile server can put in a line
        sample.keep(SSEEvent(hostile(f"RAW-{n}"), event=hostile("NAME", nul=False)))
    planned = RequestPlanned(ChatRequest(messages=(), params=SamplingParams()), 0, False)
    last = TurnRequest(planned, raw=sample.events())
    inspector = RequestInspector(last)
    text = "\n".join(str(s.render()) for s in inspector._reply_side(last))
    assert "RAW-0" in text and "RAW-7" in text and "events not kept" in text
    assert raw_leaks(text) == []


async def test_the_next_request_for_anthropic_is_its_own_body() -> None:
    from llmchat.gateway.gateway import Gateway

    with AnthropicServer() as server:
        gateway = Gateway(AnthropicBackend("claude", server.base_url, "claude-test"))
        prepared = await gateway.prepared(REQUEST)
        await gateway.aclose()
        assert server.message_requests == []
    assert isinstance(prepared, RequestSent)
    assert prepared.url.endswith("/v1/messages")
    body = prepared.payload()
    assert body["system"][0]["text"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert dict(prepared.headers)["anthropic-version"] == "2023-06-01"


async def test_a_key_from_the_config_file_is_shown_masked(server: OpenAIServer) -> None:
    hint = "api_key in [backends.local] of the config file"
    backend = OpenAIBackend("local", server.base_url, "m", api_key=KEY, api_key_hint=hint)
    try:
        prepared = await backend.prepared(REQUEST)
    finally:
        await backend.aclose()
    assert dict(prepared.headers)["Authorization"] == "Bearer •••"
    assert KEY not in repr(prepared)


# -- the next request is what would be sent -------------------------------------------------


async def test_the_next_request_to_a_llama_server_names_its_top_k_and_min_p_as_a_send_does(
    server: OpenAIServer,
) -> None:
    from llmchat.backends.llamacpp import LlamaCppBackend

    settings = {"n_ctx": 4096, "params": {"top_k": 40, "min_p": 0.05}}
    server.answer("/props", Script(body={"default_generation_settings": settings}))
    backend = LlamaCppBackend("local", server.base_url, "m")
    try:
        upcoming = (await backend.prepared(REQUEST)).payload()
        [_ async for _ in backend.stream(REQUEST)]
    finally:
        await backend.aclose()
    sent = server.chat_requests[-1].body
    assert (upcoming["top_k"], upcoming["min_p"]) == (40, 0.05)
    assert upcoming == sent


async def test_the_next_request_asks_no_probabilities_of_a_model_that_refused_them(
    server: OpenAIServer,
) -> None:
    from dataclasses import replace

    asking = replace(REQUEST, probabilities=5)
    refusal = Script.http_error(400, "logprobs is not supported with this model", param="logprobs")
    server.push(refusal, Script(reply="Hi."))
    backend = OpenAIBackend("local", server.base_url, "m")
    try:
        [_ async for _ in backend.stream(asking)]
        upcoming = (await backend.prepared(asking)).payload()
    finally:
        await backend.aclose()
    assert "logprobs" not in upcoming and "top_logprobs" not in upcoming
    assert "logprobs" not in server.chat_requests[-1].body
