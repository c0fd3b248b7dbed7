"""The `backends` view and the breaker alarm in the status bar, against loopback servers
that fail: a breaker opens after the configured failures, counts down on a fake clock,
and the fallback that answered meanwhile is named.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from llmchat.config import Config, parse_config
from llmchat.core.events import ChatError, ErrorKind
from llmchat.gateway.breaker import CircuitBreaker
from llmchat.gateway.known import BreakerView
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.backends import COLUMNS, BackendsScreen
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.status_bar import StatusBar, StatusFacts
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply

pytestmark = pytest.mark.family("retries")

NO_WAIT = {"Retry-After": "0"}
KEY = "sk-test-4f9a8b7c6d5e4f3a2b1c0d9e"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def backup_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def config_for(main: str, backup: str | None = None, *, failures: int = 2) -> Config:
    text = (
        f'[backends.main]\nbase_url = "{main}"\nmodel = "primary-model"\n'
        'api_key_env = "MAIN_KEY"\n'
        f"breaker = {{ failures = {failures}, cooldown = 30 }}\n"
    )
    if backup is not None:
        text += 'fallback = ["backup"]\n'
        text += f'\n[backends.backup]\nbase_url = "{backup}"\nmodel = "backup-model"\n'
    return parse_config(text)[0]


def failing(times: int) -> list[Script]:
    return [Script.http_error(502, "upstream is down", headers=NO_WAIT) for _ in range(times)]


def chat_screen(app: LlmChatApp) -> ChatScreen:
    screen = app.screen
    assert isinstance(screen, ChatScreen)
    return screen


async def send(pilot: Pilot[None], app: LlmChatApp, text: str = "hi") -> None:
    await pilot.press(*text, "enter")
    await wait_for_reply(app)
    await pilot.pause()


async def open_from_palette(pilot: Pilot[None], app: LlmChatApp) -> BackendsScreen:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"backends: show")
    for _ in range(100):  # the palette searches in a worker: until it offers the command
        await pilot.pause(0.05)
        await pilot.press("enter")
        await pilot.pause()
        if isinstance(app.screen, BackendsScreen):
            return app.screen
    raise AssertionError(f"the palette did not open the view: {app.screen}")


def rows_of(view: BackendsScreen) -> list[dict[str, str]]:
    table = view.query_one(DataTable)
    return [
        dict(zip(COLUMNS, (str(cell) for cell in table.get_row_at(i)), strict=True))
        for i in range(table.row_count)
    ]


async def test_the_view_shows_a_breaker_opened_by_failures_and_counts_down(
    server: OpenAIServer, home: Path
) -> None:
    server.push(*failing(2))
    app = chat_app(None, config=config_for(server.base_url), env={"MAIN_KEY": KEY})
    clock = FakeClock()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        chat_screen(app).context.gateway.breaker.clock = clock
        await send(pilot, app)  # a first try and one retry: 2 failures open it
        view = await open_from_palette(pilot, app)
        [row] = rows_of(view)
        assert row == {
            "order": "primary",
            "backend": "main",
            "kind": "openai",
            "model": "primary-model",
            "breaker": "open 30 s",
            "failures": "2",
            "last error": "main: HTTP 502 server error (upstream is down)",
        }
        detail = str(view.query_one("#detail").render())
        assert detail == "main, last error: main: HTTP 502 server error (upstream is down)"
        clock.now += 25
        for _ in range(60):  # the view reads the breakers again every second
            await pilot.pause(0.1)
            if rows_of(view)[0]["breaker"] == "open 5 s":
                break
        assert rows_of(view)[0]["breaker"] == "open 5 s"
        clock.now += 5
        view.show_rows()
        assert rows_of(view)[0]["breaker"] == "half-open"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
    assert len(server.chat_requests) == 2


async def test_the_status_bar_says_the_breaker_is_open_and_the_fallback_answered(
    server: OpenAIServer, backup_server: OpenAIServer, home: Path
) -> None:
    server.push(*failing(2))
    backup_server.push(Script(reply="from the backup"), Script(reply="again"))
    config = config_for(server.base_url, backup_server.base_url)
    app = chat_app(None, config=config, env={"MAIN_KEY": KEY})
    clock = FakeClock()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        screen = chat_screen(app)
        screen.context.gateway.breaker.clock = clock
        await send(pilot, app)
        status = screen.query_one(StatusBar)
        assert status.facts.backend_alarm == "main: breaker open 30 s · backup answered"
        assert "main: breaker open 30 s · backup answered" in str(status.render())
        await send(pilot, app, "again")  # straight to the fallback: main is not asked
        view = await open_from_palette(pilot, app)
        rows = rows_of(view)
        assert [(r["order"], r["backend"], r["breaker"]) for r in rows] == [
            ("primary", "main", "open 30 s"),
            ("fallback 1", "backup", "closed"),
        ]
        assert rows[1]["model"] == "backup-model"
        assert "main → backup" in str(view.query_one("#chain").render())
    assert len(server.chat_requests) == 2
    assert len(backup_server.chat_requests) == 2


async def test_once_the_backend_answers_again_the_alarm_goes(
    server: OpenAIServer, backup_server: OpenAIServer, home: Path
) -> None:
    server.push(*failing(2), Script(reply="back again"))
    backup_server.push(Script(reply="from the backup"))
    config = config_for(server.base_url, backup_server.base_url)
    app = chat_app(None, config=config, env={"MAIN_KEY": KEY})
    clock = FakeClock()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        screen = chat_screen(app)
        screen.context.gateway.breaker.clock = clock
        await send(pilot, app)
        clock.now += 30  # the cooldown is over: the next turn probes main, which answers
        await send(pilot, app, "again")
        status = screen.query_one(StatusBar)
        assert status.facts.backend_alarm is None
        assert "breaker" not in str(status.render())


async def test_the_view_never_shows_the_key_a_server_echoes_in_its_error(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(status=502, echo_header="authorization", headers=NO_WAIT))
    app = chat_app(None, config=config_for(server.base_url, failures=1), env={"MAIN_KEY": KEY})
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await send(pilot, app)
        view = await open_from_palette(pilot, app)
        [row] = rows_of(view)
        assert row["failures"] == "1" and row["last error"].startswith("main: HTTP 502")
        assert row["last error"].endswith("(auth=Bearer sk-•••))")  # echoed, then masked
        shown = " ".join([*row.values(), str(view.query_one("#detail").render())])
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY[10:] not in shown and KEY[-6:] not in shown


def test_a_backend_alarm_is_kept_longest_in_a_narrow_status_line() -> None:
    facts = StatusFacts(
        backend="main", model="primary-model", backend_alarm="main: breaker open 24 s"
    )
    assert facts.line(30) == "main: breaker open 24 s"


def test_an_open_breaker_never_reads_zero_seconds_left() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=30, clock=clock)
    breaker.record(ChatError(ErrorKind.SERVER, "down", status=502))
    clock.now += 29.5
    assert BreakerView.of(breaker).describe() == "open 1 s"
    clock.now += 0.5
    assert BreakerView.of(breaker).describe() == "half-open"
