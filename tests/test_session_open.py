"""A Conversation joined to its file: starting, resuming, and keeping what the disk refused."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmchat.core.conversation import Conversation, PersistError, SessionInfo
from llmchat.core.messages import Message, Role, Status
from llmchat.core.params import SamplingParams
from llmchat.store import (
    OpenSession,
    SessionError,
    SessionFile,
    SessionLocked,
    encode_record,
    load_session,
    resume_session,
    session_filename,
    start_session,
)
from llmchat.store.session_format import to_json

PARAMS = SamplingParams(temperature=0.3, max_tokens=256)


def new_conversation() -> Conversation:
    info = SessionInfo(id="abc123def456", model="qwen3-8b", backend="local", system="Be brief.")
    return Conversation(info=info, params=PARAMS)


def started(directory: Path) -> OpenSession:
    """A session with one complete exchange, a rename and a params change, then closed."""
    with start_session(directory, new_conversation()) as session:
        conversation = session.conversation
        question = conversation.add_user("What is 2+2?")
        conversation.add_reply(
            Message(role=Role.ASSISTANT, content="4", parent=question.id, status=Status.COMPLETE)
        )
        conversation.rename("Arithmetic")
        conversation.set_params(SamplingParams(temperature=0.9, max_tokens=256))
    return session


class FailingSync(SessionFile):
    def _sync(self, fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")


def test_a_started_session_writes_its_header_with_the_first_message(tmp_path: Path) -> None:
    with start_session(tmp_path, new_conversation()) as session:
        session.conversation.add_user("hello")
    loaded = load_session(session.path)
    assert loaded.has_header and loaded.warnings == []
    assert loaded.info.model == "qwen3-8b" and loaded.params == PARAMS
    assert [m.content for m in loaded.messages] == ["hello"]


def test_a_started_session_file_is_named_for_the_conversation(tmp_path: Path) -> None:
    conversation = new_conversation()
    with start_session(tmp_path, conversation) as session:
        assert session.path.name == session_filename(conversation.info)


def test_a_resumed_conversation_has_the_history_params_and_title(tmp_path: Path) -> None:
    path = started(tmp_path).path
    with resume_session(path) as session:
        conversation = session.conversation
        assert [m.content for m in conversation.messages] == ["What is 2+2?", "4"]
        assert conversation.params == SamplingParams(temperature=0.9, max_tokens=256)
        assert conversation.info.title == "Arithmetic"
        assert conversation.info.system == "Be brief."
        assert session.warnings == []


def test_a_system_prompt_changed_after_the_first_message_survives_a_resume(
    tmp_path: Path,
) -> None:
    # A preset carrying a system prompt, applied mid-session, then quit and --continue.
    path = started(tmp_path).path
    with resume_session(path) as session:
        session.conversation.set_system("Answer like a pirate.")
    with resume_session(path) as session:
        conversation = session.conversation
        assert conversation.info.system == "Answer like a pirate."
        assert conversation.build_request().messages[0].content == "Answer like a pirate."
        assert session.warnings == []


def test_a_resumed_conversation_appends_to_the_same_file(tmp_path: Path) -> None:
    path = started(tmp_path).path
    with resume_session(path) as session:
        session.conversation.add_user("And 3+3?")
    assert list(tmp_path.iterdir()) == [path]
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["What is 2+2?", "4", "And 3+3?"]
    assert loaded.warnings == []


def test_resuming_does_not_write_a_second_header(tmp_path: Path) -> None:
    path = started(tmp_path).path
    with resume_session(path) as session:
        session.conversation.add_user("again")
    types = [json.loads(line)["type"] for line in path.read_bytes().splitlines()]
    assert types.count("session") == 1


def test_a_new_message_after_resuming_continues_the_parent_chain(tmp_path: Path) -> None:
    path = started(tmp_path).path
    with resume_session(path) as session:
        last = session.conversation.messages[-1].id
        assert session.conversation.add_user("next").parent == last


def test_resuming_is_refused_while_another_writer_has_the_session(tmp_path: Path) -> None:
    with start_session(tmp_path, new_conversation()) as session:
        session.conversation.add_user("busy")
        with pytest.raises(SessionLocked, match="another llmchat"):
            resume_session(session.path)


def test_resuming_is_refused_while_another_process_has_the_session(tmp_path: Path) -> None:
    code = "import sys; from llmchat.store import resume_session; resume_session(sys.argv[1])"
    with start_session(tmp_path, new_conversation()) as session:
        session.conversation.add_user("busy")
        result = subprocess.run(
            [sys.executable, "-c", code, str(session.path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert "SessionLocked: another llmchat" in result.stderr


def test_closing_an_open_session_lets_it_be_resumed(tmp_path: Path) -> None:
    session = start_session(tmp_path, new_conversation())
    session.conversation.add_user("hello")
    session.close()
    with resume_session(session.path) as again:
        assert len(again.conversation.messages) == 1


def test_resuming_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match=r"cannot open the session file .*No such file"):
        resume_session(tmp_path / session_filename(SessionInfo()))


def test_resuming_reports_what_was_skipped(tmp_path: Path) -> None:
    path = started(tmp_path).path
    with path.open("ab") as file:
        file.write(b'{"type":"message","role":"user","content":"cut')
    with resume_session(path) as session:
        assert len(session.warnings) == 1
        assert session.warnings[0].startswith("line 6: the last record is incomplete")


def test_after_a_torn_tail_old_and_new_records_all_load(tmp_path: Path) -> None:
    path = started(tmp_path).path
    with path.open("ab") as file:
        file.write(b'{"type":"message","role":"user","content":"cut')
    with resume_session(path) as session:
        session.conversation.add_user("after the crash")
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["What is 2+2?", "4", "after the crash"]
    assert [w[:20] for w in loaded.warnings] == ["line 6: not valid JS"]


def test_resuming_a_file_that_lost_its_header_writes_one_again(tmp_path: Path) -> None:
    info = SessionInfo(id="abc123def456", created="2026-03-04T05:06:07.000000Z")
    path = tmp_path / session_filename(info)
    path.write_bytes(encode_record(to_json(Message(role=Role.USER, content="orphan"))))
    with resume_session(path) as session:
        session.conversation.add_user("found")
    loaded = load_session(path)
    assert loaded.has_header and loaded.warnings == []
    assert loaded.info.id == "abc123def456"
    assert [m.content for m in loaded.messages] == ["orphan", "found"]


def test_a_failed_fsync_keeps_the_message_in_the_conversation(tmp_path: Path) -> None:
    path = started(tmp_path).path
    before = path.read_bytes()
    session = resume_session(path)
    session.close()  # hand the file over to a writer whose fsync fails
    conversation = session.conversation
    with FailingSync(path) as failing:
        conversation.attach(failing)
        with pytest.raises(PersistError, match="Input/output error"):
            conversation.add_user("kept in memory")
    assert conversation.messages[-1].content == "kept in memory"
    assert conversation.unsaved == 1
    assert path.read_bytes() == before


DISK_FULL_THEN_SPACE = """
import json, resource, sys
from llmchat.core.conversation import PersistError
from llmchat.store import resume_session
report = {}
with resume_session(sys.argv[1]) as session:
    conversation = session.conversation
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (session.path.stat().st_size + 100, hard))
    try:
        conversation.add_user("x" * 5000)
    except PersistError as exc:
        report["error"] = str(exc)
    report["held"] = conversation.unsaved
    report["in_memory"] = len(conversation.messages)
    report["size_while_full"] = session.path.stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    conversation.flush()
    report["held_after_retry"] = conversation.unsaved
print(json.dumps(report))
"""


def test_a_message_the_full_disk_refused_is_kept_and_saved_on_retry(tmp_path: Path) -> None:
    path = started(tmp_path).path
    size_before = path.stat().st_size
    result = subprocess.run(
        [sys.executable, "-c", DISK_FULL_THEN_SPACE, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["error"].startswith("could not save the session: only 100 of")
    assert report["held"] == 1 and report["in_memory"] == 3
    assert report["size_while_full"] == size_before
    assert report["held_after_retry"] == 0
    loaded = load_session(path)
    assert loaded.warnings == []
    assert [m.content for m in loaded.messages] == ["What is 2+2?", "4", "x" * 5000]
