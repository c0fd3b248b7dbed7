"""Stopping llmchat mid-reply, from outside: the shown text is never lost."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchmarks.pty_session import PtySession

from llmchat import paths
from llmchat.core.messages import Role, Status
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import only_session

pytestmark = pytest.mark.family("signals")

REPLY = " ".join(f"word{n}" for n in range(400))


def start(server: OpenAIServer, home: Path) -> PtySession:
    env = {
        **os.environ,
        "LLMCHAT_HOME": str(home),
        "OPENAI_BASE_URL": server.base_url,
        "TERM": "xterm-256color",
    }
    app = PtySession.spawn([sys.executable, "-m", "llmchat"], env, columns=100, rows=30)
    app.expect("Message", timeout=30)
    app.write(b"go\r")
    app.expect("word5", timeout=30)  # the reply is on screen, far from its end
    return app


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_mid_reply_saves_the_shown_text_marked_interrupted(
    server: OpenAIServer, home: Path, signum: signal.Signals
) -> None:
    server.push(Script(reply=REPLY, rate=40))
    with start(server, home) as app:
        os.kill(app.pid, signum)
        assert app.wait_exit(timeout=20) == 128 + signum  # as a shell reports it
        assert_terminal_restored(app.tail_bytes())
    reply = only_session().messages[-1]
    assert reply.role is Role.ASSISTANT and reply.status is Status.INTERRUPTED
    assert reply.content.startswith("word0 word1") and "word5" in reply.content
    assert len(reply.content) < len(REPLY)


SGR = re.compile(rb"\x1b\[([0-9;:]*)m")
LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"


def assert_terminal_restored(output: bytes) -> None:
    """The terminal is as the app found it: out of the alternate screen, with no colour
    or attribute left on (the last SGR sequence resets them all), cursor shown."""
    assert LEAVE_ALTERNATE_SCREEN in output, output[-300:]
    leaving = output.rindex(LEAVE_ALTERNATE_SCREEN)
    assert b"\x1b[?1049h" not in output[leaving:]
    last_sgr = SGR.findall(output)[-1:]
    assert last_sgr in ([b""], [b"0"]), last_sgr
    assert b"\x1b[?25h" in output[leaving:] or output.rfind(b"\x1b[?25l") < leaving


def test_kill_9_mid_reply_leaves_the_last_checkpoint_marked_interrupted(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply=REPLY, rate=40))
    with start(server, home) as app:
        app.pump(2.5)  # past at least two checkpoints
        os.kill(app.pid, signal.SIGKILL)
        app.wait_exit(timeout=20)
    messages = only_session().messages
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT]
    reply = messages[-1]
    assert reply.status is Status.INTERRUPTED
    assert reply.content.startswith("word0 word1 word2")
    assert paths.sessions_dir() in only_session().path.parents


def print_mode(server: OpenAIServer, home: Path) -> subprocess.Popen[bytes]:
    """`llmchat -p` streaming a long reply into a pipe, read until it is well under way."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    env.update(LLMCHAT_HOME=str(home), OPENAI_BASE_URL=server.base_url)
    return subprocess.Popen(
        [sys.executable, "-m", "llmchat", "-p", "go"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def read_until(process: subprocess.Popen[bytes], text: bytes, timeout: float) -> bytes:
    assert process.stdout is not None
    seen, deadline = b"", time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([process.stdout], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"{text!r} not printed within {timeout} s: {seen[-200:]!r}")
        chunk = os.read(process.stdout.fileno(), 65536)
        assert chunk, f"stdout closed before {text!r}: {seen[-200:]!r}"
        seen += chunk
    return seen


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_print_mode_mid_reply_saves_what_was_printed_as_interrupted(
    server: OpenAIServer, home: Path, signum: signal.Signals
) -> None:
    server.push(Script(reply=REPLY, rate=40))
    with print_mode(server, home) as process:
        printed = read_until(process, b"word5", timeout=30)
        os.kill(process.pid, signum)
        rest, errors = process.communicate(timeout=20)
    printed += rest
    assert process.returncode == 128 + signum, errors
    assert f"stopped by {signum.name}".encode() in errors
    assert b"Traceback" not in errors
    reply = only_session().messages[-1]
    assert reply.role is Role.ASSISTANT and reply.status is Status.INTERRUPTED
    assert "word5" in reply.content and len(reply.content) < len(REPLY)
    # Exactly what was printed: nothing shown is lost, nothing unshown is claimed.
    assert printed.decode() == reply.content + "\n"
