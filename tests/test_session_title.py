"""`session: name with the model`: a request of its own, whose answer becomes the title."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.core.conversation import Conversation
from llmchat.core.events import ChatError
from llmchat.core.messages import Message, Role
from llmchat.engine.session_title import Named, clean_title, name_session
from llmchat.gateway.gateway import Gateway
from llmchat.tui.screens.chat import ChatScreen
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, only_session, wait_for_reply


def talked() -> Conversation:
    conversation = Conversation()
    conversation.add_user("How do I voice a minor ii-V-I on guitar?")
    conversation.add_reply(Message(Role.ASSISTANT, "Try Dm7b5, G7alt, Cm6 in the 8th position."))
    return conversation


async def test_the_model_is_asked_for_a_title_from_the_first_exchange(
    server: OpenAIServer,
) -> None:
    server.push(Script(reply='"Minor ii-V-I voicings."'))
    conversation = talked()
    gateway = Gateway(OpenAIBackend("o", server.base_url, "m"))
    try:
        named = await name_session(gateway, conversation)
    finally:
        await gateway.aclose()
    assert isinstance(named, Named)
    assert named.title == "Minor ii-V-I voicings"
    assert named.tokens is not None and named.tokens > 0  # what it cost, told
    [asked] = server.chat_requests
    system, shown = asked.body["messages"]
    assert "title of at most six words" in system["content"]
    assert "minor ii-V-I on guitar" in shown["content"] and "Dm7b5" in shown["content"]
    assert asked.body["max_tokens"] <= 24
    assert len(conversation.messages) == 2  # nothing of it is a message


async def test_nothing_to_name_before_the_first_question(server: OpenAIServer) -> None:
    gateway = Gateway(OpenAIBackend("o", server.base_url, "m"))
    try:
        named = await name_session(gateway, Conversation())
    finally:
        await gateway.aclose()
    assert isinstance(named, ChatError) and "send a message first" in named.message
    assert server.chat_requests == []


@pytest.mark.family("escapes")
@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ("Title: Jazz voicings.\nHere is why…", "Jazz voicings"),
        ("**Guitar chords**", "Guitar chords"),
        ("\x1b]0;pwned\x07Evil", "␛]0;pwned␇Evil"),
        ("word " * 80, ("word " * 12).strip()[:59].rstrip() + "…"),
    ],
    ids=["label", "markdown", "escape", "rambling"],
)
def test_the_answer_is_cleaned_into_one_short_harmless_line(answer: str, title: str) -> None:
    assert clean_title(answer) == title


async def test_naming_from_the_palette_renames_the_session(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.query_one("#prompt").text = "How do I voice a minor ii-V-I?"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for_reply(app)
        server.push(Script(reply="Minor ii-V-I voicings"))
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["session: name with the model"].callback()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Minor ii-V-I voicings" in str(screen.query_one("#session-title").render())
    assert only_session().info.title == "Minor ii-V-I voicings"
