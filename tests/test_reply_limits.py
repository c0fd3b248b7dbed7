"""Hostile servers meet limits: a reply is capped in text and on the wire, the headers and
first token have a deadline, a comment bomb neither freezes nor outlasts a cancel.

All over the loopback server (its `endless`, `header_delay`, `gzip` and COMMENT_BOMB
behaviours), with small configured limits, so nothing here waits long.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmchat.backends.base import BackendError
from llmchat.backends.discovery import discover
from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.core.conversation import Conversation
from llmchat.core.events import ChatError, Delta, ErrorKind, Failed, StreamEvent
from llmchat.core.limits import CUT_REASON, ReplyLimits
from llmchat.core.messages import Status
from llmchat.core.params import SamplingParams
from llmchat.core.request import SERVER_DEFAULT_MODEL, ChatRequest, WireMessage
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from llmchat.store import load_session, new_session
from tests.support.openai_server import Fault, OpenAIServer, Script
from tests.test_cli import llmchat, sessions

pytestmark = pytest.mark.family("limits")

SMALL = ReplyLimits(wire_floor=256 * 1024, wire_bytes_per_token=1024)
"""Caps of a few hundred KB on the wire, so a flood is cut in milliseconds."""


def request(max_tokens: int = 16) -> ChatRequest:
    return ChatRequest(
        messages=(WireMessage("user", "Hello?"),), params=SamplingParams(max_tokens=max_tokens)
    )


@pytest.fixture
async def backend(server: OpenAIServer) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend("hostile", server.base_url, "test-model", limits=SMALL)
    yield backend
    await backend.aclose()


async def run(backend: OpenAIBackend, req: ChatRequest | None = None) -> list[StreamEvent]:
    return [event async for event in backend.stream(req or request())]


def failure(events: list[StreamEvent]) -> Failed:
    last = events[-1]
    assert isinstance(last, Failed), last
    return last


async def no_sleep(_: float) -> None:
    return None


async def service_for(
    server: OpenAIServer, folder: Path, *, max_tokens: int, limits: ReplyLimits | None = None
) -> ChatService:
    conversation = Conversation(params=SamplingParams(max_tokens=max_tokens))
    new_session(folder, conversation)
    options = {} if limits is None else {"limits": limits}
    backend = OpenAIBackend("hostile", server.base_url, "test-model", **options)  # type: ignore[arg-type]
    gateway = Gateway(backend, RetryPolicy(rng=random.Random(1)), sleep=no_sleep)
    meter = ContextMeter(conversation, gateway, "test-model")
    await meter.prepare()
    return ChatService(conversation, gateway, meter, model=lambda: "test-model")


async def ignore(_: EngineEvent) -> None:
    return None


# -- text and wire caps ----------------------------------------------------------------


async def test_a_server_that_ignores_max_tokens_is_cut_and_the_reply_saved_incomplete(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(
        Script(reply="never ending story ", endless=True, finish_reason=None, tokens_per_chunk=9)
    )
    service = await service_for(server, tmp_path, max_tokens=8)
    reply = await service.send("tell me", ignore)
    assert reply is not None
    assert reply.status is Status.INCOMPLETE
    assert CUT_REASON in (reply.error or "")
    assert reply.error is not None and reply.error.startswith("hostile: ")
    limit = ReplyLimits().text_chars(8)
    assert limit < len(reply.content) <= limit + 64  # bounded: the cap and one chunk
    assert server.chat_requests[0].client_disconnected  # the stream was closed
    assert reply.content.startswith("never ending story")


async def test_the_cut_reply_is_in_the_session_file_with_its_reason(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="more ", endless=True, finish_reason=None, tokens_per_chunk=9))
    service = await service_for(server, tmp_path, max_tokens=4)
    reply = await service.send("go on", ignore)
    assert reply is not None
    [path] = tmp_path.glob("*.jsonl")
    saved = load_session(path).messages[-1]
    assert (saved.status, saved.content, saved.error) == (
        Status.INCOMPLETE,
        reply.content,
        reply.error,
    )


async def test_endless_keep_alives_are_cut_by_the_wire_cap(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="one two", fault=Fault.COMMENT_BOMB, fault_after=1))
    events = await run(backend)
    error = failure(events).error
    assert error.kind is ErrorKind.INCOMPLETE
    assert "cut by llmchat" in error.message and "keep-alives included" in error.message
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "one"
    assert server.chat_requests[0].client_disconnected


async def test_a_gzip_comment_bomb_counts_its_decoded_bytes(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    # 8 MiB of ":" lines in a few KB of gzip, then a proper end: only decoded bytes
    # (comments included) show it is over the cap.
    bomb = Script(
        reply="a b", gzip=True, fault=Fault.COMMENT_BOMB, fault_after=1, bomb_bytes=8 << 20
    )
    server.push(bomb)
    error = failure(await run(backend)).error
    assert error.kind is ErrorKind.INCOMPLETE
    assert "cut by llmchat" in error.message


async def test_a_gzip_stream_within_the_caps_reads_as_usual(
    server: OpenAIServer, backend: OpenAIBackend
) -> None:
    server.push(Script(reply="Hello, compressed world.", gzip=True, comments=True))
    events = await run(backend)
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "Hello, compressed world."
    assert not isinstance(events[-1], Failed)


# -- Esc during a bomb -----------------------------------------------------------------


async def test_a_cancel_during_a_comment_bomb_ends_the_turn_cancelled(
    server: OpenAIServer, tmp_path: Path
) -> None:
    # The whole body (a token, 4 MiB of ":" lines, the end) arrives in one read: a reader
    # that parses it without yielding finishes the reply before the cancel can land.
    server.push(
        Script(
            reply="A fin",
            gzip=True,
            coalesce=True,
            fault=Fault.COMMENT_BOMB,
            fault_after=1,
            bomb_bytes=4 << 20,
        )
    )
    service = await service_for(server, tmp_path, max_tokens=4096)
    first_token = asyncio.Event()

    async def report(event: EngineEvent) -> None:
        if isinstance(event, Delta):
            first_token.set()

    sending = asyncio.create_task(service.send("hi", report))

    async def press_escape() -> None:
        await first_token.wait()
        sending.cancel()

    escape = asyncio.create_task(press_escape())
    with pytest.raises(asyncio.CancelledError):
        await sending
    await escape
    reply = service.conversation.messages[-1]
    assert (reply.status, reply.content) == (Status.CANCELLED, "A")


# -- the deadline for headers and first token ------------------------------------------


async def test_a_slowloris_server_meets_the_deadline_for_the_headers(
    server: OpenAIServer,
) -> None:
    server.push(Script(header_delay=0.05))  # ~7 s of headers, one byte at a time
    backend = OpenAIBackend("hostile", server.base_url, "test-model", first_token_timeout=0.3)
    try:
        error = failure(await run(backend)).error
    finally:
        await backend.aclose()
    assert error.kind is ErrorKind.DEADLINE and not error.retryable
    assert error.one_line().startswith("hostile: no response headers from http://127.0.0.1")
    assert "within 0.3 s" in error.message
    assert server.chat_requests[0].client_disconnected


async def test_comments_without_a_token_meet_the_deadline_for_the_first_token(
    server: OpenAIServer,
) -> None:
    trickle = Script(reply="late", fault=Fault.COMMENT_BOMB, fault_after=0)
    server.push(trickle)
    backend = OpenAIBackend("hostile", server.base_url, "test-model", first_token_timeout=0.3)
    try:
        error = failure(await run(backend, request(max_tokens=4096))).error
    finally:
        await backend.aclose()
    assert error.kind is ErrorKind.DEADLINE
    assert error.message.startswith("no first token from ")


async def test_the_deadline_is_not_retried_by_the_gateway(server: OpenAIServer) -> None:
    server.push(Script(header_delay=0.05), Script(reply="never asked"))
    backend = OpenAIBackend("hostile", server.base_url, "test-model", first_token_timeout=0.2)
    gateway = Gateway(backend, RetryPolicy(rng=random.Random(1)), sleep=no_sleep)
    try:
        events = [event async for event in gateway.stream(request())]
    finally:
        await gateway.aclose()
    assert failure(events).error.kind is ErrorKind.DEADLINE
    assert len(server.chat_requests) == 1


async def test_a_slow_first_token_within_the_deadline_is_read_as_usual(
    server: OpenAIServer,
) -> None:
    server.push(Script(reply="patience", first_delay=0.1))
    backend = OpenAIBackend("hostile", server.base_url, "test-model", first_token_timeout=5)
    try:
        events = await run(backend)
    finally:
        await backend.aclose()
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "patience"


# -- the deadline for questions about the server ----------------------------------------

SLOWLORIS = Script(body={"data": []}, header_delay=0.05)
"""A whole answer, its head sent one byte every 50 ms (~5 s of headers)."""
LLAMA_SLOWLORIS = Script(
    body={"default_generation_settings": {"n_ctx": 4096}, "tokens": [], "prompt": ""},
    header_delay=0.05,
)


async def raised(call: object) -> ChatError:
    with pytest.raises(BackendError) as caught:
        await call  # type: ignore[misc]
    return caught.value.error


async def test_a_slowloris_model_list_meets_the_discovery_deadline(server: OpenAIServer) -> None:
    server.answer("/v1/models", SLOWLORIS)
    backend = OpenAIBackend(
        "hostile", server.base_url, SERVER_DEFAULT_MODEL, first_token_timeout=0.3
    )
    started = asyncio.get_running_loop().time()
    try:
        error = await raised(discover(backend))
    finally:
        await backend.aclose()
    assert asyncio.get_running_loop().time() - started < 2
    assert error.kind is ErrorKind.DEADLINE and error.backend == "hostile"
    assert error.one_line().startswith("hostile: no answer to GET /models from http://127.0.0.1"), (
        error.one_line()
    )
    assert "within 0.3 s" in error.message
    assert server.requests[0].client_disconnected


async def test_a_slowloris_llama_probe_meets_the_discovery_deadline(server: OpenAIServer) -> None:
    server.answer("/props", SLOWLORIS)
    backend = OpenAIBackend("hostile", server.base_url, "test-model", first_token_timeout=0.3)
    try:
        error = await raised(discover(backend))
    finally:
        await backend.aclose()
    assert error.kind is ErrorKind.DEADLINE
    assert error.one_line().startswith("hostile: no answer to GET /props from http://127.0.0.1")


@pytest.mark.parametrize("path", ["/props", "/tokenize", "/apply-template"])
async def test_every_llama_server_question_meets_the_discovery_deadline(
    server: OpenAIServer, path: str
) -> None:
    server.answer(path, LLAMA_SLOWLORIS)
    backend = LlamaCppBackend("hostile", server.base_url, "test-model", first_token_timeout=0.3)
    ask = {
        "/props": backend.props,
        "/tokenize": lambda: backend.count_text("hello"),
        "/apply-template": lambda: backend.count_prompt([WireMessage("user", "hi")]),
    }[path]
    try:
        error = await raised(ask())
    finally:
        await backend.aclose()
    assert error.kind is ErrorKind.DEADLINE
    method = "GET" if path == "/props" else "POST"
    assert error.message.startswith(f"no answer to {method} {path} from http://127.0.0.1")
    assert error.backend == "hostile"


async def test_a_discovery_deadline_fails_the_send_instead_of_holding_it(
    server: OpenAIServer,
) -> None:
    server.answer("/v1/models", SLOWLORIS)
    backend = OpenAIBackend(
        "hostile", server.base_url, SERVER_DEFAULT_MODEL, first_token_timeout=0.3
    )
    gateway = Gateway(backend, RetryPolicy(rng=random.Random(1)), sleep=no_sleep)
    try:
        async with asyncio.timeout(5):
            events = [event async for event in gateway.stream(request())]
    finally:
        await gateway.aclose()
    error = failure(events).error
    assert error.kind is ErrorKind.DEADLINE
    assert error.one_line().startswith("hostile: no answer to GET /models")
    assert server.chat_requests == []


# -- the same in `llmchat -p` ----------------------------------------------------------


def test_print_mode_cuts_an_endless_reply_and_saves_it_incomplete(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="again ", endless=True, finish_reason=None, tokens_per_chunk=9))
    env = {"OPENAI_BASE_URL": server.base_url}
    result = llmchat("-p", "go", "--max-tokens", "4", home=tmp_path, env=env)
    assert result.returncode == 1
    assert CUT_REASON in result.stderr
    assert result.stdout.startswith("again again")
    [summary] = sessions(tmp_path)
    saved = load_session(summary.path).messages[-1]
    assert saved.status is Status.INCOMPLETE
    assert saved.content == result.stdout.removesuffix("\n")


def test_print_mode_gives_up_on_a_slowloris_server_at_the_configured_deadline(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(header_delay=0.05))
    config = tmp_path / "config.toml"
    config.write_text("[timeouts]\nfirst_token = 0.5\n", encoding="utf-8")
    env = {"OPENAI_BASE_URL": server.base_url, "LLMCHAT_CONFIG": str(config)}
    result = llmchat("-p", "hi", home=tmp_path, env=env)
    assert result.returncode == 1
    assert "no response headers from http://127.0.0.1" in result.stderr
    assert "within 0.5 s" in result.stderr


@pytest.mark.parametrize("path", ["/v1/models", "/props"])
def test_print_mode_gives_up_on_a_slowloris_discovery_at_the_configured_deadline(
    server: OpenAIServer, tmp_path: Path, path: str
) -> None:
    server.answer(path, SLOWLORIS)
    config = tmp_path / "config.toml"
    config.write_text("[timeouts]\nfirst_token = 0.5\n", encoding="utf-8")
    env = {"LLMCHAT_BASE_URL": server.base_url, "LLMCHAT_CONFIG": str(config)}
    result = llmchat("-p", "hi", home=tmp_path, env=env)
    assert result.returncode == 1
    asked = path.removeprefix("/v1")
    assert f"no answer to GET {asked} from http://127.0.0.1" in result.stderr, result.stderr
    assert "within 0.5 s" in result.stderr
