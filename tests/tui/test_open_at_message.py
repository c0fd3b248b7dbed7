"""Opening a session at one message (a search hit), however far it is from the newest."""

from __future__ import annotations

from pathlib import Path

from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.prompt_input import PromptInput
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app
from tests.tui.test_long_conversation import (
    conversation_of,
    focused,
    long_session,
    on_screen,
    until,
)


def chat_shown(app: LlmChatApp) -> bool:
    return isinstance(app.screen, ChatScreen) and bool(app.screen.query(ConversationView))


async def test_a_session_opens_at_a_message_near_the_top_of_500(
    server: OpenAIServer, home: Path
) -> None:
    session_id, messages = long_session(server, 500)
    target = messages[4]
    app = chat_app(server, session="")
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_session(session_id, at_message=target.id)
        await until(pilot, lambda: chat_shown(app), "the chat opened")
        chat = conversation_of(app)
        await until(pilot, lambda: focused(chat, target), "the message focused")
        await until(pilot, lambda: on_screen(chat, target), "the message scrolled to")
        assert not on_screen(chat, messages[-1])


async def test_esc_leaves_the_message_for_the_prompt(server: OpenAIServer, home: Path) -> None:
    session_id, messages = long_session(server, 500)
    app = chat_app(server, session="")
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_session(session_id, at_message=messages[10].id)
        await until(pilot, lambda: chat_shown(app), "the chat opened")
        chat = conversation_of(app)
        await until(pilot, lambda: focused(chat, messages[10]), "the message focused")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.focused, PromptInput), "back at the prompt")
        assert chat.focused_message is None


async def test_the_open_session_goes_to_a_message_asked_for(
    server: OpenAIServer, home: Path
) -> None:
    session_id, messages = long_session(server, 500)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, messages[-1]), "the newest shown")
        await pilot.press("f3")
        app.open_session(session_id, at_message=messages[2].id)
        await until(pilot, lambda: chat_shown(app), "back in the chat")
        assert conversation_of(app) is chat  # the same session, not opened twice
        await until(pilot, lambda: focused(chat, messages[2]), "the message focused")
        await until(pilot, lambda: on_screen(chat, messages[2]), "the message scrolled to")
