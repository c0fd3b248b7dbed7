"""What the status bar says and keeps: stalled streams, schema mode, whole facts at any
width, and the session that is already open."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from llmchat.core.events import Delta, RequestSent, Started
from llmchat.core.params import SamplingParams
from llmchat.core.structured import OutputSchema
from llmchat.engine.events import Reporter
from llmchat.tui.screens import chat_turn
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.status_bar import StatusBar, StatusFacts
from tests.support.openai_server import Fault, OpenAIServer, Script
from tests.tui.helpers import chat_app, only_session, wait_for_reply

BUSY = StatusFacts(
    backend="openai",
    model="gpt-4o-mini-2024-07-18",
    state="complete",
    ttft_ms=7,
    tok_s=176.4,
    tokens_in=1234,
    tokens_out=567,
    elapsed_s=3.2,
    params=SamplingParams(temperature=0.6, top_p=0.9, max_tokens=1024),
    preset="support chat",
    session_cost=0.0123,
    priced=True,
)


@pytest.mark.parametrize("width", [20, 40, 60, 80, 100, 120, 200])
def test_the_status_line_keeps_whole_facts_at_every_width(width: int) -> None:
    line = BUSY.line(width)
    assert len(line) <= width
    whole = BUSY.line()
    for fact in line.split(" │ "):
        assert fact in whole.split(" │ ") or width < 30  # only a lone fact is ever cut


def test_a_narrow_status_line_drops_state_then_model_then_dials_and_keeps_the_preset() -> None:
    at_80 = BUSY.line(80)
    assert "support chat" in at_80 and "session $" in at_80
    assert "complete" not in at_80 and "gpt-4o-mini" not in at_80
    assert "support chat" in BUSY.line(40)


def test_a_mode_that_needs_the_user_is_kept_longest_in_a_narrow_status_line() -> None:
    for state in ("editing: Enter sends a new branch, Esc cancels", "system prompt: Enter saves"):
        facts = replace(BUSY, state=state)
        assert state[:20] in facts.line(60)


def test_estimated_speeds_and_counts_are_marked() -> None:
    line = StatusFacts(tok_s=69.0, tokens_out=40, estimated=True).line()
    assert "≈69 tok/s" in line and "≈in" in line


async def test_a_stream_that_goes_quiet_says_stalled_and_counts(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_turn, "STALL_AFTER_S", 0.3)
    monkeypatch.setattr(chat_turn, "STALL_CHECK_S", 0.1)
    server.push(Script(reply="one two three four five six", fault=Fault.STALL, fault_after=3))
    app = chat_app(server)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        status = app.screen.query_one("#status")
        for _ in range(50):
            await pilot.pause(0.1)
            if "stalled" in str(status.render()):
                break
        line = str(status.render())
        assert "stalled" in line and "tok/s" not in line
        await pilot.press("escape")
        await wait_for_reply(app)
        assert "stalled" not in str(status.render())


async def test_only_the_streams_own_events_show_it_is_alive(
    server: OpenAIServer, home: Path
) -> None:
    """An event the screen does not show (here the request as sent) is no chunk of the
    reply: a stalled stream stays stalled until text comes."""
    app = chat_app(server)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        status = screen.query_one(StatusBar)
        states: list[str] = []

        async def run(report: Reporter) -> None:
            await report(Started("openai", "m"))
            status.show(state="stalled 5 s")
            await report(RequestSent("POST", server.base_url + "/chat/completions", "{}"))
            states.append(status.facts.state)
            await report(Delta("more"))
            states.append(status.facts.state)

        screen.turns.start(run, mount_now=True)
        await wait_for_reply(app)
    assert states == ["stalled 5 s", "streaming"]


async def test_schema_mode_is_named_so_and_clearing_it_restores_the_temperature(
    server: OpenAIServer, home: Path
) -> None:
    schema = OutputSchema("person", {"type": "object"})
    app = chat_app(server)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.sampling.set_schema(schema)
        await pilot.pause()
        status = str(screen.query_one("#status").render())
        assert "schema mode · person" in status and "SQL" not in status
        screen.sampling.set_schema(None)
        await pilot.pause()
        assert screen.conversation.params.temperature == 1.0
        assert "schema" not in str(screen.query_one("#status").render())


async def test_the_chosen_preset_is_named_even_when_another_has_the_same_values(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["preset: JSON extraction / log parsing"].callback()
        await pilot.pause()
        assert "JSON extraction" in str(app.screen.query_one("#status").render())


async def test_opening_the_session_that_is_already_open_just_goes_back_to_it(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        await wait_for_reply(app)
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("enter")  # the newest session: this one
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        notices = [str(n.message) for n in app._notifications]
        assert "That session is already open." in notices
        assert not any("another llmchat" in n for n in notices)
    assert len(only_session().messages) == 2


async def test_the_footer_drops_stop_once_the_reply_has_ended(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        await wait_for_reply(app)
        await pilot.pause(0.2)
        keys = [key.key for key in app.screen.query("FooterKey")]  # type: ignore[attr-defined]
        assert "escape" not in keys and "ctrl+r" not in keys
