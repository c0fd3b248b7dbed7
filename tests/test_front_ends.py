"""One table of scenarios, run through both front ends (the app and `llmchat -p`): the
engine runs every turn, so both must leave the same session files behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from llmchat.config import CliOverrides, load_config, resolve_backend
from llmchat.core.structured import OutputSchema
from llmchat.launch import build_launch
from llmchat.store import list_sessions
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.prompt_input import PromptInput
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import wait_for_reply

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}


@dataclass
class Scenario:
    name: str
    questions: list[str]
    replies: list[Script]
    config: str = ""
    """Extra TOML after the backend table (prices, sampling)."""
    window: int | None = None
    schema: bool = False
    expect: Callable[[list[dict[str, Any]]], None] = field(default=lambda records: None)


def _statuses(records: list[dict[str, Any]]) -> list[str]:
    return [r.get("status", "-") for r in records if r["type"] == "message"]


def _costs_known(records: list[dict[str, Any]]) -> None:
    costs = [r["cost_usd"] for r in records if r["type"] == "cost"]
    assert costs == [pytest.approx(12e-6)]  # 10 tokens in at $1/M, 1 out at $2/M


def _truncated(records: list[dict[str, Any]]) -> None:
    assert _statuses(records) == ["-", "complete", "-", "complete"]


def _failed(records: list[dict[str, Any]]) -> None:
    assert _statuses(records) == ["-", "error"]


SCENARIOS = [
    Scenario("plain", ["hello"], [Script(reply="hi there")]),
    Scenario(
        "truncation",
        ["first " + "padding " * 40, "second"],
        [Script(reply="one " * 30), Script(reply="two")],
        config="[sampling]\nmax_tokens = 40\n",
        window=200,
        expect=_truncated,
    ),
    Scenario(
        "error",
        ["hello"],
        [Script.http_error(400, "bad request from the test")],
        expect=_failed,
    ),
    Scenario("schema", ["who?"], [Script(reply='{"name":"Ada"}')], schema=True),
    Scenario(
        "cost",
        ["hello"],
        [Script(reply="hi", prompt_tokens=10)],
        config=('[pricing."priced-model"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n'),
        expect=_costs_known,
    ),
]


def write_config(home: Path, server: OpenAIServer, scenario: Scenario) -> Path:
    window = f"context_window = {scenario.window}\n" if scenario.window else ""
    text = (
        f'default_backend = "test"\n\n[backends.test]\nkind = "openai"\n'
        f'base_url = "{server.base_url}"\nmodel = "priced-model"\n{window}\n{scenario.config}'
    )
    path = home / "config.toml"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def normalised(home: Path) -> list[dict[str, Any]]:
    """The session file's records with what differs between any two runs taken out:
    ids (as positions), times, timings, and the front end's own header facts."""
    [summary] = list_sessions(home / "sessions") if (home / "sessions").exists() else [None]
    assert summary is not None, "no session was written"
    records = [json.loads(line) for line in summary.path.read_text().splitlines()]
    ids: dict[str, int] = {}
    out = []
    for record in records:
        record = {k: v for k, v in record.items() if k not in ("ts", "created", "timing")}
        if record["type"] == "session":
            record = {"type": "session", "params": record["params"], "system": record["system"]}
        for key in ("id", "parent"):
            if isinstance(record.get(key), str):
                record[key] = ids.setdefault(record[key], len(ids))
        if record["type"] == "checkpoint":
            continue  # paced by the clock: how many there are depends on speed
        out.append(record)
    return out


def run_print_mode(server: OpenAIServer, home: Path, scenario: Scenario, schema: Path) -> None:
    config = write_config(home, server, scenario)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    env.update(LLMCHAT_HOME=str(home), LLMCHAT_CONFIG=str(config))
    for n, question in enumerate(scenario.questions):
        args = ["-p", question, *(["--continue"] if n else [])]
        args += ["--schema", str(schema)] if scenario.schema else []
        subprocess.run(
            [sys.executable, "-m", "llmchat", *args],
            input="",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )


async def run_app(
    server: OpenAIServer,
    home: Path,
    scenario: Scenario,
    schema: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_path = write_config(home, server, scenario)
    monkeypatch.setenv("LLMCHAT_HOME", str(home))
    monkeypatch.setenv("LLMCHAT_CONFIG", str(config_path))
    config = load_config(config_path).config
    output_schema = None
    if scenario.schema:  # as `llmchat --schema FILE` starts the app
        output_schema = OutputSchema.from_file(schema)
        config = replace(config, sampling=replace(config.sampling, temperature=0.0))
    resolution = resolve_backend(config, {}, CliOverrides())
    app = LlmChatApp(build_launch(resolution, config, [], None, schema=output_schema))
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        for question in scenario.questions:
            screen.query_one(PromptInput).text = question
            await pilot.press("enter")
            await wait_for_reply(app)
            await app.workers.wait_for_complete()
        await pilot.pause()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_the_app_and_print_mode_leave_the_same_session_file(
    scenario: Scenario,
    server: OpenAIServer,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    server.push(*scenario.replies)
    printed_home = tmp_path / "printed"
    run_print_mode(server, printed_home, scenario, schema)
    printed = normalised(printed_home)
    printed_bodies = [r.body for r in server.chat_requests]

    server.push(*scenario.replies)
    app_home = tmp_path / "app"
    await run_app(server, app_home, scenario, schema, monkeypatch)
    shown = normalised(app_home)
    app_bodies = [r.body for r in server.chat_requests[len(printed_bodies) :]]

    assert shown == printed
    assert app_bodies == printed_bodies  # the very same requests went out
    scenario.expect(printed)
