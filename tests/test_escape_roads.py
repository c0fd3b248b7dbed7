"""Outside text on its way to a terminal in `llmchat -p` and in llmchat's messages.

`-p` runs in a real pseudo-terminal (the `pty` module) against the loopback server, and
the raw bytes it writes are checked: llmchat's own styling could be there, the hostile
corpus's sequences (OSC, CSI, DCS, APC, C1, bidi controls) never. A pipe gets the reply
exactly, except a lone surrogate, which no encoding can carry.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from llmchat.config import CliOverrides, Config, ResolutionError, load_config, resolve_backend
from llmchat.core.messages import Status
from llmchat.paths import AppPaths
from llmchat.store import list_sessions, load_session
from tests.support.hostile import (
    HOSTILE_SESSION_ID,
    hostile,
    raw_leaks,
    toml_key,
    write_hostile_session,
)
from tests.support.openai_server import OpenAIServer, Script

pytestmark = pytest.mark.family("escapes")


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    env.update(LLMCHAT_HOME=str(home), TERM="xterm-256color", **extra)
    return env


def in_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run `llmchat ARGS` with stdin, stdout and stderr on a pseudo-terminal; its exit
    status and every byte it wrote there (decoded with surrogateescape, so nothing hides)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "llmchat", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    written = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        written += chunk
    os.close(leader)
    return process.wait(timeout=60), written.decode("utf-8", "surrogateescape")


def sessions_dir(home: Path) -> Path:
    return AppPaths.from_env({"LLMCHAT_HOME": str(home)}).sessions_dir


# -- the holes the fault campaign found --------------------------------------------------


def test_an_unknown_config_key_holding_an_escape_is_named_by_its_toml_escapes(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"{toml_key(hostile('KEY', surrogate=False))} = 1\n", encoding="utf-8")
    [warning] = load_config(config).warning_lines()
    assert raw_leaks(warning) == []
    assert '"KEY \\u001B]0;PWN-TITLE\\u0007' in warning  # as the file spells it
    assert "unknown key" in warning


def test_a_base_url_from_the_environment_holding_an_escape_is_refused_without_echoing_it() -> None:
    env = {"LLMCHAT_BASE_URL": "http://127.0.0.1:9/\x1b]0;PWN-TITLE\x07/v1"}
    with pytest.raises(ResolutionError) as refused:
        resolve_backend(Config(), env, CliOverrides())
    assert str(refused.value) == (
        "LLMCHAT_BASE_URL is not a valid URL (it holds a control character)"
    )


def test_a_lone_surrogate_streamed_to_a_pipe_becomes_a_stand_in_and_is_stored_exactly(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="before \ud800 after"))
    result = subprocess.run(
        [sys.executable, "-m", "llmchat", "-p", "hi"],
        env=environment(tmp_path, OPENAI_BASE_URL=server.base_url),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode("utf-8") == "before \ufffd after\n"
    assert b"Traceback" not in result.stderr
    [summary] = list_sessions(sessions_dir(tmp_path))
    reply = load_session(summary.path).messages[-1]
    assert (reply.content, reply.status) == ("before \ud800 after", Status.COMPLETE)


# -- every road, in a terminal -----------------------------------------------------------


def test_print_mode_in_a_terminal_writes_no_outside_text_raw(
    server: OpenAIServer, tmp_path: Path
) -> None:
    """Config key and backend names, the key-not-sent notice, a resumed session's stored
    names (the "This session was with…" notice), the reply: all on one terminal."""
    port = server.base_url.split(":")[2].split("/")[0]
    config = tmp_path / "config.toml"
    config.write_text(
        f"{toml_key(hostile('UNKNOWN-KEY', surrogate=False))} = 1\n"
        f"[backends.{toml_key(hostile('BACKEND-NAME', surrogate=False))}]\n"
        f'base_url = "http://localhost:{port}/v1"\n'
        'api_key = "sk-test-0123456789abcdef"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    write_hostile_session(sessions_dir(tmp_path))
    server.push(Script(reply=hostile("REPLY-ROAD")))
    env = environment(tmp_path, LLMCHAT_CONFIG=str(config), LLMCHAT_BASE_URL=server.base_url)
    status, written = in_terminal("-p", "hi", "--resume", HOSTILE_SESSION_ID, env=env)
    assert status == 0, written
    assert raw_leaks(written) == []
    for tag in ("UNKNOWN-KEY", "BACKEND-NAME", "STORED-BACKEND", "REPLY-ROAD"):
        assert tag in written, tag
    assert "[@click=app.quit]Q[/]" in written


def test_print_mode_in_a_terminal_shows_errors_names_and_paths_harmlessly(
    server: OpenAIServer, tmp_path: Path
) -> None:
    """A server's error body, a model named by LLMCHAT_MODEL, and the messages that echo
    what the user gave: a bad LLMCHAT_BASE_URL, a --model-file path, a session id."""
    server.push(Script.http_error(400, hostile("ERROR-ROAD")))
    model = hostile("ENV-MODEL", nul=False, surrogate=False)
    path = hostile("FILE-NAME", nul=False, surrogate=False)
    runs = [
        (1, ["-p", "hi"], {"OPENAI_BASE_URL": server.base_url, "LLMCHAT_MODEL": model}),
        (2, ["-p", "hi"], {"LLMCHAT_BASE_URL": "http://127.0.0.1:9/\x1b]0;PWN-TITLE\x07"}),
        (2, ["-p", "hi", "--model-file", path], {"OPENAI_BASE_URL": server.base_url}),
        (1, ["-p", "hi", "--resume", path], {"OPENAI_BASE_URL": server.base_url}),
    ]
    for expected, args, extra in runs:
        status, written = in_terminal(*args, env=environment(tmp_path, **extra))
        assert status == expected, written
        assert raw_leaks(written) == [], args
        assert "Traceback" not in written
    assert server.chat_requests[0].body["model"] == model  # sent exactly, shown safely


# -- model names from the server ---------------------------------------------------------


async def test_the_model_list_gives_the_server_s_names_exactly(server: OpenAIServer) -> None:
    """Only the screen neutralises a name; sent back or stored, it must be the same."""
    from llmchat.backends.openai import OpenAIBackend

    name = hostile("MODELS-ROAD")
    server.models = (name, "evil\x1b]0;pwned\x07")
    backend = OpenAIBackend("local", server.base_url, "m")
    try:
        assert await backend.list_models() == sorted([name, "evil\x1b]0;pwned\x07"])
    finally:
        await backend.aclose()


def test_print_mode_sends_and_stores_the_server_s_model_exactly_and_shows_nothing_raw(
    server: OpenAIServer, tmp_path: Path
) -> None:
    name = hostile("MODELS-ROAD")
    server.models = (name,)
    server.push(Script(reply="fine"))
    env = environment(tmp_path, LLMCHAT_BASE_URL=server.base_url)
    status, written = in_terminal("-p", "hi", env=env)
    assert status == 0, written
    assert raw_leaks(written) == []
    assert server.chat_requests[0].body["model"] == name
    [summary] = list_sessions(sessions_dir(tmp_path))
    reply = load_session(summary.path).messages[-1]
    assert (reply.status, reply.model) == (Status.COMPLETE, name)
