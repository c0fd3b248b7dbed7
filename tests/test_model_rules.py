"""Models that refuse the dials: the rules table, what a server's 400 teaches, and how a
turn goes out fitted to them, over the loopback server (a GPT-5-style model refusing
temperature, a recent-Claude-style one refusing temperature and top_p together)."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.core.conversation import Conversation
from llmchat.core.model_rules import (
    DialRule,
    ModelRules,
    fit,
    refusal_in,
    table_rule,
)
from llmchat.core.params import SamplingParams
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.retry import RetryPolicy
from llmchat.headless import EXIT_OK, ask
from llmchat.store import new_session
from llmchat.store.model_rules_file import load_learnt, model_rules, save_learnt
from tests.support.openai_server import OpenAIServer, Script

# -- the table ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["gpt-5", "gpt-5-mini", "o1", "o3-mini", "o4-mini", "openai/gpt-5"]
)
def test_openai_reasoning_models_take_no_dials_and_max_completion_tokens(model: str) -> None:
    rule = table_rule(model)
    assert rule.refused == {"temperature", "top_p"}
    assert rule.max_tokens_field == "max_completion_tokens"


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1-20250805",
        "claude-haiku-4-5",
        "anthropic/claude-sonnet-4.5",
    ],
)
def test_recent_claude_models_take_one_dial_and_temperature_to_one(model: str) -> None:
    rule = table_rule(model)
    assert rule.one_of and rule.temperature_range == (0.0, 1.0) and not rule.refused


@pytest.mark.parametrize(
    "model", ["claude-3-5-sonnet-20241022", "claude-sonnet-4-20250514", "claude-opus-4"]
)
def test_older_claude_models_take_both_dials_from_zero_to_one(model: str) -> None:
    rule = table_rule(model)
    assert not rule.one_of and rule.temperature_range == (0.0, 1.0)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama-3.1-8b", "default", "gpt-5-chat-latest"])
def test_other_models_take_both_dials(model: str) -> None:
    assert table_rule(model) == DialRule()


def test_any_model_over_the_anthropic_protocol_takes_temperature_to_one() -> None:
    rule = table_rule("some-model", "anthropic")
    assert rule.temperature_range == (0.0, 1.0) and rule.max_tokens_field is None


# -- fitting ------------------------------------------------------------------------------


def test_a_refused_dial_is_left_out_and_recorded_at_its_neutral_value() -> None:
    fitted = fit(SamplingParams(temperature=0.5, top_p=0.9), table_rule("gpt-5"), "gpt-5")
    assert fitted.omit == {"temperature", "top_p"}
    assert (fitted.params.temperature, fitted.params.top_p) == (1.0, 1.0)
    body = fitted.shape({"temperature": 0.5, "top_p": 0.9, "max_tokens": 64})
    assert body == {"max_completion_tokens": 64}
    assert "gpt-5 does not accept temperature: sent without it" in fitted.notes


def test_a_one_dial_model_gets_the_dial_moved_last() -> None:
    params = SamplingParams(temperature=0.7, top_p=0.9)
    rule = table_rule("claude-sonnet-4-5")
    by_temperature = fit(params, rule, "claude-sonnet-4-5", "temperature")
    by_top_p = fit(params, rule, "claude-sonnet-4-5", "top_p")
    assert by_temperature.omit == {"top_p"} and by_temperature.params.top_p == 1.0
    assert by_top_p.omit == {"temperature"} and by_top_p.params.temperature == 1.0
    assert by_top_p.params.top_p == 0.9


def test_a_temperature_out_of_range_is_clamped_with_a_note() -> None:
    fitted = fit(
        SamplingParams(temperature=1.1), table_rule("claude-3-5-haiku"), "claude-3-5-haiku"
    )
    assert fitted.params.temperature == 1.0
    assert fitted.notes == ("claude-3-5-haiku takes temperature 0–1: 1.1 sent as 1",)


def test_the_conversation_tracks_the_dial_moved_last() -> None:
    conversation = Conversation()
    assert conversation.build_request().last_dial == "temperature"
    conversation.set_params(SamplingParams(top_p=0.9))
    assert conversation.build_request().last_dial == "top_p"
    conversation.set_params(SamplingParams(temperature=0.3, top_p=0.9))
    assert conversation.build_request().last_dial == "temperature"
    assert Conversation(params=SamplingParams(top_p=0.8)).last_dial == "top_p"


# -- what a 400 says ----------------------------------------------------------------------


def test_a_gpt5_style_400_refuses_the_dial_it_names() -> None:
    refusal = refusal_in(
        {
            "message": "Unsupported value: 'temperature' does not support 0.5 with this model. "
            "Only the default (1) value is supported.",
            "param": "temperature",
            "code": "unsupported_value",
        }
    )
    assert refusal is not None and refusal.rule.refused == {"temperature"}


def test_an_anthropic_style_400_refuses_both_dials_together() -> None:
    message = (
        "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
    )
    refusal = refusal_in({"message": message})
    assert refusal is not None and refusal.rule.one_of


def test_a_range_error_or_another_400_refuses_nothing() -> None:
    assert refusal_in({"message": "temperature: Input should be less than or equal to 1"}) is None
    assert refusal_in({"message": "bad request from the test"}) is None


# -- the learnt-rules file ----------------------------------------------------------------


def test_learnt_rules_survive_a_new_process_via_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "model-rules.json"
    save_learnt({"m": DialRule(refused=frozenset({"temperature"}))}, path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert model_rules(path).rule_for("m").refused == {"temperature"}


def test_a_damaged_rules_file_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "model-rules.json"
    path.write_text("{not json", encoding="utf-8")
    loaded = load_learnt(path)
    assert loaded.learnt == {} and "ignored" in loaded.warnings[0]
    rules = model_rules(path)
    assert rules.take_warnings() and not rules.take_warnings()


def test_saving_keeps_what_another_process_learnt(tmp_path: Path) -> None:
    path = tmp_path / "model-rules.json"
    save_learnt({"a": DialRule(one_of=True)}, path)
    save_learnt({"b": DialRule(refused=frozenset({"top_p"}))}, path)
    assert set(load_learnt(path).learnt) == {"a", "b"}


# -- over loopback HTTP -------------------------------------------------------------------


async def no_sleep(seconds: float) -> None:
    return None


async def service_for(
    server: OpenAIServer, folder: Path, model: str, params: SamplingParams, rules: ModelRules
) -> ChatService:
    conversation = Conversation(params=params)
    new_session(folder, conversation)
    backend = OpenAIBackend("test", server.base_url, model, rules=rules)
    gateway = Gateway(backend, RetryPolicy(rng=random.Random(1)), sleep=no_sleep)
    meter = ContextMeter(conversation, gateway, model)
    await meter.prepare()
    return ChatService(conversation, gateway, meter, model=lambda: model)


def dials(server: OpenAIServer) -> list[tuple[object, object]]:
    return [(r.body.get("temperature"), r.body.get("top_p")) for r in server.chat_requests]


@pytest.mark.family("retries")
async def test_a_model_refusing_temperature_answers_after_one_visible_adjustment(
    tmp_path: Path,
) -> None:
    rules = model_rules(tmp_path / "cache" / "model-rules.json")
    with OpenAIServer(picky={"picky-reasoner": "no_dials"}) as server:
        server.push(Script(reply="one"), Script(reply="two"))
        service = await service_for(
            server, tmp_path, "picky-reasoner", SamplingParams(temperature=0.5), rules
        )
        out, err = io.StringIO(), io.StringIO()
        assert await ask(service, "hello", out=out, err=err) == EXIT_OK
        assert out.getvalue() == "one\n"
        assert err.getvalue() == (
            "llmchat: picky-reasoner does not accept temperature: sent without it (remembered)\n"
        )
        assert dials(server) == [(0.5, 1.0), (None, 1.0)]
        reply = service.conversation.messages[-1]
        assert reply.params is not None and reply.params.temperature == 1.0  # what was used
        # The second turn goes out adjusted at once, and says nothing more.
        err2 = io.StringIO()
        assert await ask(service, "again", out=io.StringIO(), err=err2) == EXIT_OK
        assert dials(server)[2:] == [(None, 1.0)] and err2.getvalue() == ""
        await service.gateway.aclose()
    # A new process reads the lesson from the cache folder.
    assert model_rules(tmp_path / "cache" / "model-rules.json").rule_for(
        "picky-reasoner"
    ).refused == {"temperature"}


@pytest.mark.family("retries")
async def test_a_model_refusing_both_dials_together_gets_the_one_moved_last(
    tmp_path: Path,
) -> None:
    rules = model_rules(tmp_path / "model-rules.json")
    with OpenAIServer(picky={"picky-claude": "one_dial"}) as server:
        server.push(Script(reply="one"), Script(reply="two"))
        service = await service_for(
            server, tmp_path, "picky-claude", SamplingParams(temperature=0.7), rules
        )
        service.conversation.set_params(SamplingParams(temperature=0.7, top_p=0.9))
        err = io.StringIO()
        assert await ask(service, "hello", out=io.StringIO(), err=err) == EXIT_OK
        assert err.getvalue() == (
            "llmchat: picky-claude takes temperature or top-p, not both: sent top-p 0.9 "
            "(moved last), not temperature 0.7 (remembered)\n"
        )
        assert dials(server) == [(0.7, 0.9), (None, 0.9)]  # top-p was moved last
        reply = service.conversation.messages[-1]
        assert reply.params is not None and (reply.params.temperature, reply.params.top_p) == (
            1.0,
            0.9,
        )
        assert await ask(service, "again", out=io.StringIO(), err=io.StringIO()) == EXIT_OK
        assert dials(server)[2:] == [(None, 0.9)]
        await service.gateway.aclose()


@pytest.mark.family("retries")
async def test_a_400_naming_a_dial_not_sent_is_not_retried(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        refusal = Script.http_error(400, "Unsupported parameter: 'top_p'", param="top_p")
        server.push(refusal)
        service = await service_for(
            server, tmp_path, "gpt-5", SamplingParams(temperature=0.5), ModelRules()
        )
        err = io.StringIO()
        assert await ask(service, "hello", out=io.StringIO(), err=err) != EXIT_OK
        assert len(server.chat_requests) == 1  # gpt-5 is known: no dial was sent at all
        assert "gpt-5 does not accept temperature: sent without it" in err.getvalue()
        await service.gateway.aclose()


@pytest.mark.family("retries")
def test_print_mode_remembers_a_refused_dial_across_processes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with OpenAIServer(picky={"picky-reasoner": "no_dials"}) as server:
        config = home / "config.toml"
        config.write_text(
            f'default_backend = "test"\n\n[backends.test]\nkind = "openai"\n'
            f'base_url = "{server.base_url}"\nmodel = "picky-reasoner"\n\n'
            "[sampling]\ntemperature = 0.5\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
        env.update(LLMCHAT_HOME=str(home), LLMCHAT_CONFIG=str(config))
        runs = [
            subprocess.run(
                [sys.executable, "-m", "llmchat", "-p", "hello"],
                input="",
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            for _ in range(2)
        ]
        bodies = [r.body for r in server.chat_requests]
    assert [r.returncode for r in runs] == [0, 0]
    assert "does not accept temperature: sent without it (remembered)" in runs[0].stderr
    assert "does not accept temperature" in runs[1].stderr  # the config asks 0.5
    assert "remembered" not in runs[1].stderr
    assert ["temperature" in body for body in bodies] == [True, False, False]
    saved = json.loads((home / "cache" / "model-rules.json").read_text())
    assert saved["models"]["picky-reasoner"]["refuses"] == ["temperature"]


@pytest.mark.family("retries")
async def test_a_model_refusing_max_tokens_gets_max_completion_tokens_once_asked(
    server: OpenAIServer, tmp_path: Path
) -> None:
    message = (
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead."
    )
    server.push(
        Script.http_error(400, message, param="max_tokens", code="unsupported_parameter"),
        Script(reply="one"),
        Script(reply="two"),
    )
    rules = model_rules(tmp_path / "model-rules.json")
    service = await service_for(server, tmp_path, "new-reasoner", SamplingParams(), rules)
    err = io.StringIO()
    assert await ask(service, "hello", out=io.StringIO(), err=err) == EXIT_OK
    assert "new-reasoner does not accept max_tokens: sent max_completion_tokens" in err.getvalue()
    assert await ask(service, "again", out=io.StringIO(), err=io.StringIO()) == EXIT_OK
    limits = [
        ("max_tokens" in r.body, r.body.get("max_completion_tokens")) for r in server.chat_requests
    ]
    assert limits == [(True, None), (False, 1024), (False, 1024)]
    await service.gateway.aclose()
