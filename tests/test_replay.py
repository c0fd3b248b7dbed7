"""Replay: the last question asked again of another backend or model, or with a
preset's dials. The new reply is a sibling of the original, it records who answered
with what (in the session file too), and the session keeps its own backend and dials.
Over two loopback servers that answer differently."""

from __future__ import annotations

import random
from pathlib import Path

from llmchat.backends.openai import OpenAIBackend
from llmchat.core import branches
from llmchat.core.conversation import Conversation
from llmchat.core.params import SamplingParams
from llmchat.core.request import WireImage
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent, Refused
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from llmchat.store import new_session
from llmchat.store.session_load import load_session
from llmchat.store.session_open import DeferredSessionFile
from tests.support.openai_server import OpenAIServer, Script

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(32)


async def no_sleep(seconds: float) -> None:
    return None


def gateway_at(server: OpenAIServer, name: str, model: str) -> Gateway:
    backend = OpenAIBackend(name, server.base_url, model)
    return Gateway(backend, RetryPolicy(rng=random.Random(1)), sleep=no_sleep, name=name)


async def quiet(event: EngineEvent) -> None:
    return None


async def service_on(
    server: OpenAIServer, folder: Path, *, window: int | None = None
) -> tuple[ChatService, DeferredSessionFile]:
    conversation = Conversation(params=SamplingParams(temperature=0.7, max_tokens=64))
    sink = new_session(folder, conversation)
    gateway = gateway_at(server, "alpha", "a-one")
    meter = ContextMeter(conversation, gateway, "a-one", configured_window=window)
    await meter.prepare()
    return ChatService(conversation, gateway, meter, model=lambda: "a-one"), sink


async def test_a_replay_on_another_backend_is_a_sibling_that_names_who_answered(
    tmp_path: Path,
) -> None:
    with OpenAIServer() as alpha, OpenAIServer() as beta:
        alpha.push(Script(reply="alpha says hi"))
        beta.push(Script(reply="beta says hello"))
        service, sink = await service_on(alpha, tmp_path)
        other = gateway_at(beta, "beta", "b-one")
        first = await service.send("hello?", quiet)
        assert first is not None
        again = await service.replay(first, quiet, gateway=other)
        await service.gateway.aclose()
        await other.aclose()
    assert again is not None
    assert (again.content, again.backend, again.model) == ("beta says hello", "beta", "b-one")
    assert again.parent == first.parent
    assert branches.sibling_places(service.conversation.messages)[again.id] == (2, 2)
    assert service.conversation.thread()[-1] is again
    assert beta.chat_requests[0].body["model"] == "b-one"
    assert beta.chat_requests[0].body["messages"] == alpha.chat_requests[0].body["messages"]
    assert service.gateway.name == "alpha"  # the session stays where it was
    saved = {m.id: m for m in load_session(sink.file.path).messages}
    assert (saved[again.id].backend, saved[again.id].model) == ("beta", "b-one")
    assert saved[first.id].backend == "alpha"


async def test_a_replay_with_a_preset_sends_and_records_its_dials(tmp_path: Path) -> None:
    with OpenAIServer() as alpha:
        alpha.push(Script(reply="warm"), Script(reply="cold"))
        service, sink = await service_on(alpha, tmp_path)
        first = await service.send("hello?", quiet)
        assert first is not None
        preset = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=64)
        again = await service.replay(first, quiet, params=preset)
        await service.gateway.aclose()
        sent = [r.body for r in alpha.chat_requests]
    assert again is not None and again.content == "cold"
    assert [b["temperature"] for b in sent] == [0.7, 0.0]
    assert again.params is not None and again.params.temperature == 0.0
    assert service.conversation.params.temperature == 0.7  # the session's dials stay
    saved = {m.id: m for m in load_session(sink.file.path).messages}
    assert saved[again.id].params == again.params


async def test_a_replay_too_long_for_the_other_window_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    with OpenAIServer() as alpha, OpenAIServer() as beta:
        service, _ = await service_on(alpha, tmp_path)
        tiny = Gateway(OpenAIBackend("beta", beta.base_url, "b-one"), configured_window=20)
        first = await service.send("word " * 40, quiet)
        assert first is not None
        before = service.conversation.thread()
        said: list[EngineEvent] = []

        async def report(event: EngineEvent) -> None:
            said.append(event)

        again = await service.replay(first, report, gateway=tiny)
        await service.gateway.aclose()
        await tiny.aclose()
    assert again is None and beta.chat_requests == []
    assert service.conversation.thread() == before
    [refused] = [e for e in said if isinstance(e, Refused)]
    assert "too long for beta" in refused.reason


async def test_a_replay_to_a_backend_whose_window_nobody_knows_leaves_out_what_the_session_does(
    tmp_path: Path,
) -> None:
    with OpenAIServer() as alpha, OpenAIServer() as beta:
        for _ in range(6):
            alpha.push(Script(reply="ok " * 30))
        service, _ = await service_on(alpha, tmp_path, window=400)
        last = None
        for n in range(6):
            last = await service.send(f"question {n} " + "padding " * 40, quiet)
        assert last is not None and service.last_request is not None
        own = len(alpha.chat_requests[-1].body["messages"])
        assert service.last_request.planned.skipped > 0  # the session's window is full
        unknown = gateway_at(beta, "beta", "some-unlisted-model")
        await service.replay(last, quiet, gateway=unknown)
        await service.gateway.aclose()
        await unknown.aclose()
    assert len(beta.chat_requests[-1].body["messages"]) == own  # not the whole history


async def test_a_failed_replay_records_where_it_went(tmp_path: Path) -> None:
    with OpenAIServer() as alpha, OpenAIServer() as beta:
        alpha.push(Script(reply="alpha"))
        beta.push(Script.http_error(401, "bad key"))
        service, _ = await service_on(alpha, tmp_path)
        first = await service.send("hello?", quiet)
        assert first is not None
        other = gateway_at(beta, "beta", "b-one")
        again = await service.replay(first, quiet, gateway=other)
        await service.gateway.aclose()
        await other.aclose()
    assert again is not None and again.status.value == "error"
    assert (again.backend, again.model) == ("beta", "b-one")


async def test_a_replays_tokens_are_counted_by_the_targets_counter(tmp_path: Path) -> None:
    with OpenAIServer() as alpha, OpenAIServer() as beta:
        alpha.push(Script(reply="alpha"))
        beta.push(Script(reply="beta"))
        service, _ = await service_on(alpha, tmp_path)
        service.meter.counter.use(lambda text: len(text.split()), "o200k_base")  # exact
        first = await service.send("hello?", quiet)
        assert first is not None and service.last_request is not None
        assert service.last_request.planned.counted_by == "tiktoken o200k_base"
        other = gateway_at(beta, "beta", "b-one")  # no tokenizer at hand: an estimate
        await service.replay(first, quiet, gateway=other)
        await service.gateway.aclose()
        await other.aclose()
    planned = service.last_request.planned
    assert planned.counted_by == "estimate" and not planned.exact


async def test_a_count_of_a_request_with_images_is_marked_an_estimate(tmp_path: Path) -> None:
    with OpenAIServer() as alpha:
        service, _ = await service_on(alpha, tmp_path)
        service.meter.counter.use(lambda text: len(text.split()), "o200k_base")
        upcoming = await service.next_request("what is this?", (WireImage("image/png", PNG),))
        await service.gateway.aclose()
    assert not isinstance(upcoming, str)
    assert upcoming.planned.counted_by == "tiktoken o200k_base"
    assert not upcoming.planned.exact  # images: ≈
    [asked] = upcoming.sent[0].payload()["messages"]
    assert any(part.get("type") == "image_url" for part in asked["content"])  # as it would go
