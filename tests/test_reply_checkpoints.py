"""A streaming reply is checkpointed, so a crash or `kill -9` loses at most about a second.

The crash is simulated the way it leaves the file: checkpoints written, no final record
(and sometimes a torn last line). The file is real; the clock is fake.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmchat.core.checkpoints import ReplyCheckpoints
from llmchat.core.conversation import Conversation
from llmchat.core.messages import Message, Role, Status
from llmchat.core.records import SessionInfo
from llmchat.core.request import WireMessage
from llmchat.store import load_session, resume_session, start_session

pytestmark = pytest.mark.family("sessions")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def streaming(
    tmp_path: Path, pieces: list[tuple[float, str]]
) -> tuple[Path, ReplyCheckpoints, Conversation]:
    """A session with one question whose reply streamed `pieces` (at their times), then
    llmchat died: the file is left as it was, with no final record."""
    conversation = Conversation(SessionInfo(id="crashed"))
    opened = start_session(tmp_path, conversation)
    asked = conversation.add_user("Tell me a story")
    clock = Clock()
    checkpoints = ReplyCheckpoints(conversation, asked.id, clock=clock)
    for at, text in pieces:
        clock.now = at
        checkpoints.add(text)
    opened.close()  # the lock goes with the process; nothing else is written
    return opened.path, checkpoints, conversation


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


PIECES = [(0.2, "Once "), (0.6, "upon "), (1.1, "a "), (1.5, "time"), (2.3, ", a fox")]


def test_checkpoints_come_at_most_once_a_second_with_only_the_new_text(tmp_path: Path) -> None:
    path, _, _ = streaming(tmp_path, PIECES)
    saved = [r for r in records(path) if r["type"] == "checkpoint"]
    assert [r["text"] for r in saved] == ["Once upon a ", "time, a fox"]


def test_a_reply_cut_by_a_crash_comes_back_interrupted_with_its_checkpointed_text(
    tmp_path: Path,
) -> None:
    path, checkpoints, _ = streaming(tmp_path, PIECES)
    loaded = load_session(path)
    assert loaded.warnings == []
    asked, reply = loaded.messages
    assert (reply.role, reply.status) == (Role.ASSISTANT, Status.INTERRUPTED)
    assert reply.content == "Once upon a time, a fox"
    assert (reply.id, reply.parent) == (checkpoints.id, asked.id)


def test_text_after_the_last_checkpoint_is_what_a_crash_loses(tmp_path: Path) -> None:
    path, _, _ = streaming(tmp_path, [(1.0, "saved"), (1.4, " lost")])
    assert load_session(path).messages[-1].content == "saved"


def test_retry_works_on_an_interrupted_reply(tmp_path: Path) -> None:
    path, _, _ = streaming(tmp_path, PIECES)
    with resume_session(path) as opened:
        conversation = opened.conversation
        asked = conversation.messages[0]
        assert conversation.retry_point() is asked
        retry = conversation.build_retry()
        assert retry is not None
        request, answered = retry
        assert answered is asked
        assert request.messages == (WireMessage("user", "Tell me a story"),)


def test_the_next_question_after_a_crash_follows_the_interrupted_reply(tmp_path: Path) -> None:
    path, _, _ = streaming(tmp_path, PIECES)
    with resume_session(path) as opened:
        opened.conversation.add_user("Go on")
        roles = [m.role for m in opened.conversation.build_request().messages]
    assert roles == ["user", "assistant", "user"]  # never two user messages in a row
    again = load_session(path)
    assert [m.content for m in again.messages] == [
        "Tell me a story",
        "Once upon a time, a fox",
        "Go on",
    ]
    assert again.messages[2].parent == again.messages[1].id


def test_a_final_record_supersedes_the_checkpoints(tmp_path: Path) -> None:
    conversation = Conversation(SessionInfo(id="finished"))
    with start_session(tmp_path, conversation) as opened:
        asked = conversation.add_user("Tell me a story")
        clock = Clock()
        checkpoints = ReplyCheckpoints(conversation, asked.id, clock=clock)
        for at, text in PIECES:
            clock.now = at
            checkpoints.add(text)
        checkpoints.finish(Message(Role.ASSISTANT, "Once upon a time, a fox. The end."))
    loaded = load_session(opened.path)
    assert loaded.warnings == []
    assert [(m.content, m.status) for m in loaded.messages] == [
        ("Tell me a story", Status.COMPLETE),
        ("Once upon a time, a fox. The end.", Status.COMPLETE),
    ]
    assert loaded.messages[1].id == checkpoints.id
    assert loaded.messages[1].parent == asked.id
    assert conversation.messages[-1].id == checkpoints.id


def test_a_torn_checkpoint_leaves_the_ones_before_it(tmp_path: Path) -> None:
    path, _, _ = streaming(tmp_path, PIECES)
    data = path.read_bytes()
    path.write_bytes(data + data.splitlines(keepends=True)[-1][:-12])  # cut mid-write
    loaded = load_session(path)
    assert loaded.messages[-1].content == "Once upon a time, a fox"
    assert loaded.messages[-1].status is Status.INTERRUPTED
    [warning] = loaded.warnings
    assert warning.startswith("line 5: the last record is incomplete")


def test_a_checkpoint_that_cannot_be_written_does_not_stop_the_reply(tmp_path: Path) -> None:
    conversation = Conversation(SessionInfo(id="full-disk"))
    opened = start_session(tmp_path, conversation)
    asked = conversation.add_user("q")
    opened.close()  # every write now fails, as on a full disk
    clock = Clock()
    checkpoints = ReplyCheckpoints(conversation, asked.id, clock=clock)
    clock.now = 1.0
    checkpoints.add("partial")
    assert checkpoints.error is not None
    assert conversation.unsaved == 1  # kept, to be written with the next record


def test_the_file_grows_with_the_reply_not_with_its_square(tmp_path: Path) -> None:
    pieces = [(0.5 * n, "word ") for n in range(1, 401)]
    path, _, _ = streaming(tmp_path, pieces)
    saved = [r for r in records(path) if r["type"] == "checkpoint"]
    assert len(saved) == 200
    assert sum(len(str(r["text"])) for r in saved) == len("word ") * 400
