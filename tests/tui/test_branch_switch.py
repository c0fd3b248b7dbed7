"""alt+p / alt+n in a long thread: the messages above the switch stay as they are, the
thread below follows the branch chosen, in the same place on screen. Driven with Pilot
against the loopback server."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from llmchat import paths
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Message, Role
from llmchat.store import SessionFile
from llmchat.tui.app import LlmChatApp
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.reply_view import ReplyView
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app
from tests.tui.test_long_conversation import focused, on_screen, until

TURNS = 40
FORK = 30
"""The turn answered twice: the first answer has the turns after it, the second three."""


class _UnsyncedFile(SessionFile):
    def _sync(self, fd: int) -> None:
        pass


def forked_session(server: OpenAIServer) -> tuple[str, Message, Message]:
    """A session shown on its shorter branch; returns its id and the two answers at the
    fork (older first)."""
    info = SessionInfo(backend="openai", kind="openai", model="test-model")
    info.base_url = server.base_url
    conversation = Conversation(info)
    file = _UnsyncedFile.create(paths.sessions_dir(), info)
    conversation.attach(file)
    first = None
    for turn in range(TURNS):
        conversation.add_user(f"question {turn}", tokens=5)
        conversation.add_reply(Message(Role.ASSISTANT, f"answer {turn}", tokens=5))
        if turn == FORK:
            first = conversation.thread()[-1]
    assert first is not None
    conversation.branch_from(first.parent)
    conversation.add_reply(Message(Role.ASSISTANT, "another answer", tokens=5))
    second = conversation.thread()[-1]
    for turn in range(3):
        conversation.add_user(f"on the other branch {turn}", tokens=5)
        conversation.add_reply(Message(Role.ASSISTANT, f"short {turn}", tokens=5))
    file.close()
    return info.id, first, second


def conversation_of(app: LlmChatApp) -> ConversationView:
    return app.screen.query_one(ConversationView)


def contents(chat: ConversationView) -> list[str]:
    return [view.message.content for view in chat.message_views() if view.message is not None]


async def switch(app: LlmChatApp, pilot: Pilot[None], key: str) -> None:
    # As a terminal sends it: ESC + the letter, which arrives with the letter as its text.
    event = events.Key(key, key[-1])
    event.set_sender(app)
    app.post_message(event)
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_switching_keeps_the_views_above_the_branch_point(
    server: OpenAIServer, home: Path
) -> None:
    session_id, _, second = forked_session(server)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, second), "the newer answer shown")
        question = chat.view_of(second.parent)
        assert question is not None
        await switch(app, pilot, "alt+p")
        assert chat.view_of(second.parent) is question  # the same view, not built again
        assert chat.view_of(second.id) is None


async def test_the_thread_below_the_switch_follows_the_branch_chosen(
    server: OpenAIServer, home: Path
) -> None:
    session_id, first, second = forked_session(server)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, second), "the newer answer shown")
        await switch(app, pilot, "alt+p")
        assert on_screen(chat, first)
        shown = contents(chat)
        below = shown[shown.index(f"answer {FORK}") :]
        assert below[:3] == [f"answer {FORK}", f"question {FORK + 1}", f"answer {FORK + 1}"]
        assert not any("other branch" in text for text in shown)
        view = chat.view_of(first.id)
        assert isinstance(view, ReplyView)
        assert "‹1/2›" in str(view.meta.render())
        await switch(app, pilot, "alt+n")
        assert contents(chat)[-3:] == ["short 1", "on the other branch 2", "short 2"]
        assert f"question {FORK + 1}" not in contents(chat)


async def test_the_answer_chosen_takes_the_place_of_the_one_it_replaces(
    server: OpenAIServer, home: Path
) -> None:
    session_id, first, second = forked_session(server)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, second), "the newer answer shown")
        before = chat.view_of(second.id)
        assert before is not None
        place = before.region.y
        await switch(app, pilot, "alt+p")
        after = chat.view_of(first.id)
        assert after is not None and after.region.y == place


async def test_the_focused_message_stays_focused_on_the_branch_chosen(
    server: OpenAIServer, home: Path
) -> None:
    session_id, first, second = forked_session(server)
    app = chat_app(server, session=session_id)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = conversation_of(app)
        await until(pilot, lambda: on_screen(chat, second), "the newer answer shown")
        await pilot.press("ctrl+up")  # the newest message
        for _ in range(6):  # up to the newer answer at the fork
            await pilot.press("up")
        await until(pilot, lambda: focused(chat, second), "the answer focused")
        # As a terminal sends it (ESC + "p", with "p" as its text): a command, not typing
        # for the prompt, even with the conversation focused.
        await switch(app, pilot, "alt+p")
        assert focused(chat, first)
        view = chat.view_of(first.id)
        assert view is not None and view.has_class("-focused")
        await pilot.press("up")  # message focus goes on from there
        await until(pilot, lambda: not focused(chat, first), "focus moved up")
        assert chat.focused_message is not None
        assert chat.focused_message.id == first.parent


class _ViewOnly(App[None]):
    """The conversation view alone (the chat screen places its own unsent marker)."""

    def compose(self) -> ComposeResult:
        yield ConversationView()


def thread(*texts: str, parent: str | None = None) -> list[Message]:
    messages = []
    for n, text in enumerate(texts):
        role = Role.USER if n % 2 == 0 else Role.ASSISTANT
        messages.append(Message(role, text, parent=parent))
        parent = messages[-1].id
    return messages


async def test_a_marker_above_the_switch_stays_where_it_is() -> None:
    above = thread(*(f"message {n}" for n in range(10)))
    one = thread("answer one", "question", "reply", parent=above[-1].id)
    two = thread("answer two", parent=above[-1].id)
    app = _ViewOnly()
    async with app.run_test(size=(100, 30)) as pilot:
        chat = app.query_one(ConversationView)
        await chat.show_thread(above + one)
        await pilot.pause()
        chat.mark_before(above[-1].id, "marked")
        await pilot.pause()
        question = chat.view_of(above[-1].id)
        await chat.switch_thread(above + two)
        await pilot.pause()
        assert chat.view_of(above[-1].id) is question
        notices = [w for w in chat.children if w.has_class("unsent-marker")]
        assert len(notices) == 1
        children = list(chat.children)
        assert children.index(notices[0]) + 1 == children.index(question)
        assert contents(chat)[-2:] == ["message 9", "answer two"]
