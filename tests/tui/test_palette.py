"""The command palette offers every action by name, and llmchat's own themes only."""

from __future__ import annotations

from pathlib import Path

from llmchat import paths
from llmchat.tui.app import LlmChatApp
from llmchat.tui.commands import COMMANDS
from llmchat.tui.screens.chat import ChatScreen
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply


def _bare(action: str) -> str:
    return action.removeprefix("screen.").removeprefix("app.")


def test_every_key_of_the_chat_screen_and_the_app_has_a_palette_command() -> None:
    in_palette = {_bare(command.action) for command in COMMANDS}
    for binding in (*ChatScreen.BINDINGS, *LlmChatApp.BINDINGS):
        assert _bare(binding.action) in in_palette, binding  # type: ignore[union-attr]


async def test_retry_is_in_the_palette_and_asks_again(server: OpenAIServer, home: Path) -> None:
    server.push(Script.http_error(400, "not this time"), Script(reply="second try"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("q", "enter")
        await wait_for_reply(app)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "reply: retry" in commands and "(ctrl+r)" in commands["reply: retry"].help
        await commands["reply: retry"].callback()
        await wait_for_reply(app)
    assert len(server.chat_requests) == 2


async def test_themes_in_the_palette_and_f4_are_llmchats_own(
    server: OpenAIServer, home: Path
) -> None:
    user_themes = paths.themes_dir()
    user_themes.mkdir(parents=True, exist_ok=True)
    (user_themes / "mine.toml").write_text(
        'name = "mine"\ndark = true\nprimary = "#FF0000"\n', encoding="utf-8"
    )
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        themes = [t.removeprefix("theme: ") for t in titles if t.startswith("theme: ")]
        assert themes == ["next", "llmchat-dark", "llmchat-light", "mine"]
        seen = [app.theme]
        for _ in range(3):
            await pilot.press("f4")
            seen.append(app.theme)
    assert seen == ["llmchat-dark", "llmchat-light", "mine", "llmchat-dark"]


async def test_a_theme_whose_name_holds_escapes_is_offered_harmlessly_and_f4_names_it(
    server: OpenAIServer, home: Path
) -> None:
    user_themes = paths.themes_dir()
    user_themes.mkdir(parents=True, exist_ok=True)
    (user_themes / "evil.toml").write_text(
        'name = "evil\\u001b]0;pwned\\u0007"\ndark = true\nprimary = "#FF0000"\n',
        encoding="utf-8",
    )
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        themes = [t for t in titles if t.startswith("theme: evil")]
        assert themes == ["theme: evil␛]0;pwned␇"]
        await pilot.press("f4", "f4")
        notices = [str(n.message) for n in app._notifications]
        assert any(n.startswith("Theme: evil␛") for n in notices), notices
