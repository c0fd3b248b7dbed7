"""The sampling panel shows a dial the model ignores as locked, with the reason: known
from the rules table at once, or learnt from the server's 400 during a turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.params_panel import ParamsPanel
from llmchat.tui.widgets.prompt_input import PromptInput
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply


async def test_a_model_known_to_ignore_the_dials_shows_them_locked(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server, env={"LLMCHAT_MODEL": "gpt-5-mini"})
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(ParamsPanel)
        assert panel.temperature.locked is not None and panel.top_p.locked is not None
        assert "locked: ignored" in panel.temperature.value_text
        await pilot.press("f9")
        await pilot.press("right")  # the focused temperature slider does not move
        assert panel.temperature.value == 1.0
        assert "OpenAI reasoning models" in str(panel.query_one("#params-rule").render())


async def test_other_models_keep_live_dials(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(ParamsPanel)
        assert panel.temperature.locked is None and panel.top_p.locked is None


@pytest.mark.family("retries")
async def test_a_dial_the_server_refuses_is_locked_after_the_turn_and_said(
    home: Path,
) -> None:
    with OpenAIServer(picky={"picky-reasoner": "no_dials"}) as server:
        server.push(Script(reply="fine"))
        app = chat_app(server, env={"LLMCHAT_MODEL": "picky-reasoner"})
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ChatScreen)
            panel = screen.query_one(ParamsPanel)
            assert panel.temperature.locked is None
            await pilot.press("f9")
            await pilot.press("left")  # temperature 0.95
            screen.query_one(PromptInput).focus()
            screen.query_one(PromptInput).text = "hello"
            await pilot.press("enter")
            await wait_for_reply(app)
            await pilot.pause()
            assert panel.temperature.locked is not None
            assert panel.top_p.locked is None
            notes = [n.message for n in app._notifications]
            assert any(
                "does not accept temperature: sent without it (remembered)" in n for n in notes
            )
            reply = screen.conversation.messages[-1]
            assert reply.content == "fine" and reply.params is not None
            assert reply.params.temperature == 1.0
        assert [("temperature" in r.body) for r in server.chat_requests] == [True, False]
