"""Sampling controls from the keyboard: the slider, hotkeys, the panel and presets, and the
values the server receives."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from llmchat.config import Config
from llmchat.core.presets import BUILT_IN, Preset, both_dials_moved
from llmchat.core.structured import OutputSchema
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.params_panel import ParamsPanel
from llmchat.tui.widgets.reply_view import ReplyView
from llmchat.tui.widgets.slider import Slider
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, only_session, wait_for_reply


def burst(app: App[None], *keys: str) -> None:
    """Queue keys as a terminal delivers held or fast-typed keys: all at once, with no
    pause between them (Pilot's `press` waits for each key to be handled)."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        driver.send_message(event)


async def settle(app: App[None], pilot: Pilot[None]) -> None:
    """Until every queued key has been handled."""
    for _ in range(100):
        await pilot.pause(0.05)
        # Keys still in the app's queue (a loaded machine may not have reached them yet)
        # count as not handled: the in-order queue only knows keys it has been given.
        if app.message_queue_size:
            continue
        if getattr(app, "_in_flight", None) is None and not getattr(app, "_waiting_keys", ()):
            return


def params_records() -> list[str]:
    path = only_session().path
    return [line for line in path.read_text().splitlines() if '"type":"params"' in line]


class SliderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Slider("T", minimum=0.0, maximum=2.0, step=0.05, value=1.0, neutral=1.0)


async def test_the_slider_steps_jumps_resets_and_takes_a_typed_number() -> None:
    app = SliderApp()
    async with app.run_test() as pilot:
        slider = app.query_one(Slider)
        slider.focus()
        await pilot.press("right")
        assert slider.value == 1.05
        await pilot.press("shift+left")
        assert slider.value == 0.55
        await pilot.press("home")
        assert slider.value == 0.0
        await pilot.press("n")
        assert slider.value == 1.0
        await pilot.press("0", ".", "7", "enter")
        assert slider.value == 0.7
        await pilot.press("9", "enter")
        assert slider.value == 2.0  # clamped to the maximum
        assert slider.value_text == "T 2.00"


async def test_hotkeys_nudge_the_dials_and_the_server_receives_exactly_them(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        for _ in range(6):
            await pilot.press("alt+down")  # temperature 1.00 -> 0.70
        await pilot.press("alt+left", "alt+left")  # top-p 1.00 -> 0.98
        await pilot.press("h", "i", "enter")
        await wait_for_reply(app)
        status = str(app.screen.query_one("#status").render())
        meta = str(app.screen.query(ReplyView).last().meta.render())
    body = server.chat_requests[-1].body
    assert (body["temperature"], body["top_p"]) == (0.7, 0.98)
    assert "T 0.70 p 0.98" in status
    assert "T 0.70 p 0.98" in meta
    saved = only_session()
    assert saved.params.temperature == 0.7 and saved.params.top_p == 0.98
    assert saved.messages[-1].params is not None and saved.messages[-1].params.top_p == 0.98


async def test_every_built_in_preset_applies_from_the_palette_and_is_named(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for preset in BUILT_IN:
            commands[f"preset: {preset.name}"].callback()
            await pilot.pause()
            params = app.screen.conversation.params  # type: ignore[attr-defined]
            assert (params.temperature, params.top_p) == (preset.temperature, preset.top_p)
            status = str(app.screen.query_one("#status").render())
            assert preset.name in status  # the one chosen, even where two share values


async def test_the_panel_opens_beside_the_chat_and_its_sliders_set_the_values(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="ok"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("f9")
        panel = app.screen.query_one(ParamsPanel)
        assert panel.display and app.screen.query_one("#conversation").display
        assert app.focused is panel.temperature
        await pilot.press("0", ".", "2", "5", "enter")
        await pilot.press("f9")
        await pilot.press("y", "o", "enter")
        await wait_for_reply(app)
    assert server.chat_requests[-1].body["temperature"] == 0.25


async def test_a_config_preset_is_offered_with_its_system_prompt(
    server: OpenAIServer, home: Path
) -> None:
    custom = Preset("code review", 0.2, 1.0, max_tokens=300, system="Review strictly.")
    app = chat_app(server, config=Config(presets=(custom,)))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.sampling.apply_preset(custom)
        await pilot.press("q", "enter")
        await wait_for_reply(app)
    body = server.chat_requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Review strictly."}
    assert (body["temperature"], body["max_tokens"]) == (0.2, 300)


def test_the_one_dial_hint_applies_only_when_both_are_off_neutral() -> None:
    assert both_dials_moved(0.7, 0.9)
    assert not both_dials_moved(0.7, 1.0)
    assert not both_dials_moved(1.0, 0.9)


async def test_schema_mode_shows_valid_json_pretty_and_flags_a_reply_that_breaks_it(
    server: OpenAIServer, home: Path
) -> None:
    schema = OutputSchema(
        "person",
        {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": False,
        },
    )
    server.push(Script(reply='{"name":"Ada"}'), Script(reply='{"nom":"Ada"}'))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.sampling.set_schema(schema)
        assert screen.conversation.params.temperature == 0.0
        for _ in range(2):
            await pilot.press("q", "enter")
            await wait_for_reply(app)
            await pilot.pause()
        good, bad = list(screen.query(ReplyView))
        assert "✓ valid JSON (schema)" in str(good.meta.render())
        assert good.body.source == '```json\n{\n  "name": "Ada"\n}\n```'
        assert "✗ invalid" in str(bad.meta.render()) and "name" in str(bad.meta.render())
        assert "schema mode · person" in str(screen.query_one("#status").render())
    assert server.chat_requests[0].body["response_format"]["type"] == "json_schema"
    assert only_session().messages[-1].content == '{"nom":"Ada"}'  # stored as sent


async def test_quick_nudges_settle_and_record_each_change_once(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        for _ in range(3):  # as a terminal delivers held keys: no message handled between
            screen.action_nudge("temperature", -1)
        await pilot.pause(0.3)
        assert screen.conversation.params.temperature == 0.85
        assert screen.query_one(ParamsPanel).temperature.value == 0.85
        await pilot.press("q", "enter")
        await wait_for_reply(app)
    path = only_session().path
    records = [line for line in path.read_text().splitlines() if '"type":"params"' in line]
    assert len(records) == 3  # one per keystroke: the panel's sliders echo nothing back


async def test_max_tokens_typed_at_full_speed_is_applied_once_when_committed(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("f9")
        panel = app.screen.query_one(ParamsPanel)
        panel.max_tokens.focus()
        await pilot.pause()
        burst(app, "end", *["backspace"] * 4, "3", "0", "0")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert screen.conversation.params.max_tokens == 1024  # not applied while typing
        burst(app, "enter")
        await settle(app, pilot)  # long enough for a feedback loop to show itself
        assert screen.conversation.params.max_tokens == 300
        assert panel.max_tokens.value == "300"
        await pilot.press("f9", "q", "enter")
        await wait_for_reply(app)
    assert server.chat_requests[-1].body["max_tokens"] == 300
    assert len(params_records()) == 1


async def test_a_typed_seed_is_applied_when_the_user_leaves_the_field(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("f9")
        panel = app.screen.query_one(ParamsPanel)
        panel.seed.focus()
        await pilot.pause()
        burst(app, "4", "2", "tab")  # leaving the field commits it
        await pilot.pause(0.3)
        await pilot.press("f9", "q", "enter")
        await wait_for_reply(app)
    assert server.chat_requests[-1].body["seed"] == 42
    assert len(params_records()) == 1


async def test_a_max_tokens_that_is_not_a_count_is_refused_and_the_old_value_kept(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("f9")
        panel = app.screen.query_one(ParamsPanel)
        panel.max_tokens.focus()
        await pilot.pause()
        burst(app, "end", *["backspace"] * 4, "0", "enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert screen.conversation.params.max_tokens == 1024
        assert panel.max_tokens.value == "1024"
        assert any("max_tokens must be" in str(n.message) for n in app._notifications)


async def test_a_value_set_elsewhere_never_comes_back_as_a_change_of_the_fields(
    server: OpenAIServer, home: Path
) -> None:
    custom = Preset("long", 1.0, 1.0, max_tokens=3000)
    app = chat_app(server, config=Config(presets=(custom,)))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("f9")
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.sampling.apply_preset(custom)
        await pilot.pause(0.3)
        screen.query_one(ParamsPanel).max_tokens.focus()
        await pilot.press("tab")  # focus passes through the field: nothing was typed
        await pilot.pause(0.3)
        assert screen.conversation.params.max_tokens == 3000
        await pilot.press("f9", "q", "enter")
        await wait_for_reply(app)
    assert len(params_records()) == 1


async def test_a_typed_slider_value_out_of_range_is_clamped_and_said(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("f9")
        panel = app.screen.query_one(ParamsPanel)
        panel.top_p.focus()
        await pilot.press("0", ".", "5", "enter")  # first a real move, so 1.0 is a change
        await pilot.press("1", ".", "5", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert screen.conversation.params.top_p == 1.0
        notices = [str(n.message) for n in app._notifications]
        assert any("1.5 set to 1.00" in n for n in notices), notices


async def test_keys_typed_at_once_across_fields_land_in_the_field_they_were_typed_in(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        burst(app, "f9", "tab", "tab", "end", *["backspace"] * 4, "4", "0", "enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert screen.conversation.params.max_tokens == 40
        assert screen.conversation.params.temperature == 1.0  # "40" did not go to T
