"""The session writer: file name, permissions, one ASCII line per record, lock, rollback."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmchat.core.messages import Message, Role
from llmchat.core.params import SamplingParams
from llmchat.core.records import Record, SessionHeader, SessionInfo
from llmchat.store import (
    SessionFile,
    SessionLocked,
    encode_record,
    load_session,
    parse_session_filename,
    session_filename,
)
from llmchat.store.session_format import to_json

CREATED = "2026-03-04T05:06:07.123456Z"


pytestmark = pytest.mark.family("sessions")


def info(**changes: Any) -> SessionInfo:
    return SessionInfo(id=changes.pop("id", "abc123def456"), created=CREATED, **changes)


def user(text: str, **changes: Any) -> Message:
    return Message(role=Role.USER, content=text, **changes)


def line(record: Record) -> bytes:
    return encode_record(to_json(record))


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class FailingSync(SessionFile):
    """A real file whose fsync reports an I/O error after the bytes reached the file."""

    def _sync(self, fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")


# -- name and permissions -----------------------------------------------------------------


def test_file_is_named_for_its_creation_time_and_id(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()) as file:
        assert file.path == tmp_path / "20260304T050607Z-abc123def456.jsonl"


def test_file_name_gives_back_the_creation_time_and_id() -> None:
    created, session_id = parse_session_filename(session_filename(info())) or (None, None)
    assert session_id == "abc123def456"
    assert created is not None and created.isoformat() == "2026-03-04T05:06:07+00:00"


def test_names_that_are_not_session_files_are_not_parsed() -> None:
    assert parse_session_filename("notes.jsonl") is None
    assert parse_session_filename("20261399T000000Z-abc.jsonl") is None


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "", "dot.dot", "x" * 201])
def test_an_id_unfit_for_a_file_name_is_refused(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(ValueError, match="file name"):
        SessionFile.create(tmp_path, info(id=bad_id))


def test_new_file_is_readable_by_its_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with SessionFile.create(tmp_path, info()) as file:
            mode = stat.S_IMODE(file.path.stat().st_mode)
    finally:
        os.umask(old)
    assert mode == 0o600


def test_missing_session_directories_are_created_private(tmp_path: Path) -> None:
    sessions = tmp_path / "data" / "sessions"
    with SessionFile.create(sessions, info()):
        pass
    assert stat.S_IMODE(sessions.stat().st_mode) == 0o700
    assert stat.S_IMODE(sessions.parent.stat().st_mode) == 0o700


def test_creating_over_an_existing_session_file_is_refused(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()):
        pass
    with pytest.raises(FileExistsError):
        SessionFile.create(tmp_path, info())


# -- lines --------------------------------------------------------------------------------


def test_each_record_is_one_ascii_line_whatever_its_text(tmp_path: Path) -> None:
    hostile = "a\nb\rc\x00d\x1b[31me\x9bf\u2028g\ud800h\U0001f600\ufeff"
    with SessionFile.create(tmp_path, info()) as file:
        file.append(user(hostile))
        file.append(user(hostile))
    data = file.path.read_bytes()
    assert data.isascii()
    assert data.count(b"\n") == 2
    assert data.endswith(b"\n")


def test_records_are_appended_in_order(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()) as file:
        for text in ("one", "two", "three"):
            file.append(user(text))
    lines = file.path.read_bytes().splitlines()
    assert [json.loads(line)["content"] for line in lines] == ["one", "two", "three"]


def test_record_is_written_compactly() -> None:
    assert encode_record({"type": "title", "title": "é"}) == b'{"type":"title","title":"\\u00e9"}\n'


def test_non_finite_numbers_are_stored_as_null_so_the_line_stays_strict_json() -> None:
    line = encode_record({"type": "x", "timing": {"tok_s": float("nan"), "n": float("inf")}})

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    assert json.loads(line, parse_constant=refuse) == {
        "type": "x",
        "timing": {"tok_s": None, "n": None},
    }


def test_append_after_a_torn_last_line_starts_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / session_filename(info())
    path.write_bytes(line(user("kept")) + b'{"type":"message","role":"us')
    with SessionFile(path) as file:
        file.append(user("after the crash"))
    lines = path.read_bytes().split(b"\n")
    assert lines[1] == b'{"type":"message","role":"us'
    assert json.loads(lines[2])["content"] == "after the crash"
    assert [m.content for m in load_session(path).messages] == ["kept", "after the crash"]


def test_append_after_a_record_missing_its_newline_starts_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / session_filename(info())
    path.write_bytes(line(user("no newline")).rstrip(b"\n"))
    with SessionFile(path) as file:
        file.append(user("next"))
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["no newline", "next"]
    assert loaded.warnings == ["no session header; id and start time taken from the file name"]


def test_append_to_a_closed_file_raises_an_os_error(tmp_path: Path) -> None:
    file = SessionFile.create(tmp_path, info())
    file.close()
    file.close()
    with pytest.raises(OSError, match="closed"):
        file.append(user("late"))


# -- failures leave no half record ----------------------------------------------------------

DISK_FULL = """
import json, resource, sys
from llmchat.core.messages import Message, Role
from llmchat.store import SessionFile
path, headroom = sys.argv[1], int(sys.argv[2])
with SessionFile(path) as file:
    size = file.path.stat().st_size
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + headroom, hard))
    try:
        file.append(Message(role=Role.USER, content="x" * 10000))
    except OSError as exc:
        print(json.dumps({"raised": str(exc)}))
    else:
        print(json.dumps({"raised": None}))
"""


@pytest.mark.parametrize(
    ("headroom", "error"),
    [(0, "File too large"), (40, "only 40 of")],
    ids=["nothing-written", "short-write"],
)
def test_a_write_the_disk_refuses_leaves_the_file_as_it_was(
    tmp_path: Path, headroom: int, error: str
) -> None:
    path = tmp_path / session_filename(info())
    before = line(SessionHeader(info(), SamplingParams())) + line(user("saved"))
    path.write_bytes(before)

    result = run_python(DISK_FULL, str(path), str(headroom))

    assert result.returncode == 0, result.stderr
    assert error in json.loads(result.stdout)["raised"]
    assert path.read_bytes() == before


def test_the_next_append_after_a_refused_write_is_whole(tmp_path: Path) -> None:
    path = tmp_path / session_filename(info())
    path.write_bytes(line(user("saved")))
    assert run_python(DISK_FULL, str(path), "40").returncode == 0
    with SessionFile(path) as file:
        file.append(user("later"))
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["saved", "later"]
    assert loaded.warnings == ["no session header; id and start time taken from the file name"]


def test_an_fsync_error_removes_the_record_and_raises(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()) as file:
        file.append(user("saved"))
    before = file.path.read_bytes()
    with FailingSync(file.path) as failing, pytest.raises(OSError, match="Input/output"):
        failing.append(user("lost to EIO"))
    assert file.path.read_bytes() == before


# -- one writer -------------------------------------------------------------------------------

TRY_TO_WRITE = """
import sys
from llmchat.store import SessionFile, SessionLocked
try:
    SessionFile(sys.argv[1]).close()
except SessionLocked as exc:
    print("refused:", exc)
else:
    print("opened")
"""

HOLD_THE_LOCK = """
import sys
from llmchat.store import SessionFile
with SessionFile(sys.argv[1]):
    print("holding", flush=True)
    sys.stdin.read()
"""


def test_a_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()) as first, pytest.raises(SessionLocked):
        SessionFile(first.path)


def test_the_refusal_says_another_llmchat_has_the_session_open(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()) as first, pytest.raises(SessionLocked) as refused:
        SessionFile(first.path)
    assert "another llmchat" in str(refused.value)
    assert first.path.name in str(refused.value)


def test_a_writer_in_another_process_is_refused(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()) as first:
        result = run_python(TRY_TO_WRITE, str(first.path))
    assert result.stdout.startswith("refused: another llmchat"), result.stderr


def test_another_process_holding_the_session_refuses_this_one(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()) as file:
        path = file.path
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        with pytest.raises(SessionLocked):
            SessionFile(path)
    finally:
        holder.communicate("", timeout=60)
    with SessionFile(path):
        pass  # the lock went with the process


def test_closing_releases_the_lock(tmp_path: Path) -> None:
    with SessionFile.create(tmp_path, info()) as first:
        pass
    assert run_python(TRY_TO_WRITE, str(first.path)).stdout == "opened\n"
    with SessionFile(first.path):
        pass
