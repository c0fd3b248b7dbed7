"""The chat screen at every terminal size: nothing crashes, the sampling panel never
squeezes the chat to nothing."""

from __future__ import annotations

from pathlib import Path

from llmchat.tui.widgets.params_panel import ParamsPanel
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply

SIZES = [(20, 8), (30, 10), (40, 12), (50, 24), (80, 24), (99, 30), (100, 30), (120, 40), (200, 60)]


async def test_every_size_from_20x8_to_200x60_draws_with_the_panel_open_and_closed(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script.generated(120, markdown=True))
    app = chat_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        await wait_for_reply(app)
        for width, height in [*SIZES, *reversed(SIZES)]:
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            chat = app.screen.query_one("#conversation")
            closed_width = chat.outer_size.width
            assert closed_width >= width - 2  # the whole width, less its scrollbar
            await pilot.press("f9")  # open
            await pilot.pause()
            panel = app.screen.query_one(ParamsPanel)
            assert panel.display
            if width < 100:
                # It covers the chat, which keeps its width underneath.
                assert panel.outer_size.width == width
                assert chat.outer_size.width == closed_width
            else:
                assert chat.outer_size.width >= 50  # beside the panel, never squeezed
            await pilot.press("f9")  # closed
            await pilot.pause()
            assert chat.outer_size.width == closed_width
            assert app.is_running, (width, height)
    assert app.return_code in (None, 0)


async def test_the_panel_stays_usable_when_the_terminal_shrinks_under_it(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f9")
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        await pilot.press("right")  # the temperature slider still has focus and moves
        await pilot.pause()
        assert app.screen.query_one(ParamsPanel).temperature.value == 1.05
        assert app.is_running
