"""`llmchat -p` when its stdout cannot be written: a reader that stops (`| head`), a full
disk (`/dev/full`), a file at its size limit (`ulimit -f`). A real process against the
loopback server. No traceback; the stream stops; what came is saved, with why it ended;
one line on stderr and a non-zero exit (141, quietly, for a closed pipe)."""

from __future__ import annotations

import os
import resource
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from llmchat.core.messages import Message, Role, Status
from llmchat.paths import AppPaths
from llmchat.store import load_session
from tests.support.openai_server import OpenAIServer, Script

pytestmark = pytest.mark.family("sessions")

REPLY = " ".join(f"word{n}" for n in range(400))
LIMIT = 256 * 1024
"""RLIMIT_FSIZE for the runs under a size limit: far above what the session file reaches."""


def print_mode(
    home: Path,
    server: OpenAIServer,
    stdout: int | IO[bytes],
    preexec: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    environment.update(LLMCHAT_HOME=str(home), OPENAI_BASE_URL=server.base_url)
    return subprocess.Popen(
        [sys.executable, "-m", "llmchat", "-p", "go"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )


def read_until(process: subprocess.Popen[bytes], text: bytes, timeout: float) -> bytes:
    assert process.stdout is not None
    seen, deadline = b"", time.monotonic() + timeout
    while text not in seen:
        ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
        assert ready, f"{text!r} not printed within {timeout} s: {seen[-200:]!r}"
        chunk = os.read(process.stdout.fileno(), 65536)
        assert chunk, f"stdout closed before {text!r}: {seen[-200:]!r}"
        seen += chunk
    return seen


def the_reply(home: Path) -> Message:
    [path] = AppPaths.from_env({"LLMCHAT_HOME": str(home)}).sessions_dir.glob("*.jsonl")
    loaded = load_session(path)
    assert loaded.warnings == []
    assert [m.role for m in loaded.messages] == [Role.USER, Role.ASSISTANT]
    return loaded.messages[-1]


def assert_no_traceback(errors: str) -> None:
    assert "Traceback" not in errors, errors
    assert "Exception ignored" not in errors, errors


def test_a_reader_that_stops_reading_stops_the_reply_which_is_saved_as_interrupted(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply=REPLY, rate=20))
    with print_mode(tmp_path, server, subprocess.PIPE) as process:
        printed = read_until(process, b"word3", timeout=30)
        assert process.stdout is not None
        process.stdout.close()  # `| head -c 100` has what it wanted
        errors = process.stderr.read().decode() if process.stderr else ""
        process.wait(timeout=20)
    assert process.returncode == 141, errors  # 128 + SIGPIPE, as a shell says
    assert errors == ""  # quietly, like any command whose reader left
    assert server.chat_requests[-1].client_disconnected  # the stream was closed
    reply = the_reply(tmp_path)
    assert reply.status is Status.INTERRUPTED
    assert reply.error == "stdout closed"
    assert reply.content.startswith(printed.decode())
    assert len(reply.content) < len(REPLY)


def test_stdout_on_a_full_disk_stops_the_reply_saves_it_and_says_why(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply=REPLY, rate=200))
    with open("/dev/full", "wb") as full, print_mode(tmp_path, server, full) as process:
        _, raw = process.communicate(timeout=60)
    errors = raw.decode()
    assert process.returncode == 1, errors
    assert_no_traceback(errors)
    [line] = errors.splitlines()
    assert line.startswith("llmchat: could not write the reply to stdout: No space left")
    assert "saved as interrupted" in line
    assert server.chat_requests[-1].client_disconnected
    reply = the_reply(tmp_path)
    assert reply.status is Status.INTERRUPTED
    assert reply.error == "could not write to stdout: No space left on device"
    assert reply.content and REPLY.startswith(reply.content)
    assert len(reply.content) < len(REPLY)


def size_limit() -> None:
    """In the child: no file may grow past LIMIT (Python ignores SIGXFSZ, so a write
    past it fails with EFBIG)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def nearly_full_file(path: Path, room: int) -> IO[bytes]:
    """A file `room` bytes short of LIMIT, opened to append, as stdout's."""
    path.write_bytes(b"." * (LIMIT - room))
    return path.open("ab")


def test_stdout_past_its_size_limit_mid_reply_saves_the_reply_as_interrupted(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply=REPLY, rate=200))
    out = tmp_path / "out.txt"
    home = tmp_path / "home"
    with nearly_full_file(out, 100) as file, print_mode(home, server, file, size_limit) as process:
        _, raw = process.communicate(timeout=60)
    errors = raw.decode()
    assert process.returncode == 1, errors
    assert_no_traceback(errors)
    [line] = errors.splitlines()
    assert line.startswith("llmchat: could not write the reply to stdout: File too large")
    reply = the_reply(home)
    assert reply.status is Status.INTERRUPTED
    assert reply.error == "could not write to stdout: File too large"
    printed = out.read_bytes()[LIMIT - 100 :].decode()
    assert len(printed) == 100 and reply.content.startswith(printed)
    assert len(reply.content) < len(REPLY)


def test_a_reply_that_completed_before_stdout_failed_is_saved_complete(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="Forty-two."))
    out = tmp_path / "out.txt"
    home = tmp_path / "home"
    # Room for the reply, not for the newline after it.
    with nearly_full_file(out, 10) as file, print_mode(home, server, file, size_limit) as process:
        _, raw = process.communicate(timeout=60)
    errors = raw.decode()
    assert process.returncode == 1, errors
    assert_no_traceback(errors)
    [line] = errors.splitlines()
    assert line.startswith("llmchat: could not write the reply to stdout: File too large")
    assert "saved" in line and "interrupted" not in line
    assert out.read_bytes().endswith(b"Forty-two.")
    reply = the_reply(home)
    assert reply.status is Status.COMPLETE and reply.content == "Forty-two."
