"""The system prompt: shown at the top, edited from the palette, saved with every change,
and still there when the session is reopened."""

from __future__ import annotations

from pathlib import Path

from llmchat.config import Config
from llmchat.core.presets import Preset
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.prompt_input import PromptInput
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app, only_session, wait_for_reply


async def ask(app: object, pilot: object, text: str) -> None:
    app.screen.query_one(PromptInput).text = text  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]
    await wait_for_reply(app)  # type: ignore[arg-type]


def system_sent(server: OpenAIServer) -> str | None:
    first = server.chat_requests[-1].body["messages"][0]
    return first["content"] if first["role"] == "system" else None


async def test_system_edit_from_the_palette_is_sent_shown_and_kept_on_reopening(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(app, pilot, "hello")
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["system: edit"].callback()
        app.screen.query_one(PromptInput).text = "Answer in French.\nBe brief."
        await pilot.press("enter")
        await pilot.pause()
        shown = str(app.screen.query_one("#system-prompt").render())
        assert shown.startswith("system: Answer in French.")
        await ask(app, pilot, "again")
        session_id = app.screen.conversation.info.id  # type: ignore[attr-defined]
    assert system_sent(server) == "Answer in French.\nBe brief."
    again = chat_app(server, session=session_id)
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await ask(again, pilot, "and now?")
    assert system_sent(server) == "Answer in French.\nBe brief."


async def test_a_preset_with_a_system_prompt_after_the_first_message_survives_reopening(
    server: OpenAIServer, home: Path
) -> None:
    custom = Preset("reviewer", 0.2, 1.0, system="Review strictly.")
    app = chat_app(server, config=Config(presets=(custom,)))
    async with app.run_test() as pilot:
        await pilot.pause()
        await ask(app, pilot, "first")
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.sampling.apply_preset(custom)
        await pilot.pause()
    session_id = only_session().info.id
    assert only_session().info.system == "Review strictly."
    again = chat_app(server, session=session_id)
    async with again.run_test() as pilot:
        await pilot.pause()
        await ask(again, pilot, "second")
    assert system_sent(server) == "Review strictly."


async def test_esc_leaves_the_system_prompt_as_it_was(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.screen.run_action("system_edit")
        app.screen.query_one(PromptInput).text = "never mind"
        await pilot.press("escape")
        await ask(app, pilot, "hello")
    assert system_sent(server) is None
