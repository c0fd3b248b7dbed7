"""Backends by capability: the gateway asks a backend only for what it declares, and a
fallback answers a turn planned for its own window and priced by its own terms.

Real loopback servers throughout: a dead port for the primary, the OpenAI-style test
server for the backends that answer.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator

import pytest

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.core.conversation import Conversation
from llmchat.core.events import ChatError, ErrorKind, Failed, FellBack, Started
from llmchat.core.messages import Message, Role, Status
from llmchat.core.params import SamplingParams
from llmchat.core.reply_facts import reply_meta
from llmchat.core.request import WireMessage
from llmchat.core.turn import Turn
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.gateway.breaker import BreakerState, CircuitBreaker
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from tests.support.anthropic_server import AnthropicServer
from tests.support.openai_server import OpenAIServer, Script

pytestmark = pytest.mark.family("retries")


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def backup_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


# -- capabilities -----------------------------------------------------------------------


def test_each_kind_declares_what_it_can_do() -> None:
    plain = OpenAIBackend("o", "http://127.0.0.1:1/v1", "m").capabilities
    local = LlamaCppBackend("l", "http://127.0.0.1:1/v1", "m").capabilities
    claude = AnthropicBackend("a", "http://127.0.0.1:1/v1", "m").capabilities
    assert (plain.counts_exactly, plain.tells_window, plain.free) == (False, False, False)
    assert (local.counts_exactly, local.tells_window, local.free) == (True, True, True)
    assert local.reports_timings and local.logprobs
    assert (claude.counts_exactly, claude.tells_window, claude.free) == (True, False, False)
    assert not claude.logprobs  # Anthropic gives no token alternatives


async def test_a_backend_that_cannot_count_is_not_asked_to(server: OpenAIServer) -> None:
    gateway = Gateway(OpenAIBackend("o", server.base_url, "m"))
    try:
        counted = await gateway.count_prompt([WireMessage("user", "hello")])
        draft = await gateway.count_text("hello")
        window = await gateway.context_window()
    finally:
        await gateway.aclose()
    assert (counted, draft, window) == (None, None, None)
    assert server.requests == []  # not one round trip


async def test_the_configured_window_wins_over_what_the_backend_could_tell(
    server: OpenAIServer,
) -> None:
    gateway = Gateway(LlamaCppBackend("l", server.base_url, "m"), configured_window=2048)
    try:
        window = await gateway.context_window()
    finally:
        await gateway.aclose()
    assert window is not None and (window.tokens, window.source) == (2048, "config")
    assert server.requests == []


async def test_the_gauge_counts_through_the_gateway_and_marks_an_estimate(
    server: OpenAIServer,
) -> None:
    conversation = Conversation()
    conversation.add_user("What is a monad?")
    meter = ContextMeter(conversation, Gateway(OpenAIBackend("o", server.base_url, "m")), "m")
    await meter.prepare()
    budget = await meter.measure("and a functor?")
    await meter.gateway.aclose()
    assert not budget.exact  # model "m": no tiktoken encoding, no server count
    assert budget.history > 0 and budget.draft > 0
    assert server.requests == []


# -- a fallback gets its own plan and its own price --------------------------------------


def long_conversation(turns: int, words: int) -> Conversation:
    conversation = Conversation(params=SamplingParams(max_tokens=64))
    for n in range(turns):
        conversation.add_user(f"question {n}: " + "word " * words)
        conversation.add_reply(Message(Role.ASSISTANT, f"answer {n}: " + "word " * words))
    return conversation


async def ignore(event: EngineEvent) -> None:
    return None


def service_over(
    conversation: Conversation,
    backup: Gateway,
    *,
    primary_free: bool = False,
    pricer_says: float = 0.25,
) -> ChatService:
    primary = Gateway(
        OpenAIBackend("main", dead_url(), "main-model"),
        RetryPolicy(rng=random.Random(1), max_retries=0),
        sleep=no_sleep,
        fallbacks=(backup,),
        free=primary_free,
        configured_window=100_000,
    )
    meter = ContextMeter(conversation, primary, "main-model", configured_window=100_000)
    meter.window = 100_000
    return ChatService(
        conversation, primary, meter, model=lambda: "main-model", pricer=lambda m: pricer_says
    )


async def test_a_fallback_with_a_smaller_window_gets_the_turn_planned_for_it(
    backup_server: OpenAIServer,
) -> None:
    conversation = long_conversation(turns=12, words=60)  # ≈ 2,000 tokens of history
    backup = Gateway(
        OpenAIBackend("backup", backup_server.base_url, "backup-model"),
        configured_window=1_000,
    )
    service = service_over(conversation, backup)
    events: list[EngineEvent] = []

    async def keep(event: EngineEvent) -> None:
        events.append(event)

    try:
        reply = await service.send("And now?", keep)
    finally:
        await service.gateway.aclose()
    assert reply is not None and reply.backend == "backup"
    assert any(isinstance(e, FellBack) for e in events)
    assert reply.fell_back_from == "main"
    assert "via backup (main failed)" in reply_meta(reply)
    asked_now = conversation.messages[-2]
    assert asked_now.tokens and asked_now.tokenizer == "estimate"  # "main-model": no tiktoken
    [asked] = backup_server.chat_requests
    sent = asked.body["messages"]
    assert sent[-1]["content"] == "And now?"
    assert len(sent) < 2 * 12 + 1  # the oldest turns were left out for the small window
    assert service.last_request is not None
    assert service.last_request.planned.skipped == 2 * 12 + 1 - len(sent)


async def test_a_conversation_too_long_for_every_fallback_fails_and_says_why(
    backup_server: OpenAIServer,
) -> None:
    conversation = Conversation(params=SamplingParams(max_tokens=64))
    backup = Gateway(
        OpenAIBackend("backup", backup_server.base_url, "backup-model"), configured_window=80
    )
    service = service_over(conversation, backup)
    try:
        reply = await service.send("word " * 400, ignore)
    finally:
        await service.gateway.aclose()
    assert reply is not None and reply.error is not None
    assert "too long for backup" in reply.error
    assert "main: cannot connect" in reply.error  # why it was not the primary's to answer
    assert backup_server.chat_requests == []


async def test_a_paid_fallback_behind_a_free_primary_is_priced(
    backup_server: OpenAIServer,
) -> None:
    backup_server.push(Script(reply="from the paid backup"))
    conversation = Conversation(params=SamplingParams(max_tokens=64))
    backup = Gateway(OpenAIBackend("backup", backup_server.base_url, "backup-model"))
    service = service_over(conversation, backup, primary_free=True, pricer_says=0.25)
    try:
        reply = await service.send("hello", ignore)
        assert reply is not None and reply.backend == "backup"
        assert reply.cost_usd is None  # not yet priced: not taken for free either
        assert await service.price(reply, ignore) == 0.25
    finally:
        await service.gateway.aclose()
    assert reply.cost_usd == 0.25


async def test_a_free_fallback_behind_a_paid_primary_costs_nothing(
    backup_server: OpenAIServer,
) -> None:
    backup_server.push(Script(reply="from this machine"))
    conversation = Conversation(params=SamplingParams(max_tokens=64))
    local = Gateway(OpenAIBackend("local", backup_server.base_url, "local-model"), free=True)
    service = service_over(conversation, local, primary_free=False)
    try:
        reply = await service.send("hello", ignore)
        assert reply is not None and reply.backend == "local"
        assert await service.price(reply, ignore) is None
    finally:
        await service.gateway.aclose()
    assert reply.cost_usd == 0.0


async def test_a_fallback_gets_its_own_dials_and_ranges() -> None:
    """A creative preset (T 1.5, top-p 0.9) meant for the primary reaches a recent Claude
    fallback as Claude takes it: one dial, temperature within 0–1."""
    conversation = Conversation(params=SamplingParams(temperature=1.5, top_p=0.9, max_tokens=64))
    with AnthropicServer(api_key="sk-ant-test") as claude:
        fallback = Gateway(
            AnthropicBackend("claude", claude.base_url, "claude-sonnet-4-5", "sk-ant-test")
        )
        service = service_over(conversation, fallback)
        try:
            reply = await service.send("Write me a haiku.", ignore)
        finally:
            await service.gateway.aclose()
        [asked] = claude.message_requests
    assert reply is not None and reply.backend == "claude" and reply.content
    assert asked.body["model"] == "claude-sonnet-4-5"
    assert asked.body["temperature"] == 1.0
    assert "top_p" not in asked.body
    assert reply.params is not None and reply.params.temperature == 1.0  # as really sent


async def test_a_fallback_whose_window_nobody_knows_gets_what_the_first_plan_left_out(
    backup_server: OpenAIServer,
) -> None:
    conversation = long_conversation(turns=12, words=60)
    backup = Gateway(OpenAIBackend("backup", backup_server.base_url, "some-local-model"))
    service = service_over(conversation, backup)
    service.meter.window = 1_000  # the primary's: the first plan leaves the oldest out
    try:
        reply = await service.send("And now?", ignore)
    finally:
        await service.gateway.aclose()
    assert reply is not None and reply.backend == "backup"
    [asked] = backup_server.chat_requests
    assert len(asked.body["messages"]) < 2 * 12 + 1  # not the whole history


class HungServer:
    """Accepts connections and never answers: a blackholed fallback."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"

    def connections(self) -> int:
        accepted = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return accepted
            conn.close()
            accepted += 1


def hung_fallback(url: str, clock: Callable[[], float]) -> Gateway:
    backend = OpenAIBackend("hung", url, "m", first_token_timeout=0.3)
    return Gateway(
        backend,
        RetryPolicy(max_retries=0),
        sleep=no_sleep,
        breaker=CircuitBreaker(threshold=1, cooldown_s=60, clock=clock),
    )


async def test_a_hung_fallback_is_asked_once_a_turn_and_not_at_all_while_its_breaker_is_open() -> (
    None
):
    hung = HungServer()
    now = [0.0]
    fallback = hung_fallback(hung.url, lambda: now[0])
    service = service_over(Conversation(params=SamplingParams(max_tokens=8)), fallback)
    try:
        first = await service.send("hello", ignore)
        assert first is not None and first.status is Status.ERROR
        assert hung.connections() == 1  # one probe: the turn is not asked of it twice
        assert fallback.breaker.state is BreakerState.OPEN
        second = await service.send("hello again", ignore)
        assert second is not None and "failing" in (second.error or "")
        assert hung.connections() == 0  # open: refused at once, nothing sent
    finally:
        await service.gateway.aclose()
        hung.listener.close()


def test_a_reply_the_first_backend_started_but_a_fallback_could_not_give_names_neither() -> None:
    turn = Turn(SamplingParams(), parent="q")
    turn.feed(Started(backend="main", model="main-model"))
    turn.feed(FellBack("main", "backup", "main: no first token in time"))
    turn.feed(Failed(ChatError(ErrorKind.CONNECT, "cannot connect", backend="backup")))
    message = turn.to_message()
    assert message.backend is None and message.fell_back_from == "main"
    assert "via main" not in reply_meta(message)


@pytest.mark.family("streams")
async def test_a_hostile_tokenize_answer_leaves_the_gauge_estimating(
    server: OpenAIServer,
) -> None:
    server.answer("/props", Script(body={"default_generation_settings": {"n_ctx": 4096}}))
    server.answer("/apply-template", Script(body={"prompt": "<user>hello</user>"}))
    server.answer("/tokenize", Script(body={"tokens": ["not", "ids"]}))
    conversation = Conversation()
    conversation.add_user("hello")
    meter = ContextMeter(conversation, Gateway(LlamaCppBackend("l", server.base_url, "m")), "m")
    await meter.prepare()
    budget = await meter.measure("a draft")
    await meter.gateway.aclose()
    assert budget.window == 4096
    assert not budget.exact and budget.history > 0  # counted here, and said to be
