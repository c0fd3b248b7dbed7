"""Keys from the prompt: the chat scrolls with PageUp/PageDown/ctrl+Home/ctrl+End, typing
is never lost to the wrong widget, and fast keys land in the order typed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import events
from textual.containers import VerticalScroll
from textual.widgets import Input, OptionList

from llmchat.tui.screens.text_line import TextLineScreen
from llmchat.tui.widgets.prompt_input import PromptInput
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply
from tests.tui.test_sampling import burst, settle


async def test_page_keys_in_the_prompt_scroll_the_conversation(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script.generated(600))
    app = chat_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        await wait_for_reply(app)
        await pilot.pause()
        chat = app.screen.query_one("#conversation", VerticalScroll)
        assert isinstance(app.focused, PromptInput)
        bottom = chat.max_scroll_y
        assert bottom > 0 and chat.scroll_y == bottom
        await pilot.press("pageup")
        await pilot.pause()
        assert chat.scroll_y < bottom
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert chat.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert chat.scroll_y > 0
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert chat.scroll_y == chat.max_scroll_y
        assert isinstance(app.focused, PromptInput)  # the prompt kept focus throughout


async def test_page_keys_in_the_panel_page_its_list_not_the_chat(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script.generated(600))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h", "i", "enter")
        await wait_for_reply(app)
        await pilot.press("f9")
        presets = app.screen.query_one("#presets", OptionList)
        presets.focus()
        presets.highlighted = 0
        chat = app.screen.query_one("#conversation", VerticalScroll)
        before = chat.scroll_y
        await pilot.press("pagedown")
        await pilot.pause()
        assert presets.highlighted == presets.option_count - 1
        assert chat.scroll_y == before


async def test_typing_while_the_conversation_has_focus_goes_to_the_prompt(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        app.screen.query_one("#conversation").focus()
        await pilot.press("h", "i")
        prompt = app.screen.query_one(PromptInput)
        assert app.focused is prompt
        assert prompt.text == "hi"


async def test_shift_tab_from_the_conversation_goes_back_to_the_prompt(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#conversation")
        await pilot.press("shift+tab")
        assert isinstance(app.focused, PromptInput)


async def test_keys_typed_at_once_into_the_prompt_land_in_order(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        burst(app, "a", "b", "backspace", "c", "left", "x", "end", "d")
        await settle(app, pilot)
        assert app.screen.query_one(PromptInput).text == "axcd"


async def test_a_pasted_escape_sequence_is_shown_harmlessly_in_the_prompt(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        app.post_message(events.Paste("red \x1b[31mtext\x1b]52;c;aGk=\x07\r\nnext\rline\tend"))
        await pilot.pause(0.2)
        text = app.screen.query_one(PromptInput).text
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert text == "red ␛[31mtext␛]52;c;aGk=␇\nnext\nline\tend"


async def test_keys_arriving_in_several_reads_while_others_wait_keep_their_order(
    server: OpenAIServer, home: Path
) -> None:
    """A terminal delivers fast typing in several reads; a key from a later read must not
    overtake the keys of an earlier one still waiting their turn."""
    app = chat_app(server)
    typed = "abcdefghijklmnopqrstuvwxyz0123456789"
    async with app.run_test() as pilot:
        await pilot.pause()
        for start in range(0, len(typed), 3):
            burst(app, *typed[start : start + 3])
            await asyncio.sleep(0.002)  # the next read comes while these are handled
        await settle(app, pilot)
        assert app.screen.query_one(PromptInput).text == typed


async def test_keys_typed_right_after_choosing_a_palette_command_reach_its_dialog(
    server: OpenAIServer, home: Path
) -> None:
    """Enter in the palette closes it by a message handled after the key, and the command
    opens its dialog later still: the keys typed meanwhile were lost ("abc" kept "c")."""
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        burst(app, "ctrl+p", *"session: rename", "enter", *"Owls")
        await settle(app, pilot)
        assert isinstance(app.screen, TextLineScreen)
        assert app.screen.query_one(Input).value == "Owls"


async def test_keys_typed_right_after_closing_a_dialog_reach_the_prompt(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        burst(app, "f2", *"Owls", "enter", *"hello")
        await settle(app, pilot)
        assert app.screen.query_one(PromptInput).text == "hello"
        assert "Owls" in str(app.screen.query_one("#session-title").render())
