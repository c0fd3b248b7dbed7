"""Opening, switching and renaming sessions from inside the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.store import SessionLocked
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.session_browser import SessionBrowser
from llmchat.tui.screens.text_line import TextLineScreen
from llmchat.tui.widgets.reply_view import UserView
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app, only_session, wait_for_reply


async def chat_once(server: OpenAIServer, text: str) -> str:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.press(*text, "enter")
        await wait_for_reply(app)
    return only_session().info.id


async def test_the_picker_opens_the_chosen_session(server: OpenAIServer, home: Path) -> None:
    await chat_once(server, "remember me")
    app = chat_app(server, session="")
    async with app.run_test() as pilot:
        assert isinstance(app.screen, SessionBrowser)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert [v.message.content for v in app.screen.query(UserView)] == ["remember me"]


async def test_f2_renames_the_session_and_the_new_title_is_saved(
    server: OpenAIServer, home: Path
) -> None:
    session_id = await chat_once(server, "first words")
    app = chat_app(server, session=session_id)
    async with app.run_test() as pilot:
        await pilot.press("f2", "ctrl+a", "ctrl+k", *"Better title", "enter")
        await pilot.pause()
    assert only_session().title == "Better title"


async def test_a_session_open_in_another_llmchat_is_refused(
    server: OpenAIServer, home: Path
) -> None:
    session_id = await chat_once(server, "mine")
    first = chat_app(server, session=session_id)
    async with first.run_test():
        with pytest.raises(SessionLocked, match="another llmchat"):
            chat_app(server, session=session_id)


async def test_the_command_palette_offers_the_apps_actions(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
    assert {"session: new", "session: open…", "session: rename", "app: help"} <= titles
    assert "theme: llmchat-light" in titles


async def test_rename_from_the_command_palette_opens_the_rename_box(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        [rename] = [c for c in app.get_system_commands(app.screen) if c.title == "session: rename"]
        await rename.callback()
        await pilot.pause()
        assert isinstance(app.screen, TextLineScreen)
