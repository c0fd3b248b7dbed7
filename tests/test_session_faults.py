"""Session files under faults, through `llmchat -p` as a user runs it: a real process
against the loopback server. Nothing typed or received is lost, and a save that fails
makes the exit status non-zero."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from llmchat.core.messages import Role, Status
from llmchat.core.params import SamplingParams
from llmchat.core.records import SessionHeader, SessionInfo
from llmchat.paths import AppPaths
from llmchat.store import encode_record, list_sessions, load_session, session_filename
from llmchat.store.session_format import to_json
from tests.support.openai_server import OpenAIServer, Script

pytestmark = pytest.mark.family("sessions")

INFO = SessionInfo(id="abc123def456", title="Kept title", system="Be terse.")
PARAMS = SamplingParams(temperature=0.3, top_p=0.8, max_tokens=200, seed=5)


def llmchat(
    *args: str,
    home: Path,
    server: OpenAIServer,
    preexec: Callable[[], None] | None = None,
    argv_prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    environment.update(LLMCHAT_HOME=str(home), OPENAI_BASE_URL=server.base_url)
    return subprocess.run(
        [*argv_prefix, sys.executable, "-m", "llmchat", *args],
        input="",
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        preexec_fn=preexec,
    )


def sessions_dir(home: Path) -> Path:
    return AppPaths.from_env({"LLMCHAT_HOME": str(home)}).sessions_dir


def saved_session(home: Path, *lines: bytes, prefix: bytes = b"") -> Path:
    folder = sessions_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / session_filename(INFO)
    header = encode_record(to_json(SessionHeader(INFO, PARAMS)))
    path.write_bytes(prefix + header + b"".join(line + b"\n" for line in lines))
    return path


def sent_params(server: OpenAIServer) -> dict[str, object]:
    body = server.chat_requests[-1].body
    return {key: body.get(key) for key in ("temperature", "top_p", "max_tokens", "seed")}


@pytest.mark.parametrize(
    "stored",
    [
        b'{"temperature":NaN,"top_p":-7,"max_tokens":-100,"seed":null}',
        b'{"temperature":1e308,"top_p":1e308,"max_tokens":1e308,"seed":1e308}',
    ],
    ids=["nan-negative", "1e308"],
)
def test_continue_with_bad_stored_params_sends_the_last_sound_ones_and_names_the_line(
    server: OpenAIServer, tmp_path: Path, stored: bytes
) -> None:
    saved_session(tmp_path, b'{"type":"params","ts":"t","params":' + stored + b"}")
    result = llmchat("-p", "again", "--continue", home=tmp_path, server=server)
    assert result.returncode == 0, result.stderr
    assert "line 2: parameters out of range" in result.stderr
    sent = sent_params(server)
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 200
    assert sent["top_p"] == 0.8


def test_continue_a_session_whose_file_starts_with_a_bom_keeps_its_header(
    server: OpenAIServer, tmp_path: Path
) -> None:
    path = saved_session(tmp_path, prefix=b"\xef\xbb\xbf")
    result = llmchat("-p", "again", "--continue", home=tmp_path, server=server)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    body = server.chat_requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert sent_params(server) == {"temperature": 0.3, "top_p": 0.8, "max_tokens": 200, "seed": 5}
    types = [json.loads(line)["type"] for line in path.read_bytes()[3:].splitlines()]
    assert types[0] == "session" and types.count("session") == 1
    loaded = load_session(path)
    assert loaded.info.title == "Kept title" and loaded.warnings == []
    assert [m.role for m in loaded.messages] == [Role.USER, Role.ASSISTANT]
    assert loaded.messages[-1].status is Status.COMPLETE
    assert [s.id for s in list_sessions(sessions_dir(tmp_path))] == [INFO.id]


# -- a save that fails in -p --------------------------------------------------------------


def full_disk() -> None:
    """In the child: no file may grow at all, as on a full disk (writes fail with EFBIG;
    Python ignores SIGXFSZ)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_print_mode_on_a_full_disk_prints_the_reply_and_exits_1(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="Forty-two."))
    result = llmchat("-p", "the answer?", home=tmp_path, server=server, preexec=full_disk)
    assert result.returncode == 1, result.stderr
    assert result.stdout == "Forty-two.\n"
    assert "could not save the session" in result.stderr
    assert "this turn is not saved" in result.stderr
    assert "saved on the next write" not in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_print_mode_with_a_read_only_sessions_folder_prints_the_reply_and_exits_1(
    server: OpenAIServer,
) -> None:
    # As root every folder is writable, so the child runs as nobody, in a home it may
    # write to everywhere but in the sessions folder (root's, 0755).
    home = Path(tempfile.mkdtemp(prefix="llmchat-ro-"))
    try:
        home.chmod(0o777)
        sessions_dir(home).mkdir(parents=True)
        for folder in (sessions_dir(home), *sessions_dir(home).parents):
            if folder == home:
                break
            folder.chmod(0o755)
        server.push(Script(reply="Forty-two."))
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        result = llmchat("-p", "the answer?", home=home, server=server, argv_prefix=nobody)
        assert result.returncode == 1, result.stderr
        assert result.stdout == "Forty-two.\n"
        assert "Permission denied" in result.stderr
        assert "this turn is not saved" in result.stderr
        assert list(sessions_dir(home).iterdir()) == []
    finally:
        shutil.rmtree(home, ignore_errors=True)
