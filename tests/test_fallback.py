"""The fallback chain: from the config table to the reply that records who answered.

Two real loopback servers: a primary that fails (or is not there at all) and a healthy
fallback. Waits are a fake sleep and a fake clock in process; the `-p` run, which cannot
be given fakes, gets failures that ask for no wait (`Retry-After: 0`).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.config import CliOverrides, ConfigError, load_config, parse_config, resolve_backend
from llmchat.config.fallback import resolve_fallbacks
from llmchat.core.events import (
    ErrorKind,
    Failed,
    FellBack,
    Finished,
    Started,
    StreamEvent,
)
from llmchat.core.messages import Role
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.gateway.breaker import BreakerState, CircuitBreaker
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from llmchat.launch import build_launch
from llmchat.store import list_sessions, load_session
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.prompt_input import PromptInput
from llmchat.tui.widgets.reply_view import ReplyView
from tests.support.openai_server import Fault, OpenAIServer, Script
from tests.tui.helpers import wait_for_reply

pytestmark = pytest.mark.family("retries")

REQUEST = ChatRequest(
    messages=(WireMessage("user", "Hello?"),),
    params=SamplingParams(max_tokens=32),
    model="primary-model",
)
NO_WAIT = {"Retry-After": "0"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def failing(status: int = 502, times: int = 3) -> list[Script]:
    return [Script.http_error(status, "upstream is down", headers=NO_WAIT) for _ in range(times)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def no_sleep(seconds: float) -> None:
    return None


# -- the config -------------------------------------------------------------------------

TWO = """
[backends.main]
base_url = "http://127.0.0.1:1/v1"
{fallback}

[backends.backup]
base_url = "http://127.0.0.1:2/v1"
model = "backup-model"
"""


def error_for(fallback: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(TWO.format(fallback=fallback), Path("/cfg/config.toml"))
    return caught.value


def test_a_backend_names_its_fallbacks_in_order() -> None:
    config, _ = parse_config(TWO.format(fallback='fallback = ["backup"]'))
    assert config.backends["main"].fallback == ("backup",)
    assert config.backends["backup"].fallback == ()


@pytest.mark.parametrize(
    ("fallback", "says"),
    [
        ('fallback = ["bakup"]', "'bakup' is not a configured backend"),
        ('fallback = ["main"]', "is this backend itself"),
        ('fallback = ["backup", "backup"]', "'backup' is named twice"),
        ('fallback = "backup"', "expected an array of backend names, got a string"),
        ("fallback = [1]", "expected an array of backend names"),
    ],
    ids=["unknown", "itself", "twice", "not-an-array", "not-names"],
)
def test_a_bad_fallback_is_a_located_config_error(fallback: str, says: str) -> None:
    error = error_for(fallback)
    assert error.key == "backends.main.fallback"
    assert error.line == 4
    assert says in error.message


def test_an_unknown_fallback_gets_a_suggestion() -> None:
    assert "did you mean 'backup'?" in error_for('fallback = ["bakup"]').message


def test_a_fallback_must_be_a_running_server_not_a_model_file(tmp_path: Path) -> None:
    text = (
        '[backends.main]\nbase_url = "http://127.0.0.1:1/v1"\nfallback = ["gguf"]\n\n'
        '[backends.gguf]\nkind = "llamacpp"\nmodel_file = "m.gguf"\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, tmp_path / "config.toml")
    assert caught.value.key == "backends.main.fallback"
    assert "model_file" in caught.value.message


def test_fallbacks_resolve_from_their_own_tables_not_the_run_overrides() -> None:
    config, _ = parse_config(TWO.format(fallback='fallback = ["backup"]'))
    env = {"LLMCHAT_MODEL": "only-for-the-primary", "LLMCHAT_BASE_URL": "http://127.0.0.1:9/v1"}
    primary = resolve_backend(config, env, CliOverrides()).backend
    assert primary is not None and primary.model == "only-for-the-primary"
    chain, _ = resolve_fallbacks(config, env, primary)
    assert [(b.name, b.model, b.base_url) for b in chain] == [
        ("backup", "backup-model", "http://127.0.0.1:2/v1")
    ]


# -- the gateway, over two loopback servers ------------------------------------------------


@pytest.fixture
def backup_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def chain(primary_url: str, backup_url: str, clock: FakeClock | None = None) -> Gateway:
    breaker = CircuitBreaker(threshold=3, cooldown_s=30, clock=clock or FakeClock())
    backup = Gateway(
        OpenAIBackend("backup", backup_url, "backup-model"),
        RetryPolicy(rng=random.Random(1)),
        sleep=no_sleep,
    )
    return Gateway(
        OpenAIBackend("main", primary_url, "primary-model"),
        RetryPolicy(rng=random.Random(1)),
        sleep=no_sleep,
        breaker=breaker,
        fallbacks=(backup,),
    )


async def run(gateway: Gateway) -> list[StreamEvent]:
    return [event async for event in gateway.stream(REQUEST)]


async def test_a_dead_primary_falls_back_and_the_fallback_answers_with_its_own_model(
    backup_server: OpenAIServer,
) -> None:
    backup_server.push(Script(reply="from the backup"))
    gateway = chain(f"http://127.0.0.1:{closed_port()}/v1", backup_server.base_url)
    try:
        events = await run(gateway)
    finally:
        await gateway.aclose()
    [fell] = [e for e in events if isinstance(e, FellBack)]
    assert (fell.from_backend, fell.to_backend) == ("main", "backup")
    assert "main" in fell.reason
    [started] = [e for e in events if isinstance(e, Started)]
    assert (started.backend, started.model) == ("backup", "backup-model")
    assert isinstance(events[-1], Finished)
    assert backup_server.chat_requests[0].body["model"] == "backup-model"


async def test_retries_are_used_up_on_the_primary_before_it_falls_back(
    server: OpenAIServer, backup_server: OpenAIServer
) -> None:
    server.push(*failing(times=3))
    gateway = chain(server.base_url, backup_server.base_url)
    try:
        events = await run(gateway)
    finally:
        await gateway.aclose()
    assert len(server.chat_requests) == 3  # the first attempt and two retries
    assert len(backup_server.chat_requests) == 1
    assert isinstance(events[-1], Finished)


@pytest.mark.parametrize("status", [400, 401, 403, 422])
async def test_no_fallback_on_auth_or_content_errors(
    server: OpenAIServer, backup_server: OpenAIServer, status: int
) -> None:
    server.push(Script.http_error(status, "no"))
    gateway = chain(server.base_url, backup_server.base_url)
    try:
        events = await run(gateway)
    finally:
        await gateway.aclose()
    assert not [e for e in events if isinstance(e, FellBack)]
    assert isinstance(events[-1], Failed)
    assert backup_server.chat_requests == []


async def test_no_fallback_when_the_quota_is_exhausted(
    server: OpenAIServer, backup_server: OpenAIServer
) -> None:
    server.push(Script.http_error(429, "You exceeded your quota", code="insufficient_quota"))
    gateway = chain(server.base_url, backup_server.base_url)
    try:
        events = await run(gateway)
    finally:
        await gateway.aclose()
    assert isinstance(events[-1], Failed)
    assert events[-1].error.kind is ErrorKind.QUOTA
    assert backup_server.chat_requests == []


async def test_a_failure_after_the_first_token_stays_with_the_primary(
    server: OpenAIServer, backup_server: OpenAIServer
) -> None:
    server.push(Script(reply="one two three four", fault=Fault.DROP, fault_after=2))
    gateway = chain(server.base_url, backup_server.base_url)
    try:
        events = await run(gateway)
    finally:
        await gateway.aclose()
    assert isinstance(events[-1], Failed)
    assert not [e for e in events if isinstance(e, FellBack)]
    assert backup_server.chat_requests == []


async def test_an_open_breaker_goes_straight_to_the_fallback_then_back_once_it_closes(
    server: OpenAIServer, backup_server: OpenAIServer
) -> None:
    clock = FakeClock()
    gateway = chain(server.base_url, backup_server.base_url, clock)
    server.push(*failing(times=3))
    try:
        await run(gateway)  # three failures: the primary's breaker opens
        assert gateway.breaker.state is BreakerState.OPEN
        events = await run(gateway)  # the next turn does not ask the primary at all
        assert len(server.chat_requests) == 3
        [fell] = [e for e in events if isinstance(e, FellBack)]
        assert "backend main is failing: 3 errors in a row" in fell.reason
        assert isinstance(events[-1], Finished)

        clock.now += 30  # the cooldown is over: the primary answers the probe
        events = await run(gateway)
        [started] = [e for e in events if isinstance(e, Started)]
        assert started.backend == "main"
        assert len(server.chat_requests) == 4
        assert gateway.breaker.state is BreakerState.CLOSED
    finally:
        await gateway.aclose()


async def test_when_every_backend_fails_the_last_failure_is_reported(
    server: OpenAIServer, backup_server: OpenAIServer
) -> None:
    server.push(*failing(times=3))
    backup_server.push(*failing(times=3))
    gateway = chain(server.base_url, backup_server.base_url)
    try:
        events = await run(gateway)
    finally:
        await gateway.aclose()
    assert len([e for e in events if isinstance(e, FellBack)]) == 1
    assert isinstance(events[-1], Failed)
    assert events[-1].error.backend == "backup"


# -- the front ends ------------------------------------------------------------------------


def write_config(home: Path, primary: str, backup: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(
        f'[backends.main]\nbase_url = "{primary}"\nmodel = "primary-model"\n'
        'fallback = ["backup"]\n\n'
        f'[backends.backup]\nbase_url = "{backup}"\nmodel = "backup-model"\n',
        encoding="utf-8",
    )
    return path


def stored_replies(home: Path) -> list[tuple[str | None, str | None, str]]:
    [summary] = list_sessions(home / "sessions")
    loaded = load_session(summary.path)
    return [(m.backend, m.model, m.content) for m in loaded.messages if m.role is Role.ASSISTANT]


def test_print_mode_says_it_fell_back_and_stores_who_answered(
    server: OpenAIServer, backup_server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(*failing(times=3))
    backup_server.push(Script(reply="from the backup"))
    home = tmp_path / "home"
    config = write_config(home, server.base_url, backup_server.base_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    env.update(LLMCHAT_HOME=str(home), LLMCHAT_CONFIG=str(config))
    done = subprocess.run(
        [sys.executable, "-m", "llmchat", "-p", "hello"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from the backup"
    assert "llmchat: main failed, asking backup: main: HTTP 502" in done.stderr
    assert stored_replies(home) == [("backup", "backup-model", "from the backup")]


async def test_the_app_shows_the_switch_and_records_who_answered(
    server: OpenAIServer,
    backup_server: OpenAIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.push(*failing(times=3))
    backup_server.push(Script(reply="from the backup"))
    home = tmp_path / "home"
    config_path = write_config(home, server.base_url, backup_server.base_url)
    monkeypatch.setenv("LLMCHAT_HOME", str(home))
    monkeypatch.setenv("LLMCHAT_CONFIG", str(config_path))
    for name in ("LLMCHAT_MODEL", "LLMCHAT_BASE_URL", "LLMCHAT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    shown: list[str] = []
    show_progress = ReplyView.show_progress

    def spy(self: ReplyView, line: str) -> None:
        shown.append(line)
        show_progress(self, line)

    monkeypatch.setattr(ReplyView, "show_progress", spy)
    config = load_config(config_path).config
    resolution = resolve_backend(config, {}, CliOverrides())
    app = LlmChatApp(build_launch(resolution, config, [], None))
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.query_one(PromptInput).text = "hello"
        await pilot.press("enter")
        await wait_for_reply(app)
        await pilot.pause()
    assert any(line.startswith("main failed, asking backup — main: HTTP 502") for line in shown)
    assert stored_replies(home) == [("backup", "backup-model", "from the backup")]
