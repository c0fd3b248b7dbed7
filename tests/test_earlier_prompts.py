"""Reading earlier sessions' user messages for prompt history: newest first, bounded."""

from __future__ import annotations

import os
from pathlib import Path

from llmchat.core.conversation import Conversation
from llmchat.core.messages import Message, Role
from llmchat.core.records import SessionInfo
from llmchat.store import SessionFile
from llmchat.store.earlier_prompts import earlier_prompts

T0 = 1_780_000_000


def write_session(directory: Path, prompts: list[str], *, updated: int) -> str:
    """A session written by the real writer: each prompt answered; returns its id."""
    info = SessionInfo(created="2026-01-02T03:04:05.000000Z")
    conversation = Conversation(info)
    file = SessionFile.create(directory, info)
    conversation.attach(file)
    for prompt in prompts:
        conversation.add_user(prompt)
        conversation.add_reply(Message(Role.ASSISTANT, f"answer to {prompt}"))
    file.close()
    os.utime(file.path, (updated, updated))
    return info.id


def test_newest_session_first_and_newest_message_first_within_one(tmp_path: Path) -> None:
    write_session(tmp_path, ["old 1", "old 2"], updated=T0)
    write_session(tmp_path, ["new 1", "new 2"], updated=T0 + 10)
    assert earlier_prompts(tmp_path) == ["new 2", "new 1", "old 2", "old 1"]


def test_the_open_session_is_left_out(tmp_path: Path) -> None:
    write_session(tmp_path, ["other"], updated=T0)
    mine = write_session(tmp_path, ["mine"], updated=T0 + 10)
    assert earlier_prompts(tmp_path, skip=mine) == ["other"]


def test_only_the_newest_few_sessions_are_read(tmp_path: Path) -> None:
    for n in range(4):
        write_session(tmp_path, [f"s{n}"], updated=T0 + n)
    assert earlier_prompts(tmp_path, sessions=2) == ["s3", "s2"]


def test_a_file_over_the_byte_budget_is_passed_over(tmp_path: Path) -> None:
    write_session(tmp_path, ["small"], updated=T0)
    write_session(tmp_path, ["x" * 5000], updated=T0 + 10)
    assert earlier_prompts(tmp_path, byte_budget=4000) == ["small"]


def test_the_number_of_messages_is_capped(tmp_path: Path) -> None:
    write_session(tmp_path, [f"m{n}" for n in range(10)], updated=T0)
    assert earlier_prompts(tmp_path, limit=3) == ["m9", "m8", "m7"]


def test_no_sessions_directory_means_no_messages(tmp_path: Path) -> None:
    assert earlier_prompts(tmp_path / "missing") == []
