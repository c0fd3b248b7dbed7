"""llmchat starting llama-server itself, and never leaving it behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmchat.config import CliOverrides, Config, resolve_backend
from llmchat.core.messages import Status
from llmchat.core.params import SamplingParams
from llmchat.launch import build_launch, with_local_server
from llmchat.paths import AppPaths
from llmchat.store import list_sessions, load_session
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.starting import StartingScreen
from llmchat.tui.widgets.context_gauge import ContextGauge
from llmchat.tui.widgets.prompt_input import PromptInput
from llmchat.tui.widgets.reply_view import ReplyView
from tests.tui.helpers import chat_app, wait_for_reply


def llmchat(home: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    env["LLMCHAT_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "llmchat", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def server_pids(model: Path) -> set[int]:
    """Processes of llama-server serving this model file (read from /proc)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"llama-server") and str(model).encode() in argv:
            pids.add(int(entry.name))
    return pids


def wait_until(condition, attempts: int = 300) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def private_copy(model: Path, home: Path) -> Path:
    """A link with its own name, so this test's server can be told from the shared one."""
    link = home / f"own-{os.getpid()}-{time.monotonic_ns()}.gguf"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(model)
    return link


def test_model_file_starts_a_server_answers_and_stops_it(gemma_file: Path, tmp_path: Path) -> None:
    model = private_copy(gemma_file, tmp_path)
    run = llmchat(tmp_path, "--model-file", str(model), "--max-tokens", "8", "-p", "Hi")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert out.strip()
    assert "llama-server is ready" in err
    assert server_pids(model) == set()
    [summary] = list_sessions(AppPaths.from_env({"LLMCHAT_HOME": str(tmp_path)}).sessions_dir)
    reply = load_session(summary.path).messages[-1]
    assert reply.status is Status.COMPLETE
    assert reply.timing is not None and reply.timing.prefill_ms is not None


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_server_does_not_outlive_llmchat(gemma_file: Path, tmp_path: Path, sig: int) -> None:
    model = private_copy(gemma_file, tmp_path)
    run = llmchat(
        tmp_path, "--model-file", str(model), "--max-tokens", "2000", "-p", "Tell a story"
    )
    try:
        assert wait_until(lambda: bool(server_pids(model)), attempts=600)
        started = server_pids(model)
        run.send_signal(sig)
        run.wait(30)
        assert wait_until(lambda: not (server_pids(model) & started))
    finally:
        run.kill()
        for pid in server_pids(model):
            os.kill(pid, signal.SIGKILL)


async def test_chatting_through_the_tui_shows_the_servers_own_figures(
    llama_server, home: Path
) -> None:  # type: ignore[no-untyped-def]
    short = Config(sampling=SamplingParams(temperature=0.0, max_tokens=12))
    app = chat_app(None, config=short, env={"OPENAI_BASE_URL": llama_server.base_url})
    async with app.run_test() as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await app.workers.wait_for_complete()  # the probe that recognises llama-server
        for turn in ("Hello", "Again"):
            await pilot.press(*turn, "enter")
            await wait_for_reply(app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        meta = str(screen.query(ReplyView).last().meta.render())
        budget = screen.query_one(ContextGauge).budget
    assert "prefill" in meta and "decode" in meta and "cache" in meta
    assert budget is not None and budget.exact
    assert budget.window == 2048 and 0 < budget.prompt <= budget.window


def test_with_nothing_configured_the_bundled_model_answers(tmp_path: Path) -> None:
    run = llmchat(tmp_path, "--max-tokens", "6", "-p", "Hi")
    out, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    assert "bundled model" in err
    assert out.strip()
    cache = AppPaths.from_env({"LLMCHAT_HOME": str(tmp_path)}).cache_dir
    assert (cache / "models" / "gemma-3-270m-q4_k_m.gguf").is_file()


async def test_what_is_typed_while_the_model_loads_becomes_the_draft(
    gemma_file: Path, home: Path
) -> None:
    config = Config(sampling=SamplingParams(temperature=0.0, max_tokens=6))
    resolution, local = with_local_server(resolve_backend(config, {}, CliOverrides()), gemma_file)
    app = LlmChatApp(build_launch(resolution, config, [], None, local))
    try:
        async with app.run_test() as pilot:
            assert isinstance(app.screen, StartingScreen)
            await pilot.press(*"Hi there", "backspace")  # before the server is up
            shown = str(app.screen.query_one("#starting-typed").render())
            assert "Kept as your message" in shown and "Hi ther" in shown
            for _ in range(600):  # the server starting (never a time asserted)
                if isinstance(app.screen, ChatScreen):
                    break
                await pilot.pause(0.1)
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ChatScreen)
            assert screen.query_one(PromptInput).text == "Hi ther"  # nothing sent by itself
            assert screen.conversation.messages == []
    finally:
        assert local is not None
        local.server.stop()
