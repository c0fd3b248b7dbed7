"""A backend's circuit breaker in the config: `breaker = { failures, cooldown }`, from
the file to the gateway the app talks through."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.config import (
    BreakerSettings,
    CliOverrides,
    ConfigError,
    parse_config,
    resolve_backend,
    starter_config_text,
)
from llmchat.config.model import BREAKER_COOLDOWN, BREAKER_FAILURES, Config
from llmchat.launch import build_launch

pytestmark = pytest.mark.family("config")

TWO = """\
[backends.remote]
base_url = "https://llm.example.com/v1"
model = "m"
breaker = { failures = 2, cooldown = 7.5 }
fallback = ["local"]

[backends.local]
base_url = "http://127.0.0.1:8080/v1"

[backends.local.breaker]
cooldown = 90
"""


def config_of(text: str) -> Config:
    return parse_config(text)[0]


def error_for(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("/cfg/config.toml"))
    return caught.value


def test_a_backend_table_sets_its_breaker_inline_or_as_a_sub_table() -> None:
    config = config_of(TWO)
    assert config.backends["remote"].breaker == BreakerSettings(failures=2, cooldown=7.5)
    assert config.backends["local"].breaker == BreakerSettings(failures=5, cooldown=90.0)


def test_without_a_breaker_table_a_backend_opens_after_5_failures_for_30_s() -> None:
    config = config_of('[backends.a]\nbase_url = "http://h/v1"\n')
    assert config.backends["a"].breaker == BreakerSettings(BREAKER_FAILURES, BREAKER_COOLDOWN)
    assert (BREAKER_FAILURES, BREAKER_COOLDOWN) == (5, 30.0)


def test_the_resolved_backend_carries_its_breaker_settings() -> None:
    resolved = resolve_backend(config_of(TWO), {}, CliOverrides(backend="remote")).backend
    assert resolved is not None
    assert resolved.breaker == BreakerSettings(failures=2, cooldown=7.5)


def test_the_apps_gateways_are_built_with_each_backends_breaker(home: Path) -> None:
    config = config_of(TWO)
    resolution = resolve_backend(config, {}, CliOverrides(backend="remote"))
    launch = build_launch(resolution, config, [], None)
    assert launch.open_session is not None
    context = launch.open_session(None)
    try:
        primary, [fallback] = context.gateway, context.gateway.fallbacks
        assert (primary.breaker.threshold, primary.breaker.cooldown_s) == (2, 7.5)
        assert (fallback.breaker.threshold, fallback.breaker.cooldown_s) == (5, 90.0)
    finally:
        context.close()


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        (
            '[backends.a]\nbase_url = "http://h/v1"\nbreaker = { failures = 0 }\n',
            "backends.a.breaker.failures",
            3,
            "must be at least 1, got 0",
        ),
        (
            '[backends.a]\nbase_url = "http://h/v1"\nbreaker = { failures = 2.5 }\n',
            "backends.a.breaker.failures",
            3,
            "expected an integer, got a number",
        ),
        (
            '[backends.a]\nbase_url = "http://h/v1"\n[backends.a.breaker]\ncooldown = 0\n',
            "backends.a.breaker.cooldown",
            4,
            "must be greater than 0, got 0",
        ),
        (
            '[backends.a]\nbase_url = "http://h/v1"\nbreaker = { cooldown = "long" }\n',
            "backends.a.breaker.cooldown",
            3,
            "expected a number, got a string",
        ),
        (
            '[backends.a]\nbase_url = "http://h/v1"\nbreaker = 5\n',
            "backends.a.breaker",
            3,
            "expected a table, got an integer",
        ),
    ],
)
def test_a_bad_breaker_value_is_a_located_error(text: str, key: str, line: int, words: str) -> None:
    error = error_for(text)
    assert error.key == key
    assert error.line == line
    assert words in error.message


def test_an_unknown_key_in_a_breaker_is_a_warning_with_a_hint() -> None:
    _, warnings = parse_config(
        '[backends.a]\nbase_url = "http://h/v1"\nbreaker = { failure = 3 }\n'
    )
    assert [(w.key, w.line) for w in warnings] == [("backends.a.breaker.failure", 3)]
    assert "did you mean 'failures'" in warnings[0].message


def test_the_starter_config_documents_a_backends_breaker_with_the_defaults() -> None:
    assert "# breaker = { failures = 5, cooldown = 30 }" in starter_config_text()
