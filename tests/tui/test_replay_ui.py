"""Replay from the request inspector: `r` picks another backend or model, `p` a preset;
the reply streams in as a sibling of the original, then both show side by side with
their facts lines. Two loopback servers that answer differently."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import OptionList

from llmchat.core.messages import Message, Role, Status
from llmchat.launch import build_launch
from llmchat.reconnect import BackendFlags, reconnect
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.model_picker import ModelChoice, ModelPicker
from llmchat.tui.screens.preset_picker import PresetPicker
from llmchat.tui.screens.replay_comparison import ReplayComparison
from llmchat.tui.screens.request_inspector import RequestInspector
from llmchat.tui.widgets.status_bar import StatusBar
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import only_session
from tests.tui.test_model_switch import app_for, choose, send, two_backends

HOSTILE = "beta \x1b[31m[@click=app.quit]red[/] says hello"


async def settle(app: LlmChatApp, chat: ChatScreen) -> None:
    worker = chat.reply_worker
    if worker is not None:
        await worker.wait()
    await app.workers.wait_for_complete()


async def open_inspector(app: LlmChatApp, pilot) -> RequestInspector:  # type: ignore[no-untyped-def]
    commands = {c.title: c for c in app.get_system_commands(app.screen)}
    await commands["inspect: request"].callback()
    await pilot.pause()
    assert isinstance(app.screen, RequestInspector)
    return app.screen


def shown(screen: object) -> str:
    return "\n".join(str(s.render()) for s in screen.query("Static"))  # type: ignore[attr-defined]


async def test_replay_on_another_backend_shows_both_replies_side_by_side(home: Path) -> None:
    with (
        OpenAIServer(models=("a-one",)) as alpha,
        OpenAIServer(models=("b-one",)) as beta,
    ):
        alpha.push(Script(reply="alpha says hi"))
        beta.push(Script(reply=HOSTILE))
        app = app_for(two_backends(alpha, beta))
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            chat = app.screen
            assert isinstance(chat, ChatScreen)
            await send(pilot, "hello?")
            await settle(app, chat)
            await open_inspector(app, pilot)
            await pilot.press("r")
            await pilot.pause()
            picker = app.screen
            assert isinstance(picker, ModelPicker)
            await picker.workers.wait_for_complete()
            await pilot.pause()
            await choose(pilot, picker, ModelChoice("beta", "b-one"))
            await settle(app, chat)
            await pilot.pause()
            comparison = app.screen
            assert isinstance(comparison, ReplayComparison)
            text = shown(comparison)
            assert "alpha says hi" in text
            assert "beta" in text and "b-one" in text and "a-one" in text
            assert "Replayed on beta · b-one" in text  # the target named, not "elsewhere"
            assert "\x1b" not in text  # the hostile reply is shown harmless
            assert app.is_running  # and its action syntax ran nothing
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is chat
            assert chat.service.gateway.name == "alpha"  # the session stays on alpha
            facts = chat.query_one(StatusBar).facts
            assert facts.model == "a-one"
            assert chat.breaker_watch.alarm() is None  # a replay is no fallback
    assert [r.body["model"] for r in beta.chat_requests] == ["b-one"]
    session = only_session()
    replies = [m for m in session.messages if m.role is Role.ASSISTANT]
    assert [(m.backend, m.model) for m in replies] == [("alpha", "a-one"), ("beta", "b-one")]
    assert replies[0].parent == replies[1].parent  # siblings
    assert replies[1].content == HOSTILE  # stored exactly as sent


async def test_replay_with_a_preset_sends_its_dials(home: Path) -> None:
    with OpenAIServer(models=("a-one",)) as alpha, OpenAIServer() as beta:
        alpha.push(Script(reply="first answer"), Script(reply="second answer"))
        app = app_for(two_backends(alpha, beta))
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            chat = app.screen
            assert isinstance(chat, ChatScreen)
            await send(pilot, "hello?")
            await settle(app, chat)
            await open_inspector(app, pilot)
            await pilot.press("p")
            await pilot.pause()
            picker = app.screen
            assert isinstance(picker, PresetPicker)
            names = [p.name for p in picker.presets]
            picker.query_one(OptionList).highlighted = names.index("SQL / schema mapping")
            await pilot.press("enter")
            await pilot.pause()
            await settle(app, chat)
            await pilot.pause()
            assert isinstance(app.screen, ReplayComparison)
            assert "second answer" in shown(app.screen)
            assert "T 0.00" in shown(app.screen)
            assert "Replayed with the preset SQL / schema mapping" in shown(app.screen)
            dials = chat.conversation.params
    first, second = (r.body for r in alpha.chat_requests)
    assert second["temperature"] == 0.0 and first["temperature"] == dials.temperature
    assert dials.temperature != 0.0  # the session's own dials are untouched


async def replay_on(app: LlmChatApp, pilot, chat: ChatScreen, choice: ModelChoice) -> None:  # type: ignore[no-untyped-def]
    """`r` in the inspector, then `choice` in the picker; waits for the replay."""
    await open_inspector(app, pilot)
    await pilot.press("r")
    await pilot.pause()
    picker = app.screen
    assert isinstance(picker, ModelPicker)
    await picker.workers.wait_for_complete()
    await pilot.pause()
    await choose(pilot, picker, choice)
    await settle(app, chat)
    await pilot.pause()


async def test_curl_after_a_replay_sends_no_key_where_none_went(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # alpha's key comes from ALPHA_KEY; beta (a keyless local server) was sent none, so
    # the copied command must not send alpha's (or anyone's) key to beta.
    monkeypatch.setenv("ALPHA_KEY", "sk-alphasecretkey1234567890")
    with (
        OpenAIServer(models=("a-one",)) as alpha,
        OpenAIServer(models=("b-one",)) as beta,
    ):
        alpha.push(Script(reply="alpha says hi"))
        beta.push(Script(reply="beta says hi"))
        config = two_backends(alpha, beta)
        config.backends["alpha"] = replace(config.backends["alpha"], api_key_env="ALPHA_KEY")
        env = dict(os.environ)
        again = reconnect(config, env, BackendFlags(), None)
        launch = build_launch(
            again.resolution,
            config,
            [],
            None,
            reconnect_to=lambda record: reconnect(config, env, BackendFlags(), record),
        )
        app = LlmChatApp(launch)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            chat = app.screen
            assert isinstance(chat, ChatScreen)
            await send(pilot, "hello?")
            await settle(app, chat)
            await replay_on(app, pilot, chat, ModelChoice("beta", "b-one"))
            assert isinstance(app.screen, ReplayComparison)
            await pilot.press("escape")
            await pilot.pause()
            await open_inspector(app, pilot)
            await pilot.press("c")
            await pilot.pause()
            copied = app.clipboard
        assert alpha.chat_requests[0].headers.get("authorization")  # alpha did get its key
    assert beta.base_url in copied
    assert "Authorization" not in copied and "KEY" not in copied


def shown_messages(chat: ChatScreen) -> list[str]:
    """The text of every message view in the chat, top to bottom (empty views too)."""
    from llmchat.tui.widgets.conversation_view import ConversationView

    return [
        getattr(getattr(view, "message", None), "content", "") or ""
        for view in chat.query_one(ConversationView).children
        if type(view).__name__ in ("UserView", "ReplyView", "MessageView")
    ]


async def test_a_replay_whose_question_is_on_another_branch_is_refused_and_clears_nothing(
    home: Path,
) -> None:
    with (
        OpenAIServer(models=("a-one",)) as alpha,
        OpenAIServer(models=("b-one",)) as beta,
    ):
        alpha.push(Script(reply="r-first"), Script(reply="r-second"))
        app = app_for(two_backends(alpha, beta))
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            chat = app.screen
            assert isinstance(chat, ChatScreen)
            await send(pilot, "first")
            await settle(app, chat)
            chat.conversation.branch_from(None)  # a second root question, as an edit makes
            await send(pilot, "second")
            await settle(app, chat)
            second = chat.conversation.thread()[0]
            chat.conversation.switch_branch(second, -1)  # back to the first branch
            await chat.messages_ui.show_thread()
            await pilot.pause()
            before = [m.content for m in chat.conversation.thread()]
            assert before == ["first", "r-first"]
            await open_inspector(app, pilot)  # its last request answered "second"
            await pilot.press("p")
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            await settle(app, chat)
            await pilot.pause()
            assert app.screen is chat
            assert [m.content for m in chat.conversation.thread()] == before
            assert "first" in shown_messages(chat) and "r-first" in shown_messages(chat)
            assert len(alpha.chat_requests) == 2  # nothing was sent
            notices = [str(n.message) for n in app._notifications]
            assert any("another branch" in n for n in notices)


async def test_a_refused_replay_leaves_the_original_reply_on_screen(home: Path) -> None:
    with (
        OpenAIServer(models=("a-one",)) as alpha,
        OpenAIServer(models=("b-one",)) as beta,
    ):
        alpha.push(Script(reply="alpha answer"))
        config = two_backends(alpha, beta)
        config.backends["beta"] = replace(config.backends["beta"], context_window=60)
        app = app_for(config)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            chat = app.screen
            assert isinstance(chat, ChatScreen)
            chat.query_one("#prompt").text = "hello? " * 100  # type: ignore[attr-defined]
            await pilot.press("enter")
            await settle(app, chat)
            await replay_on(app, pilot, chat, ModelChoice("beta", "b-one"))
            assert app.screen is chat  # refused: nothing to compare
            assert beta.chat_requests == []
            assert shown_messages(chat)[-1] == "alpha answer"
            assert [m.content for m in chat.conversation.thread()][-1] == "alpha answer"


def compared(backend: str, model: str, content: str) -> Message:
    message = Message(role=Role.ASSISTANT, content=content)
    message.backend, message.model, message.status = backend, model, Status.COMPLETE
    return message


class ComparisonApp(App[None]):
    async def on_mount(self) -> None:
        before = compared("alpha", "a-one-with-a-long-model-name", "first line\n" * 50)
        after = compared("beta", "b-" + "x" * 80, "second line\n" * 50)
        await self.push_screen(ReplayComparison(before, after, "on beta · b-one"))


@pytest.mark.parametrize("size", [(40, 12), (60, 20)])
async def test_on_a_small_terminal_the_two_replies_are_stacked_and_both_can_be_read(
    size: tuple[int, int],
) -> None:
    app = ComparisonApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        first, second = app.screen.query(".column")
        assert second.region.y >= first.region.bottom  # one above the other
        for column in (first, second):
            assert column.region.height >= 3 and column.region.right <= size[0]
            column.scroll_end(animate=False)
            await pilot.pause()
            assert column.max_scroll_y > 0  # heading, facts and reply scroll together
            assert column.scroll_y == column.max_scroll_y


async def test_on_a_wide_terminal_the_two_replies_are_side_by_side() -> None:
    app = ComparisonApp()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        first, second = app.screen.query(".column")
        assert first.region.y == second.region.y and second.region.x >= first.region.right


async def test_trimming_after_a_message_not_in_the_thread_takes_nothing_off_the_screen(
    home: Path,
) -> None:
    with OpenAIServer(models=("a-one",)) as alpha, OpenAIServer(models=("b-one",)) as beta:
        alpha.push(Script(reply="alpha answer"))
        app = app_for(two_backends(alpha, beta))
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            chat = app.screen
            assert isinstance(chat, ChatScreen)
            await send(pilot, "hello?")
            await settle(app, chat)
            before = shown_messages(chat)
            await chat.messages_ui.trim_after("no-such-message")
            await pilot.pause()
            assert shown_messages(chat) == before
            assert "alpha answer" in before
