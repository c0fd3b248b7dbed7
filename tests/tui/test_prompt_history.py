"""↑/↓ in the prompt recall earlier user messages, as in a shell: this session's first,
then earlier sessions', and never over a draft."""

from __future__ import annotations

import os
from pathlib import Path

from textual.pilot import Pilot

from llmchat import paths
from llmchat.core.conversation import Conversation
from llmchat.core.messages import Message, Role
from llmchat.core.records import SessionInfo
from llmchat.store import SessionFile
from llmchat.tui.app import LlmChatApp
from llmchat.tui.widgets.prompt_input import PromptInput
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app, wait_for_reply


def prompt(app: LlmChatApp) -> PromptInput:
    return app.screen.query_one(PromptInput)


async def send(pilot: Pilot[None], app: LlmChatApp, *keys: str) -> None:
    await pilot.press(*keys, "enter")
    await wait_for_reply(app)
    await pilot.pause()


async def up(pilot: Pilot[None], app: LlmChatApp) -> str:
    await pilot.press("up")
    await app.workers.wait_for_complete()  # earlier sessions are read by a worker
    await pilot.pause()
    return prompt(app).text


async def down(pilot: Pilot[None], app: LlmChatApp) -> str:
    await pilot.press("down")
    await pilot.pause()
    return prompt(app).text


def saved_session(prompts: list[str], *, updated: int) -> str:
    """A session saved earlier by the real writer; returns its id."""
    info = SessionInfo()
    conversation = Conversation(info)
    file = SessionFile.create(paths.ensure_sessions_dir(), info)
    conversation.attach(file)
    for text in prompts:
        conversation.add_user(text)
        conversation.add_reply(Message(Role.ASSISTANT, "ok"))
    file.close()
    os.utime(file.path, (updated, updated))
    return info.id


def last_user_text(server: OpenAIServer) -> str:
    messages = server.chat_requests[-1].body["messages"]
    return [m["content"] for m in messages if m["role"] == "user"][-1]


async def test_up_recalls_this_sessions_messages_newest_first_and_down_comes_back(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, app, *"first")
        await send(pilot, app, *"second")
        assert await up(pilot, app) == "second"
        assert await up(pilot, app) == "first"
        assert await up(pilot, app) == "first"  # nothing older
        assert await down(pilot, app) == "second"
        assert await down(pilot, app) == ""  # past the newest: the empty prompt again


async def test_a_message_sent_twice_in_a_row_is_recalled_once(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, app, *"other")
        await send(pilot, app, *"again")
        await send(pilot, app, *"again")
        assert await up(pilot, app) == "again"
        assert await up(pilot, app) == "other"


async def test_an_edited_recall_is_sent_as_edited(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, app, *"hello")
        await up(pilot, app)
        await send(pilot, app, *" there")
        assert last_user_text(server) == "hello there"
        assert prompt(app).text == ""
        assert await up(pilot, app) == "hello there"  # what was just sent comes first


async def test_up_in_a_draft_moves_the_cursor_and_recalls_nothing(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, app, *"sent before")
        await pilot.press(*"line one", "ctrl+j", *"line two")
        assert prompt(app).cursor_location[0] == 1
        assert await up(pilot, app) == "line one\nline two"
        assert prompt(app).cursor_location[0] == 0
        assert await up(pilot, app) == "line one\nline two"  # first line: still a draft


async def test_an_edited_recall_takes_up_and_down_as_cursor_keys(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, app, *"older")
        await send(pilot, app, *"newer")
        await up(pilot, app)
        await pilot.press("!")
        assert await up(pilot, app) == "newer!"
        assert await down(pilot, app) == "newer!"


async def test_up_walks_a_recalled_multi_line_message_before_going_further_back(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, app, *"single")
        await send(pilot, app, *"top", "ctrl+j", *"bottom")
        assert await up(pilot, app) == "top\nbottom"
        assert prompt(app).cursor_location == (1, 6)  # at the end, as a shell leaves it
        assert await up(pilot, app) == "top\nbottom"  # the cursor went to the first line
        assert prompt(app).cursor_location[0] == 0
        assert await up(pilot, app) == "single"
        assert await down(pilot, app) == "top\nbottom"
        assert await down(pilot, app) == ""


async def test_a_resumed_session_recalls_its_own_messages(server: OpenAIServer, home: Path) -> None:
    session_id = saved_session(["from before", "last before"], updated=1_780_000_000)
    app = chat_app(server, session=session_id)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert await up(pilot, app) == "last before"
        assert await up(pilot, app) == "from before"


async def test_after_this_sessions_messages_come_earlier_sessions_newest_first(
    server: OpenAIServer, home: Path
) -> None:
    saved_session(["oldest session"], updated=1_780_000_000)
    saved_session(["newer session 1", "newer session 2"], updated=1_780_000_100)
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, app, *"now")
        assert await up(pilot, app) == "now"
        assert await up(pilot, app) == "newer session 2"
        assert await up(pilot, app) == "newer session 1"
        assert await up(pilot, app) == "oldest session"
        assert await down(pilot, app) == "newer session 1"


async def test_a_new_session_recalls_the_last_sessions_messages(
    server: OpenAIServer, home: Path
) -> None:
    saved_session(["yesterday"], updated=1_780_000_000)
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert await up(pilot, app) == "yesterday"
        assert await down(pilot, app) == ""


async def test_control_characters_in_a_recalled_message_never_reach_the_terminal(
    server: OpenAIServer, home: Path
) -> None:
    session_id = saved_session(["title\x1b]0;pwned\x07 \x9b2J end"], updated=1_780_000_000)
    app = chat_app(server, session=session_id)
    async with app.run_test() as pilot:
        await pilot.pause()
        recalled = await up(pilot, app)
        assert recalled.startswith("title␛]0;pwned␇") and recalled.endswith("end")
        drawn = "".join(segment.text for segment in prompt(app).render_line(0))
        assert not any(char in drawn for char in "\x1b\x07\x9b")
