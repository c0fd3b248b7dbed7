"""A long resumed session: every message in reach, only those near the viewport built;
message focus from the keyboard. Driven with Pilot against the loopback server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from llmchat import paths
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Message, Role
from llmchat.store import SessionFile
from llmchat.tui.app import LlmChatApp
from llmchat.tui.widgets.conversation_view import BATCH, MOST_MOUNTED, ConversationView
from llmchat.tui.widgets.prompt_input import PromptInput
from llmchat.tui.widgets.reply_view import ReplyView
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply

MESSAGES = 1000


class _UnsyncedFile(SessionFile):
    """The real writer without fsync (1,000 of them would only make the test slow)."""

    def _sync(self, fd: int) -> None:
        pass


def long_session(server: OpenAIServer, messages: int = MESSAGES) -> tuple[str, list[Message]]:
    info = SessionInfo(backend="openai", kind="openai", model="test-model")
    info.base_url = server.base_url
    conversation = Conversation(info)
    file = _UnsyncedFile.create(paths.sessions_dir(), info)
    conversation.attach(file)
    for turn in range(messages // 2):
        conversation.add_user(f"question {turn}: " + "words to wrap " * (turn % 7), tokens=9)
        conversation.add_reply(
            Message(Role.ASSISTANT, f"answer {turn}\n\nwith a second paragraph", tokens=12)
        )
    file.close()
    return info.id, conversation.messages


def conversation_of(app: LlmChatApp) -> ConversationView:
    return app.screen.query_one(ConversationView)


def on_screen(chat: ConversationView, message: Message) -> bool:
    view = chat.view_of(message.id)
    return view is not None and view.region.overlaps(chat.region)


def focused(chat: ConversationView, message: Message) -> bool:
    return chat.focused_message is not None and chat.focused_message.id == message.id


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Pause until `condition` holds (no timing is asserted: a slow machine only waits)."""
    for _ in range(600):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never happened: {what}")


async def test_a_resumed_long_session_shows_its_last_message_with_few_views_built(
    server: OpenAIServer, home: Path
) -> None:
    session_id, messages = long_session(server)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, messages[-1]), "the last message shown")
        await pilot.pause(0.2)
        assert len(list(chat.message_views())) <= MOST_MOUNTED
        assert chat.view_of(messages[0].id) is None


async def test_ctrl_home_reaches_the_first_message_and_ctrl_end_comes_back(
    server: OpenAIServer, home: Path
) -> None:
    session_id, messages = long_session(server)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, messages[-1]), "the last message shown")
        await pilot.press("ctrl+home")
        await until(pilot, lambda: on_screen(chat, messages[0]), "the first message shown")
        first = chat.view_of(messages[0].id)
        assert first is not None and "question 0:" in str(first.render())
        await pilot.press("ctrl+end")
        await until(pilot, lambda: on_screen(chat, messages[-1]), "back at the last message")


async def test_scrolling_up_builds_older_messages_and_keeps_the_count_bounded(
    server: OpenAIServer, home: Path
) -> None:
    session_id, messages = long_session(server)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, messages[-1]), "the last message shown")
        position = {m.id: n for n, m in enumerate(messages)}
        oldest_before = min(position[v.message.id] for v in chat.message_views() if v.message)
        for _ in range(40):
            await pilot.press("pageup")
            await pilot.pause(0.02)
            assert len(list(chat.message_views())) <= MOST_MOUNTED + BATCH
        await pilot.pause(0.2)
        built = [position[v.message.id] for v in chat.message_views() if v.message]
        assert min(built) < oldest_before - 40
        assert len(built) <= MOST_MOUNTED
        assert built == sorted(built)  # in order, without holes
        assert built == list(range(built[0], built[0] + len(built)))
        assert not on_screen(chat, messages[-1])


async def test_message_focus_moves_with_the_keys_across_unbuilt_messages(
    server: OpenAIServer, home: Path
) -> None:
    session_id, messages = long_session(server)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, messages[-1]), "the last message shown")
        await pilot.press("ctrl+up")
        await until(pilot, lambda: focused(chat, messages[-1]), "newest focused")
        assert app.focused is chat
        await pilot.press("up", "up")
        await until(pilot, lambda: focused(chat, messages[-3]), "two up")
        view = chat.view_of(messages[-3].id)
        assert view is not None and view.has_class("-focused")
        await pilot.press("down")
        await until(pilot, lambda: focused(chat, messages[-2]), "one down")
        await pilot.press("home")
        await until(pilot, lambda: focused(chat, messages[0]), "the first focused")
        await until(pilot, lambda: on_screen(chat, messages[0]), "the first shown")
        await pilot.press("end")
        await until(pilot, lambda: focused(chat, messages[-1]), "the last again")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.focused, PromptInput), "back to the prompt")
        assert chat.focused_message is None
        assert not chat.query(".-focused")


async def test_typing_in_message_focus_goes_to_the_prompt(server: OpenAIServer, home: Path) -> None:
    session_id, messages = long_session(server, 20)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await pilot.press("ctrl+up", "up")
        await until(pilot, lambda: focused(chat, messages[-2]), "focused")
        await pilot.press("h", "i")
        await until(pilot, lambda: chat.focused_message is None, "message focus ended")
        assert app.screen.query_one(PromptInput).text == "hi"


async def test_a_new_turn_after_resuming_appends_and_streams_even_from_the_top(
    server: OpenAIServer, home: Path
) -> None:
    session_id, messages = long_session(server)
    server.push(Script(reply="the newest reply"))
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, messages[-1]), "the last message shown")
        await pilot.press("ctrl+home")
        await until(pilot, lambda: on_screen(chat, messages[0]), "the first message shown")
        await pilot.press(*"and now?")
        await pilot.press("enter")
        await wait_for_reply(app)
        reply = chat.query(ReplyView).last()
        await until(pilot, lambda: reply.region.overlaps(chat.region), "the reply shown")
        assert reply.body.source == "the newest reply"
        assert on_screen(chat, messages[-1]) or chat.view_of(messages[-1].id) is not None
