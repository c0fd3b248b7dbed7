"""Editing, regenerating, switching branches and forking from the keyboard."""

from __future__ import annotations

from pathlib import Path

from textual import events

from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.prompt_input import PromptInput
from llmchat.tui.widgets.reply_view import ReplyView, UserView
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply


def shown(app: object) -> list[str]:
    screen = app.screen  # type: ignore[attr-defined]
    return [
        view.message.content
        for view in screen.query("UserView, ReplyView")
        if view.message is not None
    ]


async def ask(app: object, pilot: object, text: str) -> None:
    screen = app.screen  # type: ignore[attr-defined]
    screen.query_one(PromptInput).text = text
    await pilot.press("enter")  # type: ignore[attr-defined]
    await wait_for_reply(app)  # type: ignore[arg-type]


async def test_f7_regenerates_a_reply_as_a_sibling_and_alt_p_goes_back_to_the_first(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="one"), Script(reply="two"))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "question")
        await pilot.press("f7")
        await wait_for_reply(app)
        await pilot.pause()
        assert shown(app) == ["question", "two"]
        assert "‹2/2›" in str(app.screen.query(ReplyView).last().meta.render())
        # As a terminal sends it: ESC + "p", which arrives with "p" as its character.
        key = events.Key("alt+p", "p")
        key.set_sender(app)
        app.post_message(key)
        await pilot.pause(0.3)
        assert shown(app) == ["question", "one"]
        assert app.screen.query_one(PromptInput).text == ""  # no p typed
        assert "‹1/2›" in str(app.screen.query(ReplyView).last().meta.render())
        session_id = app.screen.conversation.info.id  # type: ignore[attr-defined]
    first, second = server.chat_requests
    assert first.body["messages"] == second.body["messages"]  # the same question again
    again = chat_app(server, session=session_id)
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert shown(again) == ["question", "one"]  # reopened on the branch chosen


async def test_f6_edits_a_question_into_a_new_branch_and_keeps_the_original(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="A1"), Script(reply="A2"), Script(reply="A2 edited"))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        await ask(app, pilot, "second")
        await pilot.press("f6")
        prompt = app.screen.query_one(PromptInput)
        assert prompt.text == "second"
        prompt.text = "second, better"
        await pilot.press("enter")
        await wait_for_reply(app)
        await pilot.pause()
        assert shown(app) == ["first", "A1", "second, better", "A2 edited"]
        assert "‹2/2›" in str(app.screen.query(UserView).last().render())
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert len(screen.conversation.messages) == 6  # the original branch is kept
    sent = [m["content"] for m in server.chat_requests[-1].body["messages"]]
    assert sent == ["first", "A1", "second, better"]


async def test_esc_gives_up_an_edit_and_brings_back_the_draft(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        prompt = app.screen.query_one(PromptInput)
        prompt.text = "half a thought"
        await pilot.press("f6")
        assert prompt.text == "first"
        await pilot.press("escape")
        assert prompt.text == "half a thought"
        await pilot.press("enter")
        await wait_for_reply(app)
    assert [m["content"] for m in server.chat_requests[-1].body["messages"]][-1] == (
        "half a thought"
    )


async def test_f8_forks_into_a_new_session_and_opens_it(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        original = app.screen.conversation.info.id  # type: ignore[attr-defined]
        await pilot.press("f8")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert screen.conversation.info.forked_from == original
        assert shown(app) == ["first", shown(app)[1]]
        await ask(app, pilot, "only in the fork")
    assert len(server.chat_requests[-1].body["messages"]) == 3


async def test_switching_with_no_branch_says_how_to_make_one(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        await pilot.press("alt+n")
        await pilot.pause()
        assert any("No other branch" in str(n.message) for n in app._notifications)


async def test_f6_on_a_focused_reply_edits_the_question_it_answers(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="A1"), Script(reply="A2"))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        await ask(app, pilot, "second")
        await pilot.press("ctrl+up", "up", "up")  # A2, second, A1
        await pilot.press("f6")
        assert app.screen.query_one(PromptInput).text == "first"


async def test_f7_on_a_focused_question_regenerates_its_reply(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="A1"), Script(reply="A2"), Script(reply="A1 again"))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        await ask(app, pilot, "second")
        await pilot.press("ctrl+up", "up", "up", "up")  # A2, second, A1, first
        await pilot.press("f7")
        await wait_for_reply(app)
        await pilot.pause()
        assert shown(app) == ["first", "A1 again"]  # the newest thread below the new sibling


async def test_the_footer_offers_esc_only_while_an_edit_is_under_way(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        screen = app.screen
        await pilot.press("f6")
        await pilot.pause()
        assert "Stop" in footer_keys(screen)  # Esc ends the edit
        await pilot.press("escape")
        await pilot.pause()
        assert "Stop" not in footer_keys(screen)


def footer_keys(screen: object) -> list[str]:
    from textual.widgets._footer import FooterKey

    return [key.description for key in screen.query(FooterKey)]  # type: ignore[attr-defined]


async def test_k_and_j_move_message_focus_and_other_letters_go_to_the_prompt(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="A1"), Script(reply="A2"))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        await ask(app, pilot, "second")
        chat = app.screen.query_one("#conversation", ConversationView)
        await pilot.press("ctrl+up", "k", "k")  # A2, then second, then A1
        await pilot.pause()
        assert chat.focused_message is not None and chat.focused_message.content == "A1"
        await pilot.press("j")
        await pilot.pause()
        assert chat.focused_message is not None and chat.focused_message.content == "second"
        await pilot.press("x")
        prompt = app.screen.query_one(PromptInput)
        assert prompt.text == "x" and prompt.has_focus


async def test_a_message_key_while_a_reply_streams_says_why_it_waits(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="A1"), Script(reply=" ".join(["slow"] * 200), rate=50))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        app.screen.query_one(PromptInput).text = "second"
        await pilot.press("enter")
        await pilot.pause(0.3)
        await pilot.press("f7")
        await pilot.pause()
        assert any("still streaming" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        await wait_for_reply(app)
