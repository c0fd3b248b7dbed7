"""What the app itself writes to a real terminal (a pty) while a hostile reply streams:
every byte, checked for sequences and controls that came from outside (bad-input.md,
"Terminal output")."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from benchmarks.pty_session import PtySession

from llmchat.core.messages import Status
from tests.support.hostile import hostile, raw_leaks
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import only_session

pytestmark = pytest.mark.family("escapes")


def test_a_hostile_reply_split_at_every_byte_reaches_the_terminal_harmlessly(
    server: OpenAIServer, home: Path
) -> None:
    reply = "\n\n".join(hostile(f"PIECE{n}") for n in range(3))
    server.push(Script(reply=reply, byte_writes=True))
    env = {
        **os.environ,
        "LLMCHAT_HOME": str(home),
        "OPENAI_BASE_URL": server.base_url,
        "TERM": "xterm-256color",
    }
    with PtySession.spawn([sys.executable, "-m", "llmchat"], env, columns=100, rows=40) as app:
        app.keep_everything()
        app.expect("Message", timeout=30)
        app.write(b"go\r")
        app.expect("PIECE2", timeout=30)
        saved = None
        for _ in range(60):  # until the reply is complete in the session file
            app.pump(0.5)
            messages = only_session().messages
            saved = messages[-1] if len(messages) == 2 else None
            if saved is not None and saved.status is Status.COMPLETE:
                break
        app.write(b"\x11")  # ctrl+q
        app.wait_exit(timeout=20)
        assert app.everything is not None
        written = bytes(app.everything).decode("utf-8", errors="replace")
    assert saved is not None and saved.content == reply  # stored exactly
    assert raw_leaks(written) == []
