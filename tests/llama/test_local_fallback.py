"""A dead primary falls back to the local llama-server: the switch is shown, and the
saved reply records the local backend and its model.

The primary is an OpenAI-compatible backend on a loopback port nothing listens on; its
`fallback = ["local"]` is the real llama-server of this folder's fixture, with the bundled
model. The turn runs through the engine both front ends use (`ChatService`, built as
`llmchat -p` builds it), and once more through the `llmchat -p` command itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llmchat import paths
from llmchat.config import CliOverrides, load_config, resolve_backend
from llmchat.core.events import FellBack, Started
from llmchat.core.messages import Role, Status
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent, ReplyEnded
from llmchat.launch import SessionOpener
from llmchat.local.server_process import ManagedServer
from llmchat.store import list_sessions, load_session

MAX_TOKENS = 8
"""Enough for a non-empty reply from the tiny model, and quick."""


def dead_port() -> int:
    """A loopback port that was free a moment ago and that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(home: Path, local: ManagedServer) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(
        'default_backend = "main"\n\n'
        "[backends.main]\n"
        'kind = "openai"\n'
        f'base_url = "http://127.0.0.1:{dead_port()}/v1"\n'
        'model = "primary-model"\n'
        'fallback = ["local"]\n\n'
        "[backends.local]\n"
        'kind = "llamacpp"\n'
        f'base_url = "{local.base_url}"\n'
        f'model = "{local.alias}"\n\n'
        f"[sampling]\nmax_tokens = {MAX_TOKENS}\ntemperature = 0.0\n",
        encoding="utf-8",
    )
    return path


def saved_reply(home: Path) -> tuple[str | None, str | None, str, Status]:
    """The assistant message as the session file holds it, read back from disk."""
    [summary] = list_sessions(home / "sessions")
    [reply] = [m for m in load_session(summary.path).messages if m.role is Role.ASSISTANT]
    return reply.backend, reply.model, reply.content, reply.status


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LLMCHAT_HOME", str(home))
    for name in ("LLMCHAT_CONFIG", "LLMCHAT_MODEL", "LLMCHAT_BASE_URL", "LLMCHAT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return home


async def test_a_dead_primary_falls_back_to_the_local_server_and_the_reply_records_it(
    llama_server: ManagedServer, home: Path
) -> None:
    config = load_config(write_config(home, llama_server)).config
    backend = resolve_backend(config, {}, CliOverrides()).backend
    assert backend is not None and backend.name == "main"
    opener = SessionOpener(paths.sessions_dir(), backend, config, None)
    opened = opener.open(None)
    gateway = opener.gateway()
    events: list[EngineEvent] = []

    async def report(event: EngineEvent) -> None:
        events.append(event)

    try:
        meter = ContextMeter(opened.conversation, gateway, backend.model)
        await meter.prepare()
        service = ChatService(opened.conversation, gateway, meter, model=lambda: backend.model)
        await service.send("Name a colour.", report)
    finally:
        await gateway.aclose()
        opened.close()

    [fell] = [e for e in events if isinstance(e, FellBack)]
    assert (fell.from_backend, fell.to_backend) == ("main", "local")
    assert "cannot connect" in fell.reason
    [started] = [e for e in events if isinstance(e, Started)]
    assert (started.backend, started.model) == ("local", llama_server.alias)
    [ended] = [e for e in events if isinstance(e, ReplyEnded)]
    assert ended.message.content.strip()

    backend_name, model, content, status = saved_reply(home)
    assert (backend_name, model) == ("local", llama_server.alias)
    assert status is Status.COMPLETE
    assert content.strip() and content == ended.message.content


def test_print_mode_says_it_fell_back_to_the_local_server(
    llama_server: ManagedServer, home: Path
) -> None:
    config = write_config(home, llama_server)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    env.update(LLMCHAT_HOME=str(home), LLMCHAT_CONFIG=str(config))
    done = subprocess.run(
        [sys.executable, "-m", "llmchat", "-p", "Name a colour."],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "llmchat: main failed, asking local: main: cannot connect" in done.stderr
    assert done.stdout.strip()
    backend_name, model, content, _ = saved_reply(home)
    assert (backend_name, model) == ("local", llama_server.alias)
    assert content.strip()
