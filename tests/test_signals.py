"""Stopping llmchat mid-reply, from outside: the shown text is never lost."""

from __future__ import annotations

import os
import signal
import sys
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
        app.wait_exit(timeout=20)
    reply = only_session().messages[-1]
    assert reply.role is Role.ASSISTANT and reply.status is Status.INTERRUPTED
    assert reply.content.startswith("word0 word1") and "word5" in reply.content
    assert len(reply.content) < len(REPLY)


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
