"""Listing sessions for the picker, and finding one by id or prefix."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmchat.core.messages import Message, Role
from llmchat.core.params import SamplingParams
from llmchat.core.records import SessionHeader, SessionInfo, TitleChanged
from llmchat.store import (
    AmbiguousSession,
    SessionNotFound,
    encode_record,
    find_session,
    latest_session,
    list_sessions,
    session_filename,
)
from llmchat.store.session_format import to_json
from llmchat.store.session_list import FIRST_LINE_LIMIT

T0 = 1_780_000_000  # a fixed mtime; the tests set times, they never wait for them


def make(
    directory: Path,
    session_id: str,
    *,
    updated: int,
    messages: int = 1,
    extra: bytes = b"",
    **info: Any,
) -> Path:
    session = SessionInfo(id=session_id, created="2026-01-02T03:04:05.000000Z", **info)
    lines = [encode_record(to_json(SessionHeader(session, SamplingParams())))]
    lines += [
        encode_record(to_json(Message(role=Role.USER, content=f"m{n}"))) for n in range(messages)
    ]
    path = directory / session_filename(session)
    path.write_bytes(b"".join(lines) + extra)
    os.utime(path, (updated, updated))
    return path


def test_sessions_are_listed_most_recently_updated_first(tmp_path: Path) -> None:
    make(tmp_path, "aaaa", updated=T0 + 10)
    make(tmp_path, "bbbb", updated=T0 + 30)
    make(tmp_path, "cccc", updated=T0 + 20)
    assert [s.id for s in list_sessions(tmp_path)] == ["bbbb", "cccc", "aaaa"]


def test_a_summary_carries_title_model_backend_and_message_count(tmp_path: Path) -> None:
    path = make(
        tmp_path, "aaaa", updated=T0, messages=3, title="Hello", model="qwen", backend="local"
    )
    [summary] = list_sessions(tmp_path)
    assert (summary.id, summary.path, summary.title) == ("aaaa", path, "Hello")
    assert (summary.model, summary.backend, summary.message_count) == ("qwen", "local", 3)
    assert summary.warning_count == 0


def test_a_summary_carries_start_and_update_times(tmp_path: Path) -> None:
    make(tmp_path, "aaaa", updated=T0)
    [summary] = list_sessions(tmp_path)
    assert summary.created == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert summary.updated == datetime.fromtimestamp(T0, UTC)


def test_a_summary_shows_the_latest_title(tmp_path: Path) -> None:
    renamed = encode_record(to_json(TitleChanged("Renamed", "t")))
    make(tmp_path, "aaaa", updated=T0, title="Old", extra=renamed)
    assert list_sessions(tmp_path)[0].title == "Renamed"


def test_a_damaged_file_is_listed_with_what_could_be_read(tmp_path: Path) -> None:
    make(tmp_path, "aaaa", updated=T0, messages=2, title="Hurt", extra=b'{"type":"mess')
    [summary] = list_sessions(tmp_path)
    assert (summary.title, summary.message_count, summary.warning_count) == ("Hurt", 2, 1)


def test_a_file_of_garbage_is_listed_without_crashing(tmp_path: Path) -> None:
    path = tmp_path / "20260102T030405Z-junk.jsonl"
    path.write_bytes(b"\x00\xff garbage\n[1,2]\n")
    [summary] = list_sessions(tmp_path)
    assert (summary.id, summary.message_count) == ("junk", 0)
    assert summary.warning_count == 3


def test_an_empty_file_is_not_listed(tmp_path: Path) -> None:
    (tmp_path / "20260102T030405Z-empty.jsonl").touch()
    assert list_sessions(tmp_path) == []


def test_files_that_are_not_sessions_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "dir.jsonl").mkdir()
    make(tmp_path, "aaaa", updated=T0)
    assert [s.id for s in list_sessions(tmp_path)] == ["aaaa"]


def test_a_directory_that_does_not_exist_yet_holds_no_sessions(tmp_path: Path) -> None:
    assert list_sessions(tmp_path / "never-created") == []


def test_the_latest_session_is_the_most_recently_updated(tmp_path: Path) -> None:
    make(tmp_path, "aaaa", updated=T0 + 50)
    make(tmp_path, "bbbb", updated=T0)
    latest = latest_session(tmp_path)
    assert latest is not None and latest.id == "aaaa"


def test_there_is_no_latest_session_in_an_empty_directory(tmp_path: Path) -> None:
    assert latest_session(tmp_path) is None


def test_a_session_is_found_by_a_unique_prefix(tmp_path: Path) -> None:
    make(tmp_path, "abc111", updated=T0)
    make(tmp_path, "abd222", updated=T0)
    assert find_session(tmp_path, "abc").id == "abc111"


def test_a_full_id_finds_its_session_even_if_it_prefixes_another(tmp_path: Path) -> None:
    make(tmp_path, "abc", updated=T0)
    make(tmp_path, "abcdef", updated=T0)
    assert find_session(tmp_path, "abc").id == "abc"


def test_an_ambiguous_prefix_is_refused_naming_the_candidates(tmp_path: Path) -> None:
    make(tmp_path, "abc111", updated=T0)
    make(tmp_path, "abc222", updated=T0)
    with pytest.raises(AmbiguousSession, match="2 sessions match 'abc'") as refused:
        find_session(tmp_path, "abc")
    assert "abc111" in str(refused.value) and "abc222" in str(refused.value)


def test_a_prefix_matching_nothing_is_a_clear_error(tmp_path: Path) -> None:
    make(tmp_path, "abc111", updated=T0)
    with pytest.raises(SessionNotFound, match="no session id starts with 'zzz'"):
        find_session(tmp_path, "zzz")


def test_an_empty_prefix_finds_nothing(tmp_path: Path) -> None:
    make(tmp_path, "abc111", updated=T0)
    with pytest.raises(SessionNotFound, match="give a session id"):
        find_session(tmp_path, "  ")


def reply(cost: float | None) -> bytes:
    return encode_record(to_json(Message(role=Role.ASSISTANT, content="ok", cost_usd=cost)))


def test_a_summary_adds_up_what_the_priced_replies_cost(tmp_path: Path) -> None:
    make(tmp_path, "aaaa", updated=T0, extra=reply(0.25) + reply(None) + reply(0.5))
    assert list_sessions(tmp_path)[0].cost_usd == pytest.approx(0.75)


def test_a_session_with_no_priced_reply_has_no_cost(tmp_path: Path) -> None:
    make(tmp_path, "aaaa", updated=T0, extra=reply(None))
    make(tmp_path, "bbbb", updated=T0 + 1, messages=0)
    assert [s.cost_usd for s in list_sessions(tmp_path)] == [None, None]


def test_a_summary_carries_the_first_line_of_the_first_user_message(tmp_path: Path) -> None:
    first = Message(role=Role.USER, content="\n  Why is the sky blue?\nAsk briefly.")
    later = Message(role=Role.USER, content="And at night?")
    extra = b"".join(encode_record(to_json(m)) for m in (first, later))
    make(tmp_path, "aaaa", updated=T0, messages=0, extra=extra)
    assert list_sessions(tmp_path)[0].first_line == "Why is the sky blue?"


def test_the_first_line_is_kept_raw_and_bounded(tmp_path: Path) -> None:
    hostile = "[bold]\x1b[31m" + "x" * 1000
    extra = encode_record(to_json(Message(role=Role.USER, content=hostile)))
    make(tmp_path, "aaaa", updated=T0, messages=0, extra=extra)
    first_line = list_sessions(tmp_path)[0].first_line
    assert first_line == hostile[:FIRST_LINE_LIMIT]


def test_a_session_without_a_user_message_has_an_empty_first_line(tmp_path: Path) -> None:
    make(tmp_path, "aaaa", updated=T0, messages=0)
    assert list_sessions(tmp_path)[0].first_line == ""
