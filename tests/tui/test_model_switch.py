"""Palette `model: switch…`: pick a backend and one of its server's models; the next turn
goes there, the session records it, and `--continue` reopens on it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import OptionList

from llmchat import paths
from llmchat.config import Config
from llmchat.config.model import BackendConfig
from llmchat.config.secret import Secret
from llmchat.launch import build_launch
from llmchat.reconnect import BackendFlags, reconnect
from llmchat.store import SessionSummary
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.model_picker import ModelChoice, ModelPicker
from llmchat.tui.widgets.params_panel import ParamsPanel
from llmchat.tui.widgets.reply_view import ReplyView
from llmchat.tui.widgets.status_bar import StatusBar
from tests.support.anthropic_server import AnthropicServer
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import latest, only_session, wait_for_reply

HOSTILE = "b-\x1b[31mred\x1b[0m"


def two_backends(alpha: OpenAIServer, beta: OpenAIServer | str) -> Config:
    """alpha (the default) and beta, at these servers (or at a URL nobody answers)."""
    beta_url = beta if isinstance(beta, str) else beta.base_url
    return Config(
        default_backend="alpha",
        backends={
            "alpha": BackendConfig("alpha", "openai", alpha.base_url, "a-one"),
            "beta": BackendConfig("beta", "openai", beta_url, "b-one"),
        },
    )


def app_for(config: Config, session: SessionSummary | None = None) -> LlmChatApp:
    """As `llmchat` (or `llmchat --continue`) builds it with this config."""
    again = reconnect(config, {}, BackendFlags(), session.record if session else None)
    launch = build_launch(
        again.resolution,
        config,
        list(again.resolution.notices),
        session,
        reconnect_to=lambda record: reconnect(config, {}, BackendFlags(), record),
    )
    return LlmChatApp(launch)


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text, "enter")


async def open_picker(app: LlmChatApp, pilot) -> ModelPicker:  # type: ignore[no-untyped-def]
    commands = {c.title: c for c in app.get_system_commands(app.screen)}
    await commands["model: switch…"].callback()
    await pilot.pause()
    picker = app.screen
    assert isinstance(picker, ModelPicker)
    await picker.workers.wait_for_complete()
    await pilot.pause()
    return picker


async def choose(pilot, picker: ModelPicker, choice: ModelChoice) -> None:  # type: ignore[no-untyped-def]
    listing = picker.query_one(OptionList)
    listing.highlighted = picker._choices.index(choice)
    await pilot.press("enter")
    await pilot.pause()


async def test_the_picker_lists_every_backend_and_its_servers_models(home: Path) -> None:
    with (
        OpenAIServer(models=("a-one", "a-two")) as alpha,
        OpenAIServer(models=("b-one", HOSTILE)) as beta,
    ):
        app = app_for(two_backends(alpha, beta))
        async with app.run_test() as pilot:
            await pilot.pause()
            picker = await open_picker(app, pilot)
            shown = [
                str(picker.query_one(OptionList).get_option_at_index(i).prompt)
                for i in range(picker.query_one(OptionList).option_count)
            ]
    assert picker._choices == [
        ModelChoice("alpha", "a-one"),
        ModelChoice("alpha", "a-two"),
        ModelChoice("beta", HOSTILE),  # raw, as it is sent
        ModelChoice("beta", "b-one"),
    ]
    assert shown[0] == "alpha · a-one (now)"
    assert all("\x1b" not in line for line in shown)


async def test_switching_sends_the_next_turn_to_the_chosen_model_and_says_so(home: Path) -> None:
    with (
        OpenAIServer(models=("a-one",)) as alpha,
        OpenAIServer(models=("b-one", "b-two")) as beta,
    ):
        app = app_for(two_backends(alpha, beta))
        async with app.run_test() as pilot:
            await pilot.pause()
            await send(pilot, "first")
            await wait_for_reply(app)
            picker = await open_picker(app, pilot)
            await choose(pilot, picker, ModelChoice("beta", "b-two"))
            assert isinstance(app.screen, ChatScreen)
            facts = app.screen.query_one(StatusBar).facts
            assert (facts.backend, facts.model) == ("beta", "b-two")
            await send(pilot, "second")
            await wait_for_reply(app)
            last = list(app.screen.query(ReplyView))[-1]
            assert last.message is not None and last.message.model == "b-two"
            assert "b-two" in str(last.meta.content)
    assert [r.body["model"] for r in alpha.chat_requests] == ["a-one"]
    assert [r.body["model"] for r in beta.chat_requests] == ["b-two"]
    session = only_session()
    assert (session.info.backend, session.info.model) == ("beta", "b-two")
    assert session.info.base_url == beta.base_url


async def test_continue_reopens_on_the_backend_and_model_switched_to(home: Path) -> None:
    with (
        OpenAIServer(models=("a-one",)) as alpha,
        OpenAIServer(models=("b-one", "b-two")) as beta,
    ):
        config = two_backends(alpha, beta)
        app = app_for(config)
        async with app.run_test() as pilot:
            await pilot.pause()
            await send(pilot, "first")
            await wait_for_reply(app)
            await choose(pilot, await open_picker(app, pilot), ModelChoice("beta", "b-two"))
            await send(pilot, "second")
            await wait_for_reply(app)
        again = app_for(config, latest())
        async with again.run_test() as pilot:
            await pilot.pause()
            facts = again.screen.query_one(StatusBar).facts
            assert (facts.backend, facts.model) == ("beta", "b-two")
            await send(pilot, "third")
            await wait_for_reply(again)
    assert len(alpha.chat_requests) == 1
    assert [r.body["model"] for r in beta.chat_requests] == ["b-two", "b-two"]
    assert beta.chat_requests[-1].body["messages"][-1]["content"] == "third"


async def test_another_model_of_the_same_backend_goes_to_the_same_server(home: Path) -> None:
    with OpenAIServer(models=("a-one", "a-two")) as alpha, OpenAIServer() as beta:
        app = app_for(two_backends(alpha, beta))
        async with app.run_test() as pilot:
            await pilot.pause()
            await choose(pilot, await open_picker(app, pilot), ModelChoice("alpha", "a-two"))
            await send(pilot, "hello")
            await wait_for_reply(app)
    assert [r.body["model"] for r in alpha.chat_requests] == ["a-two"]
    assert beta.chat_requests == []


async def test_a_key_goes_only_to_its_own_host_and_never_into_the_session(home: Path) -> None:
    with OpenAIServer(models=("a-one",)) as alpha, OpenAIServer(models=("b-one",)) as beta:
        config = two_backends(alpha, beta)
        keyed = replace(config.backends["alpha"], api_key=Secret("sk-alpha-secret"))
        config = replace(config, backends={**config.backends, "alpha": keyed})
        app = app_for(config)
        async with app.run_test() as pilot:
            await pilot.pause()
            await send(pilot, "first")
            await wait_for_reply(app)
            await choose(pilot, await open_picker(app, pilot), ModelChoice("beta", "b-one"))
            await send(pilot, "second")
            await wait_for_reply(app)
    assert alpha.chat_requests[0].headers.get("authorization") == "Bearer sk-alpha-secret"
    assert all("authorization" not in r.headers for r in beta.requests)
    files = list(paths.sessions_dir().glob("*.jsonl"))
    assert files and all("sk-alpha" not in f.read_text(encoding="utf-8") for f in files)


async def test_an_anthropic_backend_lists_its_models_and_answers_after_the_switch(
    home: Path,
) -> None:
    with (
        OpenAIServer(models=("a-one",)) as alpha,
        AnthropicServer(models=("claude-test", "claude-other")) as claude,
    ):
        config = Config(
            default_backend="alpha",
            backends={
                "alpha": BackendConfig("alpha", "openai", alpha.base_url, "a-one"),
                "claude": BackendConfig(
                    "claude", "anthropic", claude.base_url, "claude-test", api_key=Secret("k")
                ),
            },
        )
        app = app_for(config)
        async with app.run_test() as pilot:
            await pilot.pause()
            picker = await open_picker(app, pilot)
            assert ModelChoice("claude", "claude-other") in picker._choices
            await choose(pilot, picker, ModelChoice("claude", "claude-other"))
            await send(pilot, "hello")
            await wait_for_reply(app)
    assert alpha.chat_requests == []
    sent = [r for r in claude.requests if r.route.rstrip("/").endswith("/v1/messages")]
    assert [r.body["model"] for r in sent] == ["claude-other"]


async def test_a_backend_whose_server_does_not_answer_is_listed_with_why(home: Path) -> None:
    with OpenAIServer() as gone:
        dead = gone.base_url
    with OpenAIServer(models=("a-one",)) as alpha:
        app = app_for(two_backends(alpha, dead))
        async with app.run_test() as pilot:
            await pilot.pause()
            picker = await open_picker(app, pilot)
            listing = picker.query_one(OptionList)
            last = listing.get_option_at_index(listing.option_count - 1)
    assert picker._choices == [ModelChoice("alpha", "a-one"), None]
    assert last.disabled and str(last.prompt).startswith("beta: no models listed (")


async def test_switching_to_a_model_that_ignores_the_dials_locks_them(home: Path) -> None:
    with OpenAIServer(models=("a-one",)) as alpha, OpenAIServer(models=("gpt-5",)) as beta:
        app = app_for(two_backends(alpha, beta))
        async with app.run_test() as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ChatScreen)
            assert screen.query_one(ParamsPanel).temperature.locked is None
            await choose(pilot, await open_picker(app, pilot), ModelChoice("beta", "gpt-5"))
            assert screen.query_one(ParamsPanel).temperature.locked is not None
