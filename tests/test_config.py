"""config: the settings model, located errors, backend resolution, the starter file."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
import stat
import tomllib
from pathlib import Path

import pytest

from llmchat.config import (
    BackendConfig,
    CliOverrides,
    Config,
    ConfigError,
    ResolutionError,
    Secret,
    display_url,
    load_config,
    parse_config,
    resolve_backend,
    starter_config_text,
    write_starter_config,
)
from llmchat.core.params import SamplingParams

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

KEY = "sk-proj-THISISASECRETKEY0123456789abcd"
OTHER_KEY = "gsk_ANOTHERSECRET9876543210zyxw"
OPENAI_ENV = {"OPENAI_API_KEY": KEY}

LOCAL_AND_OPENAI = """\
default_backend = "local"
system_prompt = "Be brief."

[backends.local]
kind = "llamacpp"
base_url = "http://127.0.0.1:8080/v1"

[backends.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
model = "gpt-4.1"
api_key_env = "OPENAI_API_KEY"
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Functions that default to paths.config_file() must land in tmp_path, never ~.
    monkeypatch.setenv("LLMCHAT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMCHAT_CONFIG", raising=False)


def write_config(tmp_path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


def error_for(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("/cfg/config.toml"))
    return caught.value


def config_of(text: str) -> Config:
    return parse_config(text)[0]


# --- loading: the happy path ------------------------------------------------------


def test_missing_file_gives_defaults_and_says_it_does_not_exist(tmp_path: Path) -> None:
    loaded = load_config(tmp_path / "absent.toml")
    assert loaded.exists is False
    assert loaded.config == Config()


def test_default_path_comes_from_paths_module(tmp_path: Path) -> None:
    assert load_config().path == tmp_path / "home" / "config.toml"


def test_full_config_loads_into_the_typed_model() -> None:
    config = config_of(
        LOCAL_AND_OPENAI
        + "\n[sampling]\ntemperature = 0.2\ntop_p = 0.9\nmax_tokens = 256\nseed = 7\n"
        + "\n[timeouts]\nconnect = 2\nidle = 30.5\n"
    )
    assert config.default_backend == "local"
    assert config.system_prompt == "Be brief."
    assert config.sampling == SamplingParams(temperature=0.2, top_p=0.9, max_tokens=256, seed=7)
    assert config.timeouts.connect == 2.0
    assert config.timeouts.idle == 30.5
    assert config.backends["openai"] == BackendConfig(
        name="openai",
        kind="openai",
        base_url="https://api.openai.com/v1",
        model="gpt-4.1",
        api_key_env="OPENAI_API_KEY",
    )


def test_sampling_defaults_come_from_sampling_params() -> None:
    assert config_of("").sampling == SamplingParams()


def test_default_backend_defaults_to_the_first_table() -> None:
    text = '[backends.b]\nkind = "openai"\n[backends.a]\nkind = "openai"\n'
    assert config_of(text).default_backend == "b"


def test_base_url_defaults_by_kind() -> None:
    config = config_of('[backends.l]\nkind = "llamacpp"\n[backends.o]\nkind = "openai"\n')
    assert config.backends["l"].base_url == "http://127.0.0.1:8080/v1"
    assert config.backends["o"].base_url == "https://api.openai.com/v1"


def test_relative_model_file_is_relative_to_the_config_file() -> None:
    text = '[backends.l]\nkind = "llamacpp"\nmodel_file = "models/q4.gguf"\n'
    config = parse_config(text, Path("/cfg/config.toml"))[0]
    assert config.backends["l"].model_file == Path("/cfg/models/q4.gguf")


MODEL_WITH_TEMPLATE = """\
[backends.base]
kind = "llamacpp"
model_file = "models/base.gguf"
chat_template_file = "templates/dialogue.jinja"
stop = ["\\nUser:", "</s>"]
"""


def test_a_model_file_backend_names_its_chat_template_and_stop_strings(tmp_path: Path) -> None:
    template = tmp_path / "templates" / "dialogue.jinja"
    template.parent.mkdir()
    template.write_text("{{ messages }}")
    config = parse_config(MODEL_WITH_TEMPLATE, tmp_path / "config.toml")[0]
    backend = config.backends["base"]
    assert backend.chat_template_file == template
    assert backend.stop == ("\nUser:", "</s>")
    resolved = resolve_backend(config, {}).backend
    assert resolved is not None
    assert (resolved.chat_template_file, resolved.stop) == (template, ("\nUser:", "</s>"))


@pytest.mark.family("config")
def test_a_missing_chat_template_file_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(MODEL_WITH_TEMPLATE, tmp_path / "config.toml")
    error = caught.value
    assert (error.key, error.line) == ("backends.base.chat_template_file", 4)
    assert "no such file" in error.message
    assert f"relative paths start at {tmp_path}" in error.message


def test_a_chat_template_without_model_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "t.jinja").write_text("x")
    text = '[backends.l]\nkind = "llamacpp"\nchat_template_file = "t.jinja"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, tmp_path / "config.toml")
    assert caught.value.key == "backends.l.chat_template_file"
    assert "only works with model_file" in caught.value.message


def test_stop_strings_work_without_a_template_and_default_to_none() -> None:
    config = config_of('[backends.a]\nstop = ["###"]\n[backends.b]\nkind = "openai"\n')
    assert config.backends["a"].stop == ("###",)
    assert config.backends["b"].stop == ()
    assert config.backends["b"].chat_template_file is None


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        ('model_file = "m.gguf"\nchat_template_file = 5\n', "chat_template_file", 3, "an integer"),
        ('model_file = "m.gguf"\nchat_template_file = ""\n', "chat_template_file", 3, "empty"),
        ('stop = "\\nUser:"\n', "stop", 2, "expected an array of strings, got a string"),
        ("stop = 1\n", "stop", 2, "got an integer"),
        ('stop = ["ok", 2]\n', "stop", 2, "got one holding an integer"),
        ("stop = [[]]\n", "stop", 2, "got one holding an array"),
        ('stop = [""]\n', "stop", 2, "must not be empty"),
    ],
)
@pytest.mark.family("config")
def test_wrong_chat_template_or_stop_types_are_located_errors(
    text: str, key: str, line: int, words: str
) -> None:
    error = error_for("[backends.x]\n" + text)
    assert (error.key, error.line) == (f"backends.x.{key}", line)
    assert words in error.message


@pytest.mark.family("config")
def test_byte_order_mark_is_accepted() -> None:
    assert config_of('\ufefftheme = "nord"\n').theme == "nord"


def test_loaded_backends_cannot_be_mutated() -> None:
    config = config_of(LOCAL_AND_OPENAI)
    with pytest.raises(TypeError):
        config.backends["x"] = config.backends["local"]  # type: ignore[index]


# --- syntax errors: file, line, column ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ('default_backend = "local\ntheme = "x"\n', 1, 25, "unterminated string"),
        ('[backends.local]\nkind = "llamacpp"\nbase_url = http://x\n', 3, 12, "Invalid value"),
        ("[sampling]\ntemperature = 0.7\n\n[sampling]\ntop_p = 1.0\n", 4, 10, "twice"),
        ('theme = "x"\n[backends.local\nkind = "openai"\n', 2, 16, "Expected ']'"),
        ('theme = "a"\ntheme = "b"\n', 2, 12, "Cannot overwrite"),
        ("[timeouts]\nconnect 5\n", 2, 9, "Expected '='"),
        ('theme = "a\x00b"\n', 1, 11, "Illegal character"),
    ],
    ids=[
        "unterminated-string",
        "unquoted-url",
        "table-declared-twice",
        "missing-bracket",
        "key-set-twice",
        "missing-equals",
        "nul-byte",
    ],
)
@pytest.mark.family("config")
def test_syntax_error_reports_line_and_column(
    text: str, line: int, column: int, words: str
) -> None:
    error = error_for(text)
    assert (error.line, error.column) == (line, column)
    assert words in error.message
    assert str(error).startswith(f"/cfg/config.toml:{line}:{column}: TOML syntax error: ")


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('system_prompt = """never closed\nmore text\n\n', 2, 10),
        ("[sampling]\nmax_tokens = [1,\n", 2, 17),
        ("theme =", 1, 8),
    ],
    ids=["open-multiline-string", "open-array", "dangling-equals"],
)
@pytest.mark.family("config")
def test_error_at_end_of_file_points_at_the_last_line_with_content(
    text: str, line: int, column: int
) -> None:
    error = error_for(text)
    assert (error.line, error.column) == (line, column)
    assert "at the end of the file" in error.message


@pytest.mark.family("config")
def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = write_config(tmp_path, b'theme = "ok"\ntheme2 = "caf\xe9"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.path, caught.value.line, caught.value.column) == (path, 2, 14)
    assert "UTF-8" in caught.value.message


@pytest.mark.family("config")
def test_syntax_error_never_quotes_the_offending_line() -> None:
    error = error_for(f'[backends.o]\napi_key = "{KEY}\n')
    assert KEY not in str(error)
    assert KEY[:12] not in str(error)


@pytest.mark.family("config")
def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    directory = tmp_path / "config.toml"
    directory.mkdir()
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    assert "cannot read" in caught.value.message


# --- invalid settings: key paths ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        (
            '[backends.local]\nkind = "llamacpp"\ncontext_window = "big"\n',
            "backends.local.context_window",
            3,
            "expected an integer, got a string",
        ),
        ('[sampling]\ntemperature = "hot"\n', "sampling.temperature", 2, "expected a number"),
        ("[sampling]\ntemperature = 3\n", "sampling.temperature", 2, "between 0 and 2"),
        ("[sampling]\ntop_p = -0.5\n", "sampling.top_p", 2, "between 0 and 1"),
        ("[sampling]\nmax_tokens = 0\n", "sampling.max_tokens", 2, "at least 1"),
        ("[sampling]\nmax_tokens = 1.5\n", "sampling.max_tokens", 2, "got a number"),
        ("[sampling]\nseed = true\n", "sampling.seed", 2, "got a boolean"),
        ("[timeouts]\nread = 0\n", "timeouts.read", 2, "greater than 0"),
        ('backends = "openai"\n', "backends", 1, "expected a table, got a string"),
        ("[backends]\nlocal = 5\n", "backends.local", 2, "expected a table"),
        ("theme = 5\n", "theme", 1, "expected a string, got an integer"),
        ('system_prompt = ["a"]\n', "system_prompt", 1, "got an array"),
        ("[backends.o]\nmodel = 2024-01-01\n", "backends.o.model", 2, "got a date/time"),
        ('[backends.o]\nmodel = ""\n', "backends.o.model", 2, "must not be empty"),
    ],
)
@pytest.mark.family("config")
def test_wrong_type_or_range_names_the_key_path_and_line(
    text: str, key: str, line: int, words: str
) -> None:
    error = error_for(text)
    assert error.key == key
    assert error.line == line
    assert words in error.message
    assert str(error).startswith(f"/cfg/config.toml:{line}: {key}: ")


@pytest.mark.family("config")
def test_unknown_kind_is_an_error_with_a_suggestion() -> None:
    error = error_for('[backends.local]\nkind = "llama.cpp"\n')
    assert error.key == "backends.local.kind"
    assert "unknown kind 'llama.cpp'" in error.message
    assert "'openai' or 'llamacpp'" in error.message
    assert "did you mean 'llamacpp'" in error.message


def test_unknown_max_tokens_field_is_an_error() -> None:
    error = error_for('[backends.o]\nmax_tokens_field = "max_output_tokens"\n')
    assert error.key == "backends.o.max_tokens_field"


def test_truncation_is_chunked_unless_the_config_says_oldest() -> None:
    assert config_of("").context_truncation == "chunked"
    assert config_of('context_truncation = "oldest"\n').context_truncation == "oldest"


@pytest.mark.family("config")
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"olderst"', "did you mean 'oldest'"),
        ('"block"', "expected 'chunked' or 'oldest'"),
        ("1", "expected a string"),
        ('""', "must not be empty"),
    ],
)
def test_an_unknown_truncation_is_a_located_error(value: str, words: str) -> None:
    error = error_for(f"theme = 'x'\ncontext_truncation = {value}\n")
    assert (error.key, error.line) == ("context_truncation", 2)
    assert words in error.message


@pytest.mark.family("config")
@pytest.mark.parametrize("url", ["ftp://host/v1", "127.0.0.1:8080/v1", "http://", "http://h:99999"])
def test_bad_base_url_is_an_error(url: str) -> None:
    error = error_for(f'[backends.o]\nbase_url = "{url}"\n')
    assert error.key == "backends.o.base_url"


def test_quoted_backend_name_keeps_its_quotes_in_the_key_path() -> None:
    error = error_for('theme = "x"\n\n[backends."my.box"]\nkind = "ollama"\n')
    assert error.key == 'backends."my.box".kind'
    assert error.line == 4


def test_unknown_default_backend_lists_the_configured_ones() -> None:
    error = error_for('default_backend = "remote"\n' + LOCAL_AND_OPENAI.split("\n", 1)[1])
    assert error.key == "default_backend"
    assert error.line == 1
    assert "'remote' is not a configured backend (configured: local, openai)" in error.message


def test_default_backend_with_no_backends_is_an_error() -> None:
    assert error_for('default_backend = "local"\n').key == "default_backend"


def test_a_broken_backend_is_not_reported_again_as_unknown_default() -> None:
    error = error_for('default_backend = "l"\n[backends.l]\nkind = "nope"\n')
    assert [issue.key for issue in error.issues] == ["backends.l.kind"]


@pytest.mark.family("config")
def test_every_problem_is_reported_at_once() -> None:
    error = error_for('theme = 1\n[sampling]\ntop_p = 2\n[backends.x]\nkind = "?"\n')
    assert [issue.key for issue in error.issues] == ["backends.x.kind", "sampling.top_p", "theme"]
    assert len(str(error).splitlines()) == 3


@pytest.mark.family("secrets")
@pytest.mark.parametrize("value", [KEY, "sk-abc", "gsk_abcdefghij0123456789klmnop"])
def test_api_key_env_holding_a_key_is_refused_without_echoing_it(value: str) -> None:
    error = error_for(f'[backends.o]\napi_key_env = "{value}"\n')
    assert error.key == "backends.o.api_key_env"
    assert "NAME of an environment variable" in error.message
    assert value not in str(error)


@pytest.mark.family("secrets")
def test_wrong_type_for_api_key_does_not_echo_the_value() -> None:
    error = error_for("[backends.o]\napi_key = 1234567890123456789\n")
    assert error.key == "backends.o.api_key"
    assert "1234567890123456789" not in str(error)


# --- warnings ----------------------------------------------------------------------


@pytest.mark.family("config")
def test_unknown_keys_are_warnings_with_line_and_suggestion() -> None:
    text = 'thme = "x"\n[backends.local]\nkind = "llamacpp"\nmodle = "q"\n'
    config, warnings = parse_config(text, Path("c.toml"))
    assert config.theme is None
    assert [(w.key, w.line) for w in warnings] == [("thme", 1), ("backends.local.modle", 4)]
    assert "did you mean 'model'?" in warnings[1].message
    assert warnings[1].format(Path("c.toml")).startswith("c.toml:4: backends.local.modle: ")


def test_unknown_keys_inside_multiline_strings_are_not_misplaced() -> None:
    text = 'system_prompt = """\nmodle = "in the prompt"\n"""\n[sampling]\nfoo = 1\n'
    _, warnings = parse_config(text)
    assert [(w.key, w.line) for w in warnings] == [("sampling.foo", 5)]


@pytest.mark.family("secrets")
@posix_only
def test_group_readable_file_holding_a_key_warns(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'[backends.o]\napi_key = "{KEY}"\n', mode=0o640)
    loaded = load_config(path)
    assert len(loaded.warnings) == 1
    line = loaded.warning_lines()[0]
    assert "readable by group" in line
    assert f"chmod 600 {path}" in line
    assert KEY not in line


@pytest.mark.family("secrets")
@posix_only
def test_world_readable_file_holding_a_key_warns(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'[backends.o]\napi_key = "{KEY}"\n', mode=0o644)
    assert "group and others" in load_config(path).warning_lines()[0]


@posix_only
def test_private_file_holding_a_key_does_not_warn(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'[backends.o]\napi_key = "{KEY}"\n', mode=0o600)
    assert load_config(path).warnings == ()


@posix_only
def test_readable_file_without_a_key_does_not_warn(tmp_path: Path) -> None:
    path = write_config(tmp_path, LOCAL_AND_OPENAI, mode=0o644)
    assert load_config(path).warnings == ()


# --- the file is never touched -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ['theme = "unterminated\n', "[sampling]\ntemperature = 9\n", b"\xff\xfe garbage"],
    ids=["syntax", "invalid-value", "not-utf8"],
)
@pytest.mark.family("config")
def test_corrupt_config_is_never_modified(tmp_path: Path, text: str | bytes) -> None:
    path = write_config(tmp_path, text)
    before = (path.read_bytes(), path.stat().st_mtime_ns, stat.S_IMODE(path.stat().st_mode))
    with pytest.raises(ConfigError):
        load_config(path)
    after = (path.read_bytes(), path.stat().st_mtime_ns, stat.S_IMODE(path.stat().st_mode))
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


# --- secrets -----------------------------------------------------------------------


@pytest.mark.family("secrets")
def test_secret_repr_shows_a_masked_hint_only() -> None:
    secret = Secret(KEY)
    assert repr(secret) == "Secret('sk-…abcd')"
    assert str(secret) == f"{secret}" == "sk-…abcd"
    assert secret.reveal() == KEY


@pytest.mark.family("secrets")
def test_short_secret_is_fully_masked() -> None:
    assert str(Secret("abc123")) == "****"


@pytest.mark.family("secrets")
def test_secret_cannot_be_pickled_or_json_encoded() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(KEY))
    with pytest.raises(TypeError):
        json.dumps({"k": Secret(KEY)})


@pytest.mark.family("secrets")
def test_config_repr_hides_a_literal_key() -> None:
    config = config_of(f'[backends.o]\napi_key = "{KEY}"\n')
    assert config.backends["o"].api_key == Secret(KEY)
    assert KEY not in repr(config)


@pytest.mark.family("secrets")
def test_resolved_backend_repr_and_asdict_hide_the_key() -> None:
    resolved = resolve_backend(Config(), {"OPENAI_API_KEY": KEY}).backend
    assert resolved is not None
    assert KEY not in repr(resolved)
    assert KEY not in str(dataclasses.asdict(resolved))


@pytest.mark.family("secrets")
def test_display_url_drops_credentials_and_query() -> None:
    url = f"https://user:{KEY}@example.com:8443/v1?key={KEY}"
    assert display_url(url) == "https://example.com:8443/v1"


# --- resolution --------------------------------------------------------------------

CONFIGURED = config_of(LOCAL_AND_OPENAI)


def test_nothing_configured_reports_not_configured_with_a_reason() -> None:
    result = resolve_backend(Config(), {})
    assert result.status == "not_configured"
    assert not result.ready
    assert result.backend is None
    assert result.reason is not None and "llmchat config init" in result.reason


def test_openai_api_key_alone_gives_an_implicit_openai_backend() -> None:
    result = resolve_backend(Config(), {"OPENAI_API_KEY": KEY})
    backend = result.backend
    assert backend is not None and backend.implicit
    assert (backend.name, backend.kind) == ("openai", "openai")
    assert backend.base_url == "https://api.openai.com/v1"
    assert backend.model == "gpt-4o-mini"
    assert backend.max_tokens_field == "max_completion_tokens"
    assert backend.api_key is not None and backend.api_key.reveal() == KEY
    assert backend.key_source == "environment variable OPENAI_API_KEY"


def test_openai_base_url_alone_uses_the_servers_model_and_no_key() -> None:
    result = resolve_backend(Config(), {"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1/"})
    backend = result.backend
    assert backend is not None
    assert backend.base_url == "http://127.0.0.1:8080/v1"
    assert backend.model == "default"
    assert backend.max_tokens_field == "max_tokens"
    assert backend.api_key is None


def test_openai_api_key_goes_to_openai_base_url_when_set() -> None:
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "https://openrouter.ai/api/v1"}
    backend = resolve_backend(Config(), env).backend
    assert backend is not None and backend.api_key == Secret(KEY)
    assert backend.base_url == "https://openrouter.ai/api/v1"


def test_config_file_beats_the_implicit_openai_backend() -> None:
    backend = resolve_backend(CONFIGURED, {"OPENAI_BASE_URL": "https://elsewhere.test/v1"}).backend
    assert backend is not None and backend.name == "local"


def test_llmchat_backend_beats_the_config_default() -> None:
    backend = resolve_backend(CONFIGURED, {"LLMCHAT_BACKEND": "openai"}).backend
    assert backend is not None and backend.name == "openai"


def test_cli_backend_beats_llmchat_backend() -> None:
    result = resolve_backend(
        CONFIGURED, {"LLMCHAT_BACKEND": "openai"}, CliOverrides(backend="local")
    )
    assert result.backend is not None and result.backend.name == "local"


@pytest.mark.parametrize(
    ("env", "cli", "expected"),
    [
        ({}, None, "gpt-4.1"),
        ({"LLMCHAT_MODEL": "o3"}, None, "o3"),
        ({"LLMCHAT_MODEL": "o3"}, "gpt-5", "gpt-5"),
        ({"LLMCHAT_MODEL": "  "}, None, "gpt-4.1"),
    ],
    ids=["config", "env-over-config", "cli-over-env", "blank-env-ignored"],
)
def test_model_precedence(env: dict[str, str], cli: str | None, expected: str) -> None:
    overrides = CliOverrides(backend="openai", model=cli)
    backend = resolve_backend(CONFIGURED, env, overrides).backend
    assert backend is not None and backend.model == expected


@pytest.mark.parametrize(
    ("env", "cli", "expected"),
    [
        ({}, None, "http://127.0.0.1:8080/v1"),
        ({"LLMCHAT_BASE_URL": "http://127.0.0.1:9000/v1"}, None, "http://127.0.0.1:9000/v1"),
        (
            {"LLMCHAT_BASE_URL": "http://127.0.0.1:9000/v1"},
            "http://127.0.0.1:9100/v1",
            "http://127.0.0.1:9100/v1",
        ),
    ],
    ids=["config", "env-over-config", "cli-over-env"],
)
def test_base_url_precedence(env: dict[str, str], cli: str | None, expected: str) -> None:
    backend = resolve_backend(CONFIGURED, env, CliOverrides(base_url=cli)).backend
    assert backend is not None and backend.base_url == expected


@pytest.mark.parametrize(
    ("env", "cli", "expected"),
    [
        ({}, None, "Be brief."),
        ({"LLMCHAT_SYSTEM": "Be a pirate."}, None, "Be a pirate."),
        ({"LLMCHAT_SYSTEM": "Be a pirate."}, "Be a poet.", "Be a poet."),
        ({"LLMCHAT_SYSTEM": "Be a pirate."}, "", None),
    ],
    ids=["config", "env-over-config", "cli-over-env", "empty-cli-means-none"],
)
def test_system_prompt_precedence(
    env: dict[str, str], cli: str | None, expected: str | None
) -> None:
    assert resolve_backend(CONFIGURED, env, CliOverrides(system=cli)).system_prompt == expected


def test_backend_named_openai_reaches_the_implicit_backend_when_not_configured() -> None:
    config = config_of('[backends.local]\nkind = "llamacpp"\n')
    result = resolve_backend(config, OPENAI_ENV, CliOverrides(backend="openai"))
    assert result.backend is not None and result.backend.implicit
    assert result.backend.api_key == Secret(KEY)


def test_unknown_cli_backend_is_an_error_listing_configured_ones() -> None:
    with pytest.raises(
        ResolutionError, match=r"--backend: no backend named 'remote'.*local, openai"
    ):
        resolve_backend(CONFIGURED, {}, CliOverrides(backend="remote"))


def test_unknown_llmchat_backend_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ResolutionError, match="LLMCHAT_BACKEND: no backend named 'typo'"):
        resolve_backend(CONFIGURED, {"LLMCHAT_BACKEND": "typo"})


@pytest.mark.family("config")
def test_bad_base_url_override_is_an_error_naming_its_source() -> None:
    with pytest.raises(ResolutionError, match="LLMCHAT_BASE_URL must start with http"):
        resolve_backend(CONFIGURED, {"LLMCHAT_BASE_URL": "localhost:8080"})


def test_resolved_backend_fills_max_tokens_field_and_model_by_host() -> None:
    backend = resolve_backend(CONFIGURED, {}).backend
    assert backend is not None
    assert (backend.kind, backend.model, backend.max_tokens_field) == (
        "llamacpp",
        "default",
        "max_tokens",
    )


# --- the secret rule: a key only goes to the host it was configured for --------------


@pytest.mark.family("secrets")
def test_configured_key_goes_to_its_own_host() -> None:
    result = resolve_backend(CONFIGURED, OPENAI_ENV, CliOverrides(backend="openai"))
    assert result.backend is not None and result.backend.api_key == Secret(KEY)
    assert result.notices == ()


@pytest.mark.parametrize(
    ("env", "cli", "source"),
    [
        ({}, "https://evil.test/v1", "--base-url"),
        ({"LLMCHAT_BASE_URL": "https://evil.test/v1"}, None, "LLMCHAT_BASE_URL"),
        ({}, "http://api.openai.com/v1", "--base-url"),
        ({}, "https://api.openai.com:8443/v1", "--base-url"),
    ],
    ids=["cli-new-host", "env-new-host", "https-to-http", "new-port"],
)
@pytest.mark.family("secrets")
def test_key_is_dropped_when_an_override_moves_the_backend(
    env: dict[str, str], cli: str | None, source: str
) -> None:
    result = resolve_backend(
        CONFIGURED, {**OPENAI_ENV, **env}, CliOverrides(backend="openai", base_url=cli)
    )
    assert result.backend is not None and result.backend.api_key is None
    [notice] = [n for n in result.notices if "not sent" in n]
    assert source in notice
    assert "--api-key-env" in notice
    assert "https://api.openai.com/v1" in notice


def test_key_is_kept_when_only_the_path_changes() -> None:
    overrides = CliOverrides(backend="openai", base_url="https://api.openai.com/v2")
    backend = resolve_backend(CONFIGURED, OPENAI_ENV, overrides).backend
    assert backend is not None and backend.api_key == Secret(KEY)


def test_explicit_api_key_env_sends_that_key_to_the_new_host() -> None:
    env = {**OPENAI_ENV, "GROQ_KEY": OTHER_KEY}
    overrides = CliOverrides(
        backend="openai", base_url="https://api.groq.com/openai/v1", api_key_env="GROQ_KEY"
    )
    result = resolve_backend(CONFIGURED, env, overrides)
    assert result.backend is not None and result.backend.api_key == Secret(OTHER_KEY)
    assert result.backend.key_source == "environment variable GROQ_KEY (--api-key-env)"
    assert not any("not sent" in n for n in result.notices)


def test_explicit_api_key_env_naming_an_unset_variable_is_an_error() -> None:
    with pytest.raises(ResolutionError, match="MISSING_KEY is not set"):
        resolve_backend(CONFIGURED, {}, CliOverrides(api_key_env="MISSING_KEY"))


def test_implicit_openai_key_is_not_sent_to_an_overridden_host() -> None:
    env = {**OPENAI_ENV, "LLMCHAT_BASE_URL": "http://127.0.0.1:8080/v1"}
    result = resolve_backend(Config(), env)
    assert result.backend is not None and result.backend.api_key is None
    assert any(
        "OPENAI_API_KEY is not sent to http://127.0.0.1:8080/v1" in n for n in result.notices
    )


def test_openai_api_key_is_not_given_to_a_configured_local_backend() -> None:
    backend = resolve_backend(CONFIGURED, OPENAI_ENV, CliOverrides(backend="local")).backend
    assert backend is not None and backend.api_key is None


def test_openai_api_key_serves_a_configured_openai_host_without_key_settings() -> None:
    config = config_of('[backends.oa]\nkind = "openai"\n')
    result = resolve_backend(config, OPENAI_ENV)
    assert result.backend is not None and result.backend.api_key == Secret(KEY)
    assert any('api_key_env = "OPENAI_API_KEY"' in n for n in result.notices)


def test_unset_api_key_env_gives_a_notice_and_no_key() -> None:
    result = resolve_backend(CONFIGURED, {}, CliOverrides(backend="openai"))
    assert result.backend is not None and result.backend.api_key is None
    assert any("OPENAI_API_KEY is not set" in n for n in result.notices)


def test_literal_key_is_used_when_api_key_env_is_unset() -> None:
    config = config_of(
        f'[backends.o]\nbase_url = "https://x.test/v1"\napi_key_env = "X_KEY"\napi_key = "{KEY}"\n'
    )
    backend = resolve_backend(config, {}).backend
    assert backend is not None and backend.api_key == Secret(KEY)
    assert backend.key_source == "api_key in [backends.o] of the config file"


def test_key_pasted_with_a_trailing_newline_is_trimmed() -> None:
    backend = resolve_backend(Config(), {"OPENAI_API_KEY": KEY + "\n"}).backend
    assert backend is not None and backend.api_key == Secret(KEY)


def test_key_over_plain_http_to_a_remote_host_gives_a_notice() -> None:
    config = config_of(
        f'[backends.o]\nbase_url = "http://gpu-box.lan:8000/v1"\napi_key = "{KEY}"\n'
    )
    result = resolve_backend(config, {})
    assert any("unencrypted" in n for n in result.notices)


def test_no_key_ever_appears_in_notices_errors_or_reprs() -> None:
    env = {"OPENAI_API_KEY": KEY, "GROQ_KEY": OTHER_KEY, "LLMCHAT_BASE_URL": "http://x.test/v1"}
    config = config_of(
        LOCAL_AND_OPENAI + f'\n[backends.lit]\nbase_url = "http://y.test/v1"\napi_key = "{KEY}"\n'
    )
    texts: list[str] = []
    for overrides in (
        CliOverrides(),
        CliOverrides(backend="openai"),
        CliOverrides(backend="lit"),
        CliOverrides(backend="openai", api_key_env="GROQ_KEY"),
        CliOverrides(backend="nope"),
        CliOverrides(api_key_env="UNSET"),
    ):
        try:
            result = resolve_backend(config, env, overrides)
        except ResolutionError as exc:
            texts.append(str(exc))
        else:
            texts.extend([*result.notices, repr(result), str(result)])
    for text in texts:
        for secret in (KEY, OTHER_KEY):
            assert secret not in text
            assert secret[3:-4] not in text


# --- llmchat config init -----------------------------------------------------------


def test_starter_config_parses_and_configures_no_backend_until_the_user_chooses() -> None:
    # Writing the starter file must not break what worked before it (the bundled model,
    # OPENAI_* variables): its backends are examples, commented out.
    text = starter_config_text()
    tomllib.loads(text)
    config, warnings = parse_config(text)
    assert warnings == ()
    assert config.backends == {}
    assert config.default_backend is None


def test_starter_config_examples_are_valid_once_uncommented() -> None:
    example = re.compile(r"^# (\[|[a-z_]+ = )")
    lines = [
        line[2:] if example.match(line) and "_file" not in line else line
        for line in starter_config_text().splitlines()
    ]
    config, warnings = parse_config("\n".join(lines))
    assert warnings == ()
    assert config.default_backend == "local"
    assert config.backends["local"].kind == "llamacpp"
    assert config.backends["openai"].api_key_env == "OPENAI_API_KEY"


def test_starter_config_has_no_literal_key_setting() -> None:
    # Not even in the commented examples: only api_key_env, the variable's name.
    assert re.search(r"^#? ?api_key\s*=", starter_config_text(), re.MULTILINE) is None


@posix_only
def test_starter_config_is_written_with_mode_0600(tmp_path: Path) -> None:
    written = write_starter_config(tmp_path / "cfg" / "config.toml")
    assert stat.S_IMODE(written.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.path.parent.stat().st_mode) == 0o700
    assert written.backup is None


def test_starter_config_defaults_to_the_configured_path(tmp_path: Path) -> None:
    written = write_starter_config()
    assert written.path == tmp_path / "home" / "config.toml"
    assert load_config().exists


def test_starter_config_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'theme = "mine"\n')
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(FileExistsError, match="--force"):
        write_starter_config(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_starter_config_refuses_to_overwrite_a_corrupt_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, b'theme = "unterminated\n')
    with pytest.raises(FileExistsError):
        write_starter_config(path)
    assert path.read_bytes() == b'theme = "unterminated\n'


def test_forced_starter_config_keeps_the_old_file_as_bak(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'theme = "mine"\n')
    written = write_starter_config(path, force=True)
    assert written.backup == tmp_path / "config.toml.bak"
    assert written.backup.read_bytes() == b'theme = "mine"\n'
    assert path.read_text() == starter_config_text()


def test_second_forced_init_keeps_the_first_backup(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'theme = "original"\n')
    write_starter_config(path, force=True)
    second = write_starter_config(path, force=True)
    assert (tmp_path / "config.toml.bak").read_bytes() == b'theme = "original"\n'
    assert second.backup == tmp_path / "config.toml.bak.1"


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_forced_init_through_a_symlink_replaces_the_linked_file(tmp_path: Path) -> None:
    real = write_config(tmp_path, 'theme = "mine"\n')
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    write_starter_config(link, force=True)
    assert link.is_symlink()
    assert real.read_text() == starter_config_text()
    assert (tmp_path / "config.toml.bak").read_bytes() == b'theme = "mine"\n'


def test_starter_config_never_writes_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    write_starter_config(tmp_path / "config.toml")
    for written in tmp_path.rglob("*"):
        if written.is_file():
            assert KEY.encode() not in written.read_bytes()


def test_llama_server_path_is_read_relative_to_the_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('llama_server = "bin/llama-server"\n')
    assert load_config(config_file).config.llama_server == tmp_path / "bin" / "llama-server"
