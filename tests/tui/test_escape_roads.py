"""Every road outside text takes to the TUI, walked with one hostile corpus.

Reply text, server error bodies, model names from /v1/models, config key names, backend
and preset names, environment values, theme file names; then, reopened, a session file's
title, system prompt, stored backend and model names, messages and errors. What the app
would write to the terminal (the compositor's full update, as the driver sends it) must
hold none of the corpus raw, each road's tag must show, and no markup action may run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat import paths
from llmchat.config import CliOverrides, load_config, resolve_backend
from llmchat.launch import build_launch
from llmchat.reconnect import BackendFlags, reconnect
from llmchat.tui.app import LlmChatApp
from tests.support.hostile import hostile, raw_leaks, toml_key, write_hostile_session
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply

pytestmark = pytest.mark.family("escapes")


def terminal_output(app: LlmChatApp) -> str:
    """What the app would write to the terminal for its whole screen now."""
    update = app.screen._compositor.render_full_update()
    return update.render_segments(app.console)


def shown_text(outputs: list[str], app: LlmChatApp) -> str:
    notes = [f"{n.title} {n.message}" for n in app._notifications]
    return "\n".join([*outputs, *notes])


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text)
    await pilot.press("enter")


async def test_outside_text_on_every_road_of_a_new_session_reaches_the_screen_harmlessly(
    home: Path, tmp_path: Path
) -> None:
    with OpenAIServer(models=(hostile("MODELS-ROAD"),)) as server:
        port = server.base_url.split(":")[2].split("/")[0]
        config_file = tmp_path / "config.toml"
        config_file.write_text(
            f"{toml_key(hostile('UNKNOWN-KEY', surrogate=False))} = 1\n"
            f"[backends.{toml_key(hostile('BACKEND-NAME', surrogate=False))}]\n"
            # Another origin than LLMCHAT_BASE_URL's, so the "key not sent" notice shows.
            f'base_url = "http://localhost:{port}/v1"\n'
            'api_key = "sk-test-0123456789abcdef"\n'
            f"[presets.{toml_key(hostile('PRESET-NAME', surrogate=False))}]\n"
            "temperature = 0.5\n",
            encoding="utf-8",
        )
        themes = paths.themes_dir()
        themes.mkdir(parents=True)
        # A file name may hold anything but "/" and NUL, and need not be UTF-8.
        name = hostile("THEME-FILE", nul=False, surrogate=False).replace("/", "|")
        (themes / f"{name}\udcff.toml").write_text("not = [valid", encoding="utf-8")
        env = {"LLMCHAT_BASE_URL": server.base_url}
        loaded = load_config(config_file)
        resolution = resolve_backend(loaded.config, env, CliOverrides())
        notices = [*loaded.warning_lines(), *resolution.notices]
        app = LlmChatApp(
            build_launch(
                resolution,
                loaded.config,
                notices,
                None,
                reconnect_to=lambda r: reconnect(loaded.config, env, BackendFlags(), r),
            )
        )
        server.push(Script(reply=hostile("REPLY-ROAD")))
        outputs: list[str] = []
        async with app.run_test(size=(200, 70)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            outputs.append(terminal_output(app))
            await send(pilot, "hi")
            await wait_for_reply(app)
            await pilot.pause()
            outputs.append(terminal_output(app))
            await pilot.press("f9")
            await pilot.pause()
            outputs.append(terminal_output(app))
            await pilot.press("f9", "ctrl+p")
            await pilot.pause()
            await pilot.press(*"preset")
            await pilot.pause(0.3)
            outputs.append(terminal_output(app))
            await pilot.press("escape")
            assert app.is_running  # no [@click=app.quit] ran
            shown = shown_text(outputs, app)

    assert raw_leaks(shown) == []
    for tag in (
        "UNKNOWN-KEY",
        "BACKEND-NAME",
        "PRESET-NAME",
        "MODELS-ROAD",
        "REPLY-ROAD",
        "THEME-FILE",
    ):
        assert tag in shown, tag
    assert "[@click=app.quit]Q[/]" in shown  # markup shown literally


async def test_outside_text_on_every_road_of_a_resumed_session_reaches_the_screen_harmlessly(
    server: OpenAIServer, home: Path
) -> None:
    session = write_hostile_session(paths.sessions_dir())
    env = {"LLMCHAT_MODEL": hostile("ENV-MODEL", nul=False, surrogate=False)}
    app = chat_app(server, session=session, env={**env, "OPENAI_BASE_URL": server.base_url})
    server.push(Script.http_error(400, hostile("ERROR-ROAD")))
    outputs: list[str] = []
    async with app.run_test(size=(200, 70)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        outputs.append(terminal_output(app))
        await send(pilot, "again")
        await wait_for_reply(app)
        await pilot.pause()
        outputs.append(terminal_output(app))
        await pilot.press("f3")
        await pilot.pause()
        outputs.append(terminal_output(app))
        await pilot.press("escape")
        assert app.is_running
        shown = shown_text(outputs, app)

    assert raw_leaks(shown) == []
    for tag in (
        "TITLE-ROAD",
        "SYSTEM-ROAD",
        "STORED-BACKEND",
        "MESSAGE-MODEL",
        "USER-ROAD",
        "STORED-REPLY",
        "STORED-ERROR",
        "ERROR-ROAD",
        "ENV-MODEL",
    ):
        assert tag in shown, tag
    assert "[@click=app.quit]Q[/]" in shown
