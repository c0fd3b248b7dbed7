"""A sessions folder or session file that cannot be read is named, never a traceback and
never "no saved session".

CI runs as root, where `chmod 000` changes nothing: the permission error is injected
into the calls that read the folder and the files (`os.scandir`, `os.open`,
`Path.read_bytes`), as the kernel would raise it for another user.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from llmchat import cli, paths, store
from llmchat.config import Config, ResolvedBackend
from llmchat.launch import SessionOpener
from llmchat.store import SessionUnreadable, latest_session, list_sessions

pytestmark = pytest.mark.family("sessions")

Deny = Callable[[Path], None]


@pytest.fixture
def deny(monkeypatch: pytest.MonkeyPatch) -> Deny:
    """Make a file or folder unreadable (EACCES), as mode 000 does for a normal user."""
    denied: set[str] = set()

    def refuse(path: str | os.PathLike[str]) -> None:
        if (name := os.fspath(path)) in denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)

    real_scandir, real_open, real_read_bytes = os.scandir, os.open, Path.read_bytes

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        refuse(path)
        return real_scandir(path)

    def open_(path: str | os.PathLike[str], flags: int, *args: object, **kw: object) -> int:
        refuse(path)
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]  # mode, dir_fd

    def read_bytes(self: Path) -> bytes:
        refuse(self)
        return real_read_bytes(self)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return lambda path: denied.add(os.fspath(path))


def saved_session(text: str) -> Path:
    """A saved session with one message; returns its file."""
    backend = ResolvedBackend(
        name="work",
        kind="openai",
        base_url="http://127.0.0.1:9/v1",
        model="m",
        api_key=None,
        key_source=None,
        max_tokens_field="max_tokens",
    )
    before = {p for p in paths.sessions_dir().glob("*.jsonl")}
    opened = SessionOpener(paths.sessions_dir(), backend, Config(), None).open(None)
    opened.conversation.add_user(text)
    opened.close()
    [path] = set(paths.sessions_dir().glob("*.jsonl")) - before
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    return code, capsys.readouterr().err


def test_continue_with_an_unreadable_sessions_folder_names_it_and_exits_1(
    home: Path, deny: Deny, capsys: pytest.CaptureFixture[str]
) -> None:
    saved_session("hello")
    deny(paths.sessions_dir())
    code, err = run_cli(capsys, "--continue", "-p", "hi")
    assert code == 1
    [line] = err.splitlines()
    assert str(paths.sessions_dir()) in line and "Permission denied" in line


def test_continue_whose_newest_session_cannot_be_read_names_that_file(
    home: Path, deny: Deny, capsys: pytest.CaptureFixture[str]
) -> None:
    older = saved_session("older")
    newer = saved_session("newer")
    os.utime(older, (1_000_000, 1_000_000))
    deny(newer)
    with pytest.raises(SessionUnreadable, match="Permission denied"):
        latest_session(paths.sessions_dir())
    code, err = run_cli(capsys, "--continue", "-p", "hi")
    assert code == 1
    [line] = err.splitlines()
    assert str(newer) in line and "Permission denied" in line


def test_resume_by_id_of_an_unreadable_session_names_the_file(
    home: Path, deny: Deny, capsys: pytest.CaptureFixture[str]
) -> None:
    path = saved_session("private")
    session_id = path.stem.split("-", 1)[1]
    deny(path)
    code, err = run_cli(capsys, "--resume", session_id[:8], "-p", "hi")
    assert code == 1
    [line] = err.splitlines()
    assert str(path) in line and "Permission denied" in line


def test_resume_by_id_of_an_indexed_session_now_unreadable_names_the_file(
    home: Path, deny: Deny, capsys: pytest.CaptureFixture[str]
) -> None:
    path = saved_session("private")
    session_id = path.stem.split("-", 1)[1]
    assert [s.path for s in list_sessions(paths.sessions_dir())] == [path]  # now indexed
    deny(path)
    code, err = run_cli(capsys, "--resume", session_id, "-p", "hi")
    assert code == 1
    assert str(path) in err and "Permission denied" in err


def test_the_listing_names_what_it_could_not_read(home: Path, deny: Deny) -> None:
    readable = saved_session("open")
    hidden = saved_session("closed")
    deny(hidden)
    listing = store.scan_sessions(paths.sessions_dir())
    assert [s.path for s in listing.sessions] == [readable]
    [problem] = listing.unreadable
    assert str(hidden) in problem and "Permission denied" in problem
    deny(paths.sessions_dir())
    [problem] = store.scan_sessions(paths.sessions_dir()).unreadable
    assert str(paths.sessions_dir()) in problem


async def test_the_picker_lists_the_readable_sessions_and_names_the_others(
    home: Path, deny: Deny
) -> None:
    from textual.widgets import DataTable

    from llmchat.tui.screens.session_browser import SessionBrowser
    from tests.tui.helpers import chat_app

    saved_session("open")
    hidden = saved_session("closed")
    deny(hidden)
    app = chat_app(None, session="", env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    async with app.run_test() as pilot:
        assert isinstance(app.screen, SessionBrowser)
        for _ in range(50):
            await pilot.pause()
            if app._notifications:
                break
        [note] = [n for n in app._notifications if n.title == "Cannot read saved sessions"]
        assert hidden.name in str(note.message) and "Permission denied" in str(note.message)
        assert app.screen.query_one(DataTable).row_count == 1
