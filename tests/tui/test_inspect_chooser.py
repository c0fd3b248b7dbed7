"""F12 on the chat screen: a menu of the inspect views, one letter each."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList

from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.chat_inspect import INSPECT_CHOICES
from llmchat.tui.screens.inspect_chooser import InspectChooser
from llmchat.tui.screens.probability_view import ProbabilityView
from llmchat.tui.screens.request_inspector import RequestInspector
from llmchat.tui.screens.turn_history import TurnHistoryScreen
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app, wait_for_reply


async def test_f12_then_a_letter_opens_that_view(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        await wait_for_reply(app)
        await pilot.press("f12")
        await pilot.pause()
        assert isinstance(app.screen, InspectChooser)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, TurnHistoryScreen) and app.screen.view == "cache"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f12", "r")
        await pilot.pause()
        assert isinstance(app.screen, RequestInspector)


async def test_enter_on_a_row_opens_it_and_escape_opens_nothing(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f12")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        await pilot.press("f12")
        await pilot.pause()
        chooser = app.screen
        assert isinstance(chooser, InspectChooser)
        latency = [c.action for c in chooser.choices].index("inspect_latency")
        chooser.query_one(OptionList).highlighted = latency
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TurnHistoryScreen) and app.screen.view == "latency"


async def test_every_row_of_the_menu_is_an_action_of_the_chat_screen_and_p_opens_the_pool(
    server: OpenAIServer, home: Path
) -> None:
    assert all(hasattr(ChatScreen, f"action_{c.action}") for c in INSPECT_CHOICES)
    assert len({c.letter for c in INSPECT_CHOICES}) == len(INSPECT_CHOICES)
    app = chat_app(server)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        await wait_for_reply(app)
        await pilot.press("f12", "p")
        await pilot.pause()
        assert isinstance(app.screen, ProbabilityView)


async def test_alt_i_opens_the_menu_where_the_terminal_keeps_f12_and_f12_closes_it(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await pilot.press("alt+i")
        await pilot.pause()
        assert isinstance(app.screen, InspectChooser)
        await pilot.press("f12")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert app.screen.query_one("#prompt").text == ""  # type: ignore[attr-defined]


async def test_an_upper_case_letter_opens_the_same_view(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f12")
        await pilot.pause()
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, TurnHistoryScreen) and app.screen.view == "latency"
