"""Session files under faults, through `llmchat -p` as a user runs it: a real process
against the loopback server. Nothing typed or received is lost, and a save that fails
makes the exit status non-zero."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from llmchat.core.conversation import Conversation, PersistError
from llmchat.core.messages import Message, Role, Status
from llmchat.core.params import SamplingParams
from llmchat.core.records import SessionHeader, SessionInfo
from llmchat.paths import AppPaths
from llmchat.store import (
    OpenSession,
    SessionFile,
    SessionLocked,
    encode_record,
    list_sessions,
    load_session,
    resume_session,
    session_filename,
    start_session,
)
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
    # Said once, as it is: -p has no next write to carry the turn.
    assert result.stderr.splitlines() == [
        "llmchat: could not save the session: File too large: this turn is not saved "
        "(the reply above is all there is of it)"
    ]


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


# -- the session file deleted, moved or cut short while it is open ------------------------


def open_with_history(folder: Path, told: list[str]) -> OpenSession:
    """A session with a question, a priced reply, a second branch chosen, and changed
    title, system prompt and parameters: every kind of record a reopen needs."""
    session = start_session(folder, Conversation(SessionInfo(id="restore00001"), PARAMS))
    conversation = session.conversation
    conversation.on_restored = told.append
    question = conversation.add_user("first question")
    first = Message(Role.ASSISTANT, "first answer", parent=question.id)
    conversation.add_reply(first)
    conversation.set_cost(first, 0.25)
    conversation.branch_from(question.id)
    conversation.add_reply(Message(Role.ASSISTANT, "second answer", parent=question.id))
    conversation.switch_branch(conversation.messages[-1], -1)  # back to the first answer
    conversation.rename("A kept title")
    conversation.set_system("Kept system.")
    conversation.set_params(SamplingParams(temperature=1.5, max_tokens=64))
    return session


def assert_reopens_whole(path: Path, conversation: Conversation) -> None:
    loaded = load_session(path)
    assert loaded.warnings == [] and loaded.has_header
    assert [(m.id, m.content, m.status, m.cost_usd) for m in loaded.messages] == [
        (m.id, m.content, m.status, m.cost_usd) for m in conversation.messages
    ]
    assert loaded.info.id == conversation.info.id
    assert (loaded.info.title, loaded.info.system) == ("A kept title", "Kept system.")
    assert loaded.params == conversation.params
    reopened = Conversation(loaded.info, loaded.params, loaded.messages, leaf=loaded.leaf)
    assert [m.id for m in reopened.thread()] == [m.id for m in conversation.thread()]
    types = [json.loads(line)["type"] for line in path.read_bytes().splitlines()]
    assert types.count("session") == 1


def test_a_deleted_session_file_is_written_again_whole_before_the_next_record(
    tmp_path: Path,
) -> None:
    told: list[str] = []
    with open_with_history(tmp_path, told) as session:
        session.path.unlink()
        session.conversation.add_user("after the delete")
        assert session.path.exists()
        assert_reopens_whole(session.path, session.conversation)
        session.conversation.add_user("and the next one is appended as usual")
        assert_reopens_whole(session.path, session.conversation)
    assert len(told) == 1
    assert "was deleted or moved away" in told[0] and str(session.path) in told[0]
    assert "written again" in told[0]


def test_a_moved_session_file_is_written_again_where_it_was_and_the_moved_one_left_alone(
    tmp_path: Path,
) -> None:
    told: list[str] = []
    with open_with_history(tmp_path, told) as session:
        moved = tmp_path / "elsewhere.jsonl"
        session.path.rename(moved)
        before = moved.read_bytes()
        session.conversation.add_user("after the move")
        assert moved.read_bytes() == before
        assert_reopens_whole(session.path, session.conversation)
    assert len(told) == 1


@pytest.mark.parametrize("how", ["cut short", "replaced"])
def test_a_session_file_cut_short_or_replaced_is_written_again_whole(
    tmp_path: Path, how: str
) -> None:
    told: list[str] = []
    with open_with_history(tmp_path, told) as session:
        if how == "cut short":
            os.truncate(session.path, 10)
        else:
            other = tmp_path / "other"
            other.write_bytes(b"")
            other.replace(session.path)
        session.conversation.add_user("after it")
        assert_reopens_whole(session.path, session.conversation)
    assert len(told) == 1 and how in told[0]


def test_a_reply_streaming_when_the_file_went_keeps_its_checkpoints(tmp_path: Path) -> None:
    with open_with_history(tmp_path, []) as session:
        conversation = session.conversation
        parent = conversation.last_id
        conversation.checkpoint("streaming001", parent, "part one, ")
        session.path.unlink()
        conversation.checkpoint("streaming001", parent, "part two")
        interrupted = load_session(session.path).messages[-1]
        assert (interrupted.id, interrupted.content) == ("streaming001", "part one, part two")
        assert interrupted.status is Status.INTERRUPTED
        conversation.add_reply(Message(Role.ASSISTANT, "whole", id="streaming001", parent=parent))
        assert load_session(session.path).messages[-1].content == "whole"


def test_the_file_written_again_is_locked_like_the_one_it_replaces(tmp_path: Path) -> None:
    with open_with_history(tmp_path, []) as session:
        session.path.unlink()
        session.conversation.add_user("again")
        with pytest.raises(SessionLocked):
            SessionFile(session.path)
        assert stat.S_IMODE(session.path.stat().st_mode) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir()) == [session.path.name]


def test_a_file_that_cannot_be_written_again_keeps_the_records_for_the_next_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_with_history(tmp_path, []) as session:
        session.path.unlink()
        real_replace = os.replace

        def full_disk(*args: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "replace", full_disk)
        with pytest.raises(PersistError, match=r"deleted or moved away.*No space left"):
            session.conversation.add_user("kept in memory")
        assert not session.path.exists() and session.conversation.unsaved
        monkeypatch.setattr(os, "replace", real_replace)
        session.conversation.flush()
        assert_reopens_whole(session.path, session.conversation)
        assert sorted(p.name for p in tmp_path.iterdir()) == [session.path.name]


def test_a_message_after_a_branch_switch_is_where_the_reopened_session_goes_on(
    tmp_path: Path,
) -> None:
    with open_with_history(tmp_path, []) as session:  # ends on a switch to the first answer
        session.conversation.add_user("a follow-up on the first answer")
        shown = [m.content for m in session.conversation.thread()]
    with resume_session(session.path) as reopened:
        assert [m.content for m in reopened.conversation.thread()] == shown
    assert shown[-2:] == ["first answer", "a follow-up on the first answer"]


def test_print_mode_writes_a_session_file_deleted_mid_reply_again_and_says_so(
    server: OpenAIServer, tmp_path: Path
) -> None:
    reply = " ".join(f"word{n}" for n in range(200))
    server.push(Script(reply=reply, rate=100))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    environment.update(LLMCHAT_HOME=str(tmp_path), OPENAI_BASE_URL=server.base_url)
    with subprocess.Popen(
        [sys.executable, "-m", "llmchat", "-p", "go"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        first = process.stdout.read1(65536)  # type: ignore[attr-defined]
        assert first.startswith(b"word0"), first
        [path] = sessions_dir(tmp_path).glob("*.jsonl")  # the question is in it
        path.unlink()
        rest, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert (first + rest).decode() == reply + "\n"
    assert f"the session file {path} was deleted or moved away".encode() in errors
    loaded = load_session(path)
    assert loaded.warnings == [] and loaded.has_header
    assert [(m.role, m.content) for m in loaded.messages] == [
        (Role.USER, "go"),
        (Role.ASSISTANT, reply),
    ]
