"""What every benchmark run shares: paths, the child environment, the loopback server.

Children get a small, explicit environment instead of the caller's, so a key, a
`COLORTERM` or a `TEXTUAL_*` variable in the shell cannot change the figures. It puts
this repository's `src/` first on the children's path: the suite measures the code of
the checkout it belongs to (the commit it reports), whatever the venv has installed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
PYTHON = Path(sys.executable)
"""The venv's interpreter: the one running the suite."""
LLMCHAT = PYTHON.parent / "llmchat"
"""The installed console script, as a user would start it."""

PLACEHOLDER = "Enter sends"
"""Part of the prompt's placeholder: on screen once the chat screen is interactive."""
REPLY_TOKENS = 2000
COLUMNS, ROWS = 120, 40


def child_env(home: Path, base_url: str) -> dict[str, str]:
    """The environment of an llmchat child: a private home, the loopback server, a terminal.

    The home gets a config whose max_tokens leaves room for the whole benchmark reply:
    the loopback server, like a real one, stops at max_tokens.
    """
    config = home / "config.toml"
    if not config.exists():
        config.write_text("[sampling]\nmax_tokens = 8192\n", encoding="utf-8")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(home)),
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
        "LLMCHAT_HOME": str(home),
        "OPENAI_BASE_URL": base_url,
        "PYTHONPATH": str(SRC),
    }


@dataclass(frozen=True)
class LoopbackServer:
    """`python -m tests.support.openai_server` running in its own process."""

    process: subprocess.Popen[str]
    base_url: str
    markdown: bool


@contextlib.contextmanager
def loopback_server(*, markdown: bool, tokens: int = REPLY_TOKENS) -> Iterator[LoopbackServer]:
    """Serve a `tokens`-token reply (prose or Markdown) as fast as possible, on a free port.

    A separate process, like a local model server: its CPU is not the app's, but it does
    share the machine's two cores with the app, as a real local server would.
    """
    argv = [str(PYTHON), "-m", "tests.support.openai_server", "--port", "0"]
    argv += ["--tokens", str(tokens), "--rate", "0"] + (["--markdown"] if markdown else [])
    process = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("serving "):
            raise RuntimeError(f"the loopback server did not start: {line!r}")
        yield LoopbackServer(process, line.split()[1], markdown)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
