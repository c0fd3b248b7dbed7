"""The llama.cpp backend against a real llama-server and a real (tiny) model."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path

from llmchat.backends.discovery import discover
from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.core.events import (
    Delta,
    ErrorKind,
    Failed,
    Finished,
    Loading,
    Retrying,
    ServerTimings,
    UsageReport,
)
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from llmchat.local.binary import ServerBinary
from llmchat.local.server_process import ManagedServer, ServerSettings, free_port
from tests.llama.conftest import CONTEXT

QUESTION = (WireMessage("system", "You are terse."), WireMessage("user", "Name three colours."))


def backend_for(server: ManagedServer) -> LlamaCppBackend:
    return LlamaCppBackend("local", server.base_url, server.alias)


async def collect(backend: LlamaCppBackend, messages, max_tokens: int = 8):  # type: ignore[no-untyped-def]
    request = ChatRequest(tuple(messages), SamplingParams(temperature=0.0, max_tokens=max_tokens))
    return [event async for event in backend.stream(request)]


async def test_the_context_size_comes_from_the_servers_props(llama_server: ManagedServer) -> None:
    backend = backend_for(llama_server)
    try:
        window = await backend.context_window()
    finally:
        await backend.aclose()
    assert window is not None
    assert (window.tokens, window.source) == (CONTEXT, "server")


async def test_exact_prompt_count_matches_what_the_server_processes(
    llama_server: ManagedServer,
) -> None:
    backend = backend_for(llama_server)
    try:
        counted = await backend.count_prompt(QUESTION)
        events = await collect(backend, QUESTION)
    finally:
        await backend.aclose()
    [usage] = [e for e in events if isinstance(e, UsageReport)]
    assert counted.exact
    assert counted.tokens == usage.prompt_tokens


async def test_the_second_turn_reuses_the_kv_cache_and_reports_timings(
    llama_server: ManagedServer,
) -> None:
    backend = backend_for(llama_server)
    try:
        first = await collect(backend, QUESTION)
        reply = "".join(e.text for e in first if isinstance(e, Delta))
        follow_up = (*QUESTION, WireMessage("assistant", reply), WireMessage("user", "More."))
        second = await collect(backend, follow_up)
    finally:
        await backend.aclose()
    [timings] = [e for e in second if isinstance(e, ServerTimings)]
    assert timings.cache_n is not None and timings.cache_n > 0
    assert timings.prompt_n is not None and timings.prompt_n > 0
    assert timings.prompt_ms is not None and timings.predicted_ms is not None
    assert isinstance(second[-1], Finished)


async def test_the_chosen_sampling_values_and_max_tokens_are_honoured(
    llama_server: ManagedServer,
) -> None:
    backend = backend_for(llama_server)
    try:
        events = await collect(backend, QUESTION, max_tokens=5)
        [slot] = await backend.slots()
    finally:
        await backend.aclose()
    [usage] = [e for e in events if isinstance(e, UsageReport)]
    assert usage.completion_tokens <= 5
    assert slot["params"]["temperature"] == 0.0
    assert slot["params"]["top_p"] == 1.0


async def test_cancelling_a_reply_frees_the_servers_slot(llama_server: ManagedServer) -> None:
    backend = backend_for(llama_server)
    request = ChatRequest(QUESTION, SamplingParams(max_tokens=1500))
    try:
        async with aclosing(backend.stream(request)) as events:
            deltas = 0
            async for event in events:
                deltas += isinstance(event, Delta)
                if deltas == 3:
                    break
        busy = True
        for _ in range(100):  # the server notices the closed connection at its next token
            busy = any(slot["is_processing"] for slot in await backend.slots())
            if not busy:
                break
            await asyncio.sleep(0.05)
    finally:
        await backend.aclose()
    assert not busy


async def test_a_plain_base_url_to_llama_server_is_recognised(llama_server: ManagedServer) -> None:
    plain = OpenAIBackend("local", llama_server.base_url, "default")
    upgraded = await discover(plain)
    try:
        assert isinstance(upgraded, LlamaCppBackend)
        window = await upgraded.context_window()
        assert window is not None and window.tokens == CONTEXT
    finally:
        await upgraded.aclose()


async def test_a_prompt_beyond_the_context_is_refused_with_the_numbers(
    llama_server: ManagedServer,
) -> None:
    backend = backend_for(llama_server)
    huge = (WireMessage("user", "word " * 3000),)
    try:
        events = await collect(backend, huge)
    finally:
        await backend.aclose()
    failure = events[-1]
    assert isinstance(failure, Failed)
    assert failure.error.kind is ErrorKind.CONTEXT_OVERFLOW
    assert failure.error.context_window == CONTEXT
    assert failure.error.prompt_tokens is not None and failure.error.prompt_tokens > CONTEXT
    assert str(CONTEXT) in failure.error.one_line()


async def test_a_server_that_is_not_running_is_named_in_the_error() -> None:
    backend = LlamaCppBackend("local", f"http://127.0.0.1:{free_port()}/v1", "default")
    try:
        events = await collect(backend, QUESTION)
    finally:
        await backend.aclose()
    failure = events[-1]
    assert isinstance(failure, Failed)
    assert failure.error.kind is ErrorKind.CONNECT
    assert "127.0.0.1" in failure.error.one_line()


async def test_a_request_sent_while_the_model_loads_goes_through_when_ready(
    llama_binary: ServerBinary, gemma_file: Path, tmp_path: Path
) -> None:
    server = ManagedServer(llama_binary, ServerSettings(gemma_file, context=512), tmp_path / "log")
    server.start()
    backend = backend_for(server)
    gateway = Gateway(backend, RetryPolicy(max_retries=20, max_delay_s=0.5))
    request = ChatRequest(QUESTION, SamplingParams(temperature=0.0, max_tokens=4))
    try:
        events = [event async for event in gateway.stream(request)]
    finally:
        await gateway.aclose()
        server.stop()
    assert isinstance(events[-1], Finished)
    assert any(isinstance(event, Loading | Retrying) for event in events)


async def test_the_cache_view_shows_the_real_servers_kv_cache_reuse(
    llama_server: ManagedServer,
) -> None:
    """Two turns against the real llama-server: the second reuses the first's prompt."""
    from llmchat.core.conversation import Conversation
    from llmchat.core.turn_history import cache_table, turns
    from llmchat.engine.chat_service import ChatService
    from llmchat.engine.context_meter import ContextMeter
    from llmchat.engine.events import EngineEvent

    gateway = Gateway(backend_for(llama_server))
    conversation = Conversation(params=SamplingParams(temperature=0.0, max_tokens=8))
    conversation.set_system("You are terse.")
    meter = ContextMeter(conversation, gateway, llama_server.alias)
    await meter.prepare()
    service = ChatService(conversation, gateway, meter, model=lambda: llama_server.alias)

    async def ignore(event: EngineEvent) -> None:
        return None

    try:
        await service.send("Name three colours.", ignore)
        await service.send("And three animals?", ignore)
    finally:
        await gateway.aclose()
    first, second = turns(conversation.thread())
    assert first.prompt and second.prompt and second.prompt > first.prompt
    assert second.reused is not None and second.reused > 0  # the KV cache served it
    assert cache_table([first, second])[2].split()[2] == f"{second.reused:,}"


async def test_token_pieces_come_from_the_servers_own_tokenizer(
    llama_server: ManagedServer,
) -> None:
    from llmchat.tui.screens.token_view import split

    gateway = Gateway(backend_for(llama_server))
    text = 'Déjà vu, {"key": [1, 2]}'
    try:
        pieces, source = await split(text, gateway, llama_server.alias)
        ids = await gateway.backend.count_text(text)  # type: ignore[attr-defined]
    finally:
        await gateway.aclose()
    assert pieces is not None and "(/tokenize)" in source
    assert "".join(pieces) == text  # the pieces are the text, cut at the tokens
    assert len(pieces) == ids
