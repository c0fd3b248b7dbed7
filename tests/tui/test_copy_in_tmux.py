"""Copying through a real terminal: the OSC 52 llmchat writes reaches the clipboard.

tmux with `set-clipboard on` is a terminal that records OSC 52: each one becomes a paste
buffer (`tmux show-buffer`). llmchat runs in a private tmux server against the loopback
server, a user's keys are sent to it, and the buffer is read back. CI installs tmux
(.ci/run); without it this test fails rather than passing unseen.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.openai_server import OpenAIServer, Script

WAIT_S = 30.0
REPLY = "Run this:\n\n```sh\necho copied-through-tmux\n```\n\nThen\x1b[201~ check."


class Tmux:
    """A private tmux server (its own socket) holding one session."""

    def __init__(self, executable: str, env: dict[str, str], config: Path) -> None:
        self.executable = executable
        self.env = env
        self.config = config
        self.socket = f"llmchat-test-{uuid.uuid4().hex[:10]}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, "-L", self.socket, "-f", str(self.config), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "chat").stdout

    def buffer(self) -> str | None:
        shown = self.run("show-buffer", check=False)
        return shown.stdout if shown.returncode == 0 else None

    def wait_for(self, what: str, found: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not found():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; the screen:\n{self.screen()}")
            time.sleep(0.1)


@pytest.fixture
def tmux(tmp_path: Path, home: Path) -> Iterator[Tmux]:
    executable = shutil.which("tmux")
    if executable is None:
        pytest.fail("tmux is not installed: this test needs it (apt-get install -y tmux)")
    config = tmp_path / "tmux.conf"
    config.write_text("set -s set-clipboard on\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env["LLMCHAT_HOME"] = str(home)
    session = Tmux(executable, env, config)
    try:
        yield session
    finally:
        session.run("kill-server", check=False)


def test_the_copy_keys_put_the_text_in_the_terminals_clipboard(
    tmux: Tmux, server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply=REPLY))
    command = [sys.executable, "-m", "llmchat", "--base-url", server.base_url]
    tmux.run("new-session", "-d", "-s", "chat", "-x", "120", "-y", "40", shlex.join(command))
    tmux.wait_for("the chat screen", lambda: "New session" in tmux.screen())

    tmux.run("send-keys", "-t", "chat", "q", "Enter")
    tmux.wait_for("the reply to finish", lambda: "✓" in tmux.screen())

    tmux.run("send-keys", "-t", "chat", "C-o")
    tmux.wait_for("the reply in a paste buffer", lambda: tmux.buffer() is not None)
    whole = REPLY.replace("\x1b", "")
    assert tmux.buffer() == whole
    saved = home / "state" / "clipboard.txt"
    tmux.wait_for("the clipboard file", saved.exists)
    assert saved.read_text(encoding="utf-8") == whole

    tmux.run("send-keys", "-t", "chat", "C-g")
    tmux.wait_for("the code in a paste buffer", lambda: tmux.buffer() != whole)
    assert tmux.buffer() == "echo copied-through-tmux"
    tmux.wait_for("the notice", lambda: "Copied sh code block" in tmux.screen())
