"""A config file named by LLMCHAT_CONFIG must exist: a typo is an error, not "no config"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmchat.config import ConfigError, load_config

pytestmark = pytest.mark.family("config")


def llmchat(*args: str, home: Path, config: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    environment.update(LLMCHAT_HOME=str(home), LLMCHAT_CONFIG=str(config))
    return subprocess.run(
        [sys.executable, "-m", "llmchat", *args],
        input="",
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_a_missing_file_named_by_llmchat_config_is_an_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = home / "nonexistent.toml"
    monkeypatch.setenv("LLMCHAT_CONFIG", str(missing))
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert raised.value.path == missing
    assert "LLMCHAT_CONFIG" in str(raised.value) and "config init" in str(raised.value)


def test_the_default_config_file_may_be_missing(home: Path) -> None:
    loaded = load_config()
    assert not loaded.exists


def test_print_mode_with_a_missing_llmchat_config_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.toml"
    result = llmchat("-p", "hi", home=tmp_path / "home", config=missing)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert str(missing) in line and "LLMCHAT_CONFIG" in line
    assert "Traceback" not in result.stderr


def test_config_path_and_init_accept_a_missing_llmchat_config(tmp_path: Path) -> None:
    missing = tmp_path / "new" / "llmchat.toml"
    shown = llmchat("config", "path", home=tmp_path / "home", config=missing)
    assert (shown.returncode, shown.stdout.strip()) == (0, str(missing))
    made = llmchat("config", "init", home=tmp_path / "home", config=missing)
    assert made.returncode == 0, made.stderr
    assert missing.is_file()
