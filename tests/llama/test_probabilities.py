"""The probability pool against the real llama-server: the reply comes with each token's
log-probability and alternatives, they are saved with it and read back, top-k and min-p
are sent as the view shows them, and "resample from here" continues the reply from a
chosen alternative as a new branch.

Through the engine both front ends use (`ChatService`), as `llmchat -p` builds it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmchat import paths
from llmchat.config import CliOverrides, load_config, resolve_backend
from llmchat.core.events import RequestSent
from llmchat.core.messages import Message, Role, Status
from llmchat.core.probability_pool import Dials, reweigh
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.launch import SessionOpener
from llmchat.local.server_process import ManagedServer
from llmchat.store import list_sessions, load_session

ALTERNATIVES = 5


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LLMCHAT_HOME", str(home))
    for name in ("LLMCHAT_CONFIG", "LLMCHAT_MODEL", "LLMCHAT_BASE_URL", "LLMCHAT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    home.mkdir(parents=True)
    return home


async def run_chat(home: Path, server: ManagedServer, steps) -> list[EngineEvent]:  # type: ignore[no-untyped-def]
    config_file = home / "config.toml"
    config_file.write_text(
        'default_backend = "local"\n\n[backends.local]\nkind = "llamacpp"\n'
        f'base_url = "{server.base_url}"\nmodel = "{server.alias}"\n\n'
        "[sampling]\nmax_tokens = 12\ntemperature = 0.0\n",
        encoding="utf-8",
    )
    config = load_config(config_file).config
    backend = resolve_backend(config, {}, CliOverrides()).backend
    assert backend is not None
    opened = SessionOpener(paths.sessions_dir(), backend, config, None).open(None)
    gateway = SessionOpener(paths.sessions_dir(), backend, config, None).gateway()
    events: list[EngineEvent] = []

    async def report(event: EngineEvent) -> None:
        events.append(event)

    try:
        meter = ContextMeter(opened.conversation, gateway, backend.model)
        await meter.prepare()
        service = ChatService(opened.conversation, gateway, meter, model=lambda: backend.model)
        await steps(service, report)
    finally:
        await gateway.aclose()
        opened.close()
    return events


def saved_replies(home: Path) -> list[Message]:
    [summary] = list_sessions(home / "sessions")
    return [m for m in load_session(summary.path).messages if m.role is Role.ASSISTANT]


async def test_replies_carry_their_token_probabilities_saved_and_read_back(
    llama_server: ManagedServer, home: Path
) -> None:
    async def steps(service: ChatService, report) -> None:  # type: ignore[no-untyped-def]
        service.probabilities = ALTERNATIVES
        await service.send("Name a colour.", report)

    events = await run_chat(home, llama_server, steps)

    [sent] = [e for e in events if isinstance(e, RequestSent)]
    body = sent.payload()
    assert body["logprobs"] is True and body["top_logprobs"] == ALTERNATIVES
    # top-k and min-p are named: the server's own defaults from /props (40, 0.05).
    assert (body["top_k"], body["min_p"]) == (40, pytest.approx(0.05))

    [reply] = saved_replies(home)
    assert reply.status is Status.COMPLETE
    probs = reply.probabilities
    assert probs is not None and len(probs) > 0
    assert probs.text() == reply.content
    for token in probs.tokens:
        assert 0 < len(token.top) <= ALTERNATIVES
        assert token.logprob <= 0
        # At temperature 0 the model's pick is its most likely token.
        assert token.token == token.top[0].token
    pool = reweigh(probs.tokens[0], Dials(0.0, 1.0, 40, 0.05), "llama.cpp")
    assert pool.rows[0].share == 1.0  # greedy


async def test_resample_from_a_token_continues_with_the_chosen_alternative_as_a_branch(
    llama_server: ManagedServer, home: Path
) -> None:
    replies: list[Message] = []
    starts: list[str] = []

    async def steps(service: ChatService, report) -> None:  # type: ignore[no-untyped-def]
        service.probabilities = ALTERNATIVES
        first = await service.send("Name a colour.", report)
        assert first is not None and first.probabilities is not None
        index = min(1, len(first.probabilities) - 1)
        alternative = first.probabilities.tokens[index].top[1].token
        again = await service.resample(first, index, alternative, report)
        assert again is not None
        replies.extend([first, again])
        start = "".join(t.token for t in first.probabilities.tokens[:index]) + alternative
        assert again.content.startswith(start)
        starts.append(start)

    events = await run_chat(home, llama_server, steps)

    first, again = replies
    assert again.parent == first.parent and again.id != first.id  # a sibling
    assert again.status is Status.COMPLETE
    raw = [e for e in events if isinstance(e, RequestSent)][-1]
    assert raw.url.endswith("/completion")
    # The raw prompt: the chat's templated prompt, then the reply up to the chosen token.
    assert json.loads(raw.body)["prompt"].endswith(starts[0])
    saved = saved_replies(home)
    assert [m.id for m in saved] == [first.id, again.id]
    assert saved[1].content == again.content
    assert saved[1].probabilities is not None
    assert saved[1].resampled_at == min(1, len(first.probabilities or ()) - 1)
