"""The chat screen when its session file is taken away or cannot be written."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label

from llmchat import paths
from llmchat.core.messages import Message, Role
from llmchat.core.params import SamplingParams
from llmchat.core.records import SessionHeader, SessionInfo
from llmchat.store import SessionFile, encode_record, load_session, session_filename
from llmchat.store.session_format import to_json
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.unsaved import UnsavedScreen
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, latest, only_session, wait_for_reply

pytestmark = pytest.mark.family("sessions")

TEST_REPLY = "Hello from the llmchat test server."


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text)
    await pilot.press("enter")


async def test_a_deleted_session_file_is_written_again_whole_and_the_user_told(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="first answer"), Script(reply="second answer"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "one")
        await wait_for_reply(app)
        path = latest().path
        path.unlink()
        await send(pilot, "two")
        await wait_for_reply(app)
        await pilot.pause()
        toasts = [str(n.message) for n in app._notifications]
        assert any("was deleted or moved away" in t and str(path) in t for t in toasts), toasts
    saved = only_session()
    assert saved.path == path and saved.warnings == []
    assert [(m.role, m.content) for m in saved.messages] == [
        (Role.USER, "one"),
        (Role.ASSISTANT, "first answer"),
        (Role.USER, "two"),
        (Role.ASSISTANT, "second answer"),
    ]


class FullDisk:
    """Every session-file fsync fails like a full disk while `on` (the record is then cut
    back, as after a short write)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on = True
        real = SessionFile._sync

        def sync(file: SessionFile, fd: int) -> None:
            if self.on:
                raise OSError(errno.ENOSPC, "No space left on device")
            real(file, fd)

        monkeypatch.setattr(SessionFile, "_sync", sync)


async def unsaved_reply(app: LlmChatApp, pilot: Pilot[None], disk: FullDisk) -> None:
    """A question answered and saved, then a second one the full disk refused."""
    disk.on = False
    await send(pilot, "one")
    await wait_for_reply(app)
    disk.on = True
    await send(pilot, "two")
    await wait_for_reply(app)
    assert app.context is not None and app.context.conversation.unsaved


async def test_quitting_with_unsaved_messages_asks_and_stays_on_stay(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch)
    app = chat_app(server)
    async with app.run_test() as pilot:
        await unsaved_reply(app, pilot, disk)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, UnsavedScreen)
        assert "No space left on device" in str(app.screen.query_one("#unsaved-problem").render())
        await pilot.press("ctrl+q")  # asked again: still the one question, still running
        await pilot.pause()
        assert isinstance(app.screen, UnsavedScreen) and len(app.screen_stack) == 2
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen) and app.is_running


async def test_retry_saving_after_space_was_freed_saves_everything_and_quits(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch)
    app = chat_app(server)
    async with app.run_test() as pilot:
        await unsaved_reply(app, pilot, disk)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.click("#retry")  # still full: says so, stays
        await pilot.pause()
        assert isinstance(app.screen, UnsavedScreen)
        assert "Still not saved" in str(app.screen.query_one("#unsaved-problem").render())
        disk.on = False
        app.screen.query_one("#retry", Button).press()  # a second click would be too soon
        await pilot.pause()
        assert app._exit
    assert [m.content for m in only_session().messages][-2:] == ["two", TEST_REPLY]


async def test_save_to_another_path_writes_the_whole_session_there_and_quits(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    disk = FullDisk(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await unsaved_reply(app, pilot, disk)
        session_id = app.context.conversation.info.id  # type: ignore[union-attr]
        await pilot.press("ctrl+q")
        await pilot.pause()
        offered = Path(app.screen.query_one("#unsaved-path", Input).value)
        assert offered.parent == tmp_path and offered.name.endswith(f"-{session_id}.jsonl")
        await pilot.click("#save-as")
        await pilot.pause()
        assert app._exit
    copy = load_session(offered)
    assert copy.warnings == [] and copy.info.id == session_id
    assert [m.content for m in copy.messages] == ["one", TEST_REPLY, "two", TEST_REPLY]
    assert stat.S_IMODE(offered.stat().st_mode) == 0o600


async def test_quit_anyway_quits_and_keeps_what_was_saved(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch)
    app = chat_app(server)
    async with app.run_test() as pilot:
        await unsaved_reply(app, pilot, disk)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.click("#quit")
        await pilot.pause()
        assert app._exit
    assert [m.content for m in only_session().messages] == ["one", TEST_REPLY]


async def test_opening_another_session_with_unsaved_messages_asks_first(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    disk = FullDisk(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await unsaved_reply(app, pilot, disk)
        first = app.context.conversation.info.id  # type: ignore[union-attr]
        app.open_session(None)  # a new session (F3's picker, ctrl+n: the same road)
        await pilot.pause()
        assert isinstance(app.screen, UnsavedScreen)
        assert "opening another session" in str(app.screen.query_one(Label).render())
        offered = Path(app.screen.query_one("#unsaved-path", Input).value)
        await pilot.click("#save-as")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen) and app.is_running
        assert app.context is not None and app.context.conversation.info.id != first
    copy = load_session(offered)
    assert [m.content for m in copy.messages] == ["one", TEST_REPLY, "two", TEST_REPLY]


async def test_quitting_with_everything_saved_asks_nothing(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "one")
        await wait_for_reply(app)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app._exit


@pytest.mark.parametrize(
    "stored",
    [
        b'{"temperature":NaN,"top_p":-7,"max_tokens":-100,"seed":null}',
        b'{"temperature":1e308,"top_p":1e308,"max_tokens":1e308,"seed":1e308}',
    ],
    ids=["nan-negative", "1e308"],
)
async def test_a_session_with_bad_stored_params_opens_with_the_last_sound_ones(
    server: OpenAIServer, home: Path, stored: bytes
) -> None:
    info = SessionInfo(id="badparams001", title="Bad params")
    folder = paths.sessions_dir()
    folder.mkdir(parents=True)
    (folder / session_filename(info)).write_bytes(
        encode_record(to_json(SessionHeader(info, SamplingParams(temperature=0.3, top_p=0.8))))
        + encode_record(to_json(Message(Role.USER, "hi")))
        + b'{"type":"params","ts":"t","params":'
        + stored
        + b"}\n"
    )
    server.push(Script(reply="fine"))
    app = chat_app(server, session=info.id)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert app.screen.conversation.params == SamplingParams(temperature=0.3, top_p=0.8)
        await send(pilot, "again")
        await wait_for_reply(app)
    body = server.chat_requests[-1].body
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.8, 1024)
