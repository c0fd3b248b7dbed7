"""A reply that stalls in the app: shown live, then ended by the idle timeout, text kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.config import Config
from llmchat.config.model import Timeouts
from llmchat.core.messages import Status
from llmchat.tui.screens import chat_turn
from llmchat.tui.widgets.reply_view import ReplyView
from tests.support.openai_server import Fault, OpenAIServer, Script
from tests.tui.helpers import chat_app, only_session, wait_for_reply


@pytest.mark.family("streams")
async def test_a_stall_shows_live_then_ends_as_an_error_keeping_the_partial(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_turn, "STALL_AFTER_S", 0.2)
    monkeypatch.setattr(chat_turn, "STALL_CHECK_S", 0.1)
    server.push(Script(reply="one two three four", fault=Fault.STALL, fault_after=2))
    app = chat_app(server, config=Config(timeouts=Timeouts(idle=1.0)))
    seen_stalled = False
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        status = app.screen.query_one("#status")
        for _ in range(50):
            await pilot.pause(0.05)
            seen_stalled = seen_stalled or "stalled" in str(status.render())
            if seen_stalled:
                break
        await wait_for_reply(app)
        await pilot.pause()
        meta = str(app.screen.query(ReplyView).last().meta.render())
        assert "stalled" not in str(status.render())
    assert seen_stalled
    assert "the stream stalled" in meta
    reply = only_session().messages[-1]
    assert reply.status is Status.ERROR
    assert reply.content == "one two"
    assert reply.error is not None and "no data from openai for 1 s" in reply.error
