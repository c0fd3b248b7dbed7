"""Timeouts in the config: a backend's own over the global table, defaults by place."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.config import (
    CliOverrides,
    ConfigError,
    parse_config,
    resolve_backend,
    starter_config_text,
)
from llmchat.config.model import (
    CONNECT_TIMEOUT,
    FIRST_TOKEN_TIMEOUT,
    IDLE_TIMEOUT_LOCAL,
    IDLE_TIMEOUT_REMOTE,
    Config,
    Timeouts,
)
from llmchat.launch import make_backend

REMOTE_AND_LOCAL = """\
[timeouts]
connect = 3
first_token = 300

[backends.remote]
base_url = "https://llm.example.com/v1"
model = "m"
timeouts = { first_token = 120, idle = 60 }

[backends.local]
base_url = "http://127.0.0.1:8080/v1"

[backends.local.timeouts]
idle = 900
"""


def config_of(text: str) -> Config:
    return parse_config(text)[0]


def error_for(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("/cfg/config.toml"))
    return caught.value


def backend_of(config: Config, name: str) -> OpenAIBackend:
    resolved = resolve_backend(config, {}, CliOverrides(backend=name)).backend
    assert resolved is not None
    backend = make_backend(resolved, config)
    assert isinstance(backend, OpenAIBackend)
    return backend


def settled(config: Config, name: str) -> tuple[float, float, float]:
    backend = backend_of(config, name)
    return (backend.timeout.connect or 0.0, backend.first_token_timeout, backend.idle_timeout)


@pytest.mark.family("config")
def test_a_backend_table_sets_its_own_timeouts_inline_or_as_a_sub_table() -> None:
    config = config_of(REMOTE_AND_LOCAL)
    assert config.backends["remote"].timeouts == Timeouts(first_token=120, idle=60)
    assert config.backends["local"].timeouts == Timeouts(idle=900)


@pytest.mark.family("config")
def test_what_a_backend_leaves_out_comes_from_the_global_table() -> None:
    config = config_of(REMOTE_AND_LOCAL)
    assert settled(config, "remote") == (3.0, 120.0, 60.0)
    assert settled(config, "local") == (3.0, 300.0, 900.0)


@pytest.mark.family("config")
def test_unset_idle_is_generous_for_a_server_on_this_machine() -> None:
    config = config_of(
        '[backends.remote]\nbase_url = "https://llm.example.com/v1"\nmodel = "m"\n'
        '[backends.local]\nbase_url = "http://localhost:8080/v1"\n'
    )
    assert settled(config, "remote") == (CONNECT_TIMEOUT, FIRST_TOKEN_TIMEOUT, IDLE_TIMEOUT_REMOTE)
    assert settled(config, "local") == (CONNECT_TIMEOUT, FIRST_TOKEN_TIMEOUT, IDLE_TIMEOUT_LOCAL)
    assert IDLE_TIMEOUT_LOCAL > IDLE_TIMEOUT_REMOTE


@pytest.mark.family("config")
def test_the_socket_read_timeout_never_trips_before_the_deadlines() -> None:
    assert backend_of(config_of(REMOTE_AND_LOCAL), "remote").read_timeout == 120.0


@pytest.mark.family("config")
def test_read_the_former_name_of_idle_still_works_with_a_warning() -> None:
    config, warnings = parse_config("[timeouts]\nread = 45\n")
    assert config.timeouts.idle == 45.0
    assert [(w.key, w.message) for w in warnings] == [
        ("timeouts.read", "'read' is now called 'idle'; read as idle")
    ]


@pytest.mark.family("config")
def test_idle_wins_over_read_when_both_are_set() -> None:
    config, warnings = parse_config("[timeouts]\nread = 45\nidle = 30\n")
    assert config.timeouts.idle == 30.0
    assert "ignored" in warnings[0].message


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        ("[timeouts]\nidle = 0\n", "timeouts.idle", 2, "greater than 0"),
        ("[timeouts]\nfirst_token = -1\n", "timeouts.first_token", 2, "greater than 0"),
        (
            '[backends.a]\nbase_url = "http://h/v1"\ntimeouts = { idle = "slow" }\n',
            "backends.a.timeouts.idle",
            3,
            "expected a number, got a string",
        ),
        (
            '[backends.a]\nbase_url = "http://h/v1"\n[backends.a.timeouts]\nconnect = 0\n',
            "backends.a.timeouts.connect",
            4,
            "greater than 0",
        ),
        (
            '[backends.a]\nbase_url = "http://h/v1"\ntimeouts = 60\n',
            "backends.a.timeouts",
            3,
            "expected a table, got an integer",
        ),
    ],
)
@pytest.mark.family("config")
def test_a_bad_timeout_is_a_located_error(text: str, key: str, line: int, words: str) -> None:
    error = error_for(text)
    assert error.key == key
    assert error.line == line
    assert words in error.message


@pytest.mark.family("config")
def test_an_unknown_key_in_a_backends_timeouts_is_a_warning_with_a_hint() -> None:
    _, warnings = parse_config('[backends.a]\nbase_url = "http://h/v1"\ntimeouts = { idel = 5 }\n')
    assert warnings[0].key == "backends.a.timeouts.idel"
    assert "did you mean 'idle'" in warnings[0].message


def test_the_starter_config_documents_idle_and_a_backends_own_timeouts() -> None:
    text = starter_config_text()
    assert "# idle = " in text
    assert "# timeouts = { first_token = 120, idle = 60 }" in text
    assert "\nread = " not in text
