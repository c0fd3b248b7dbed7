"""A reply that stalls in the app: shown live with the idle limit it counts towards,
then ended by the idle timeout, text kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmchat.config import Config, parse_config
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
    seen_stalled = ""
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        status = app.screen.query_one("#status")
        for _ in range(50):
            await pilot.pause(0.05)
            if "stalled" in (line := str(status.render())):
                seen_stalled = line
                break
        await wait_for_reply(app)
        await pilot.pause()
        meta = str(app.screen.query(ReplyView).last().meta.render())
        assert "stalled" not in str(status.render())
    # The count is whatever the machine managed; the limit is the configured idle.
    assert re.search(r"stalled \d+ s of 1 │", seen_stalled), seen_stalled
    assert "the stream stalled" in meta
    reply = only_session().messages[-1]
    assert reply.status is Status.ERROR
    assert reply.content == "one two"
    assert reply.error is not None and "no data from openai for 1 s" in reply.error


def test_the_stall_names_the_idle_limit_that_will_end_it() -> None:
    assert chat_turn.stalled_state(12.4, 120.0) == "stalled 12 s of 120"
    assert chat_turn.stalled_state(3.0, 2.5) == "stalled 3 s of 2.5"
    assert chat_turn.stalled_state(3.0, None) == "stalled 3 s"


@pytest.fixture
def backup_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.mark.family("streams")
async def test_the_limit_shown_is_the_answering_backends_even_a_fallbacks(
    server: OpenAIServer,
    backup_server: OpenAIServer,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chat_turn, "STALL_AFTER_S", 0.2)
    monkeypatch.setattr(chat_turn, "STALL_CHECK_S", 0.1)
    server.push(Script.http_error(502, "upstream is down", headers={"Retry-After": "0"}))
    backup_server.push(Script(reply="one two three four", fault=Fault.STALL, fault_after=2))
    config = parse_config(
        f'[backends.main]\nbase_url = "{server.base_url}"\nfallback = ["backup"]\n'
        "timeouts = { idle = 30 }\nbreaker = { failures = 1 }\n"
        f'[backends.backup]\nbase_url = "{backup_server.base_url}"\n'
        "timeouts = { idle = 1 }\n"
    )[0]
    app = chat_app(None, config=config)
    seen_stalled = ""
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        status = app.screen.query_one("#status")
        for _ in range(50):
            await pilot.pause(0.05)
            if "stalled" in (line := str(status.render())):
                seen_stalled = line
                break
        await wait_for_reply(app)
    assert re.search(r"stalled \d+ s of 1 │", seen_stalled), seen_stalled
    assert "no data from backup for 1 s" in (only_session().messages[-1].error or "")
