"""Schema mode on an Anthropic backend: structured outputs where the model has them, a
plain refusal where it does not. Over the loopback Messages server, which checks the
`output_config.format` it receives the way the API does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.core.events import Delta, ErrorKind, Failed, Finished, StreamEvent
from llmchat.core.model_rules import table_rule
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.structured import OutputSchema, check_reply
from tests.support.anthropic_server import AnthropicServer, Turn

KEY = "sk-ant-test-structured-0123456789"
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
SCHEMA = OutputSchema("person", PERSON)
REQUEST = ChatRequest(
    messages=(WireMessage("user", "Who wrote the first program?"),),
    params=SamplingParams(temperature=0.0, max_tokens=256),
    schema=SCHEMA,
)
ADA = '{"name": "Ada Lovelace", "age": 36}'


@pytest.fixture
def server() -> Iterator[AnthropicServer]:
    models = ("claude-sonnet-4-5", "claude-sonnet-4-20250514")
    with AnthropicServer(models=models, api_key=KEY) as server:
        yield server


async def run(server: AnthropicServer, model: str, **options: Any) -> list[StreamEvent]:
    backend = AnthropicBackend("claude", server.base_url, model, KEY, **options)
    try:
        return [event async for event in backend.stream(REQUEST)]
    finally:
        await backend.aclose()


# -- which models have it ------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-opus-4-5-20251101",
        "claude-opus-4-6",
        "anthropic/claude-sonnet-4.6",
        "claude-opus-5",
    ],
)
def test_claude_4_5_and_later_have_structured_outputs(model: str) -> None:
    assert table_rule(model, "anthropic").structured_output


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-1-20250805",
        "claude-sonnet-4-20250514",
        "claude-opus-4",
        "claude-3-7-sonnet-latest",
        "claude-3-5-haiku-20241022",
        "claude-test",
        "gpt-4o",
    ],
)
def test_older_and_unknown_models_do_not(model: str) -> None:
    assert not table_rule(model, "anthropic").structured_output


# -- the request -------------------------------------------------------------------------


async def test_schema_mode_sends_the_schema_as_output_config_format(
    server: AnthropicServer,
) -> None:
    server.push(Turn(reply=ADA))
    events = await run(server, "claude-sonnet-4-5")
    assert isinstance(events[-1], Finished), events[-1]
    [sent] = server.message_requests
    assert sent.body["output_config"] == {"format": {"type": "json_schema", "schema": PERSON}}
    assert "output_format" not in sent.body  # the 2025 beta's field, now deprecated
    assert "anthropic-beta" not in sent.headers  # generally available: no beta header


async def test_the_reply_is_checked_against_the_schema_as_on_any_backend(
    server: AnthropicServer,
) -> None:
    server.push(Turn(reply=ADA))
    events = await run(server, "claude-sonnet-4-5")
    reply = "".join(e.text for e in events if isinstance(e, Delta))
    assert json.loads(reply) == {"name": "Ada Lovelace", "age": 36}
    assert check_reply(reply, SCHEMA).valid


async def test_other_output_config_settings_from_extra_body_are_kept(
    server: AnthropicServer,
) -> None:
    server.push(Turn(reply=ADA))
    await run(server, "claude-sonnet-4-5", extra_body={"output_config": {"effort": "low"}})
    [sent] = server.message_requests
    assert sent.body["output_config"] == {
        "effort": "low",
        "format": {"type": "json_schema", "schema": PERSON},
    }


async def test_without_a_schema_no_output_format_is_sent(server: AnthropicServer) -> None:
    backend = AnthropicBackend("claude", server.base_url, "claude-sonnet-4-5", KEY)
    plain = ChatRequest(REQUEST.messages, REQUEST.params)
    events = [event async for event in backend.stream(plain)]
    await backend.aclose()
    assert isinstance(events[-1], Finished)
    [sent] = server.message_requests
    assert "output_config" not in sent.body


async def test_a_model_without_structured_outputs_is_refused_naming_it_and_those_that_have_them(
    server: AnthropicServer,
) -> None:
    events = await run(server, "claude-sonnet-4-20250514")
    [failed] = events
    assert isinstance(failed, Failed)
    assert failed.error.kind is ErrorKind.BAD_REQUEST
    assert "claude-sonnet-4-20250514" in failed.error.message
    assert "Claude Opus, Sonnet and Haiku 4.5 and later" in failed.error.message
    assert server.message_requests == []


async def test_the_servers_default_model_is_looked_up_before_deciding() -> None:
    with AnthropicServer(models=("claude-haiku-4-5",), api_key=KEY) as server:
        server.push(Turn(reply=ADA))
        events = await run(server, "default")
        assert isinstance(events[-1], Finished), events[-1]
        [sent] = server.message_requests
    assert sent.body["model"] == "claude-haiku-4-5"
    assert "format" in sent.body["output_config"]


# -- the command, end to end ---------------------------------------------------------------


def test_print_mode_with_a_schema_answers_through_structured_outputs_and_checks_it(
    server: AnthropicServer, tmp_path: Path
) -> None:
    server.push(Turn(reply=ADA))
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(PERSON))
    config = tmp_path / "config.toml"
    config.write_text(
        "[backends.claude]\n"
        'kind = "anthropic"\n'
        f'base_url = "{server.base_url}"\n'
        'model = "claude-sonnet-4-5"\n'
        'api_key_env = "TEST_ANTHROPIC_KEY"\n'
    )
    config.chmod(0o600)
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_", "ANTHR"))
    }
    environment.update(
        LLMCHAT_HOME=str(tmp_path), LLMCHAT_CONFIG=str(config), TEST_ANTHROPIC_KEY=KEY
    )
    result = subprocess.run(
        [sys.executable, "-m", "llmchat", "-p", "who?", "--schema", str(schema)],
        input="",
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"name": "Ada Lovelace", "age": 36}
    assert "✓ valid JSON (schema)" in result.stderr
    [sent] = server.message_requests
    assert sent.body["output_config"]["format"]["schema"] == PERSON
    assert sent.body["temperature"] == 0  # schema mode's temperature, as on OpenAI
