"""paths: one module names every location; nothing is created until asked."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from llmchat import paths
from llmchat.paths import AppPaths

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Point platformdirs at tmp_path too, so no test can touch the real home.
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var.lower()))
    monkeypatch.delenv(paths.ENV_HOME, raising=False)
    monkeypatch.delenv(paths.ENV_CONFIG, raising=False)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_llmchat_home_roots_every_location(tmp_path: Path) -> None:
    home = tmp_path / "portable"
    located = AppPaths.from_env({"LLMCHAT_HOME": str(home)})
    assert located == AppPaths(
        config_dir=home,
        config_file=home / "config.toml",
        data_dir=home,
        sessions_dir=home / "sessions",
        state_dir=home / "state",
        log_dir=home / "log",
        themes_dir=home / "themes",
        cache_dir=home / "cache",
    )


def test_llmchat_config_overrides_only_the_config_file(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere" / "my.toml"
    located = AppPaths.from_env({"LLMCHAT_HOME": str(home), "LLMCHAT_CONFIG": str(elsewhere)})
    assert located.config_file == elsewhere
    assert located.themes_dir == home / "themes"


def test_relative_override_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    located = AppPaths.from_env({"LLMCHAT_HOME": "rel"})
    assert located.config_dir == tmp_path / "rel"


def test_blank_override_counts_as_unset() -> None:
    assert AppPaths.from_env({"LLMCHAT_HOME": "  "}) == AppPaths.from_env({})


def test_platform_locations_use_the_app_name(tmp_path: Path) -> None:
    located = AppPaths.from_env({})
    assert located.config_dir.name == "llmchat"
    assert located.config_file == located.config_dir / "config.toml"
    assert located.sessions_dir == located.data_dir / "sessions"
    assert located.themes_dir == located.config_dir / "themes"
    assert tmp_path in located.config_dir.parents


def test_module_functions_follow_the_environment_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMCHAT_HOME", str(tmp_path / "a"))
    assert paths.sessions_dir() == tmp_path / "a" / "sessions"
    monkeypatch.setenv("LLMCHAT_HOME", str(tmp_path / "b"))
    assert paths.sessions_dir() == tmp_path / "b" / "sessions"


def test_importing_and_resolving_creates_nothing(tmp_path: Path) -> None:
    # A fresh interpreter, so the imports really run (not served from sys.modules).
    home = tmp_path / "home"
    code = (
        "import llmchat.paths, llmchat.config, llmchat.ui_state; "
        "llmchat.paths.app_paths(); llmchat.config.load_config(); "
        "llmchat.ui_state.load_ui_state()"
    )
    env = {**os.environ, "LLMCHAT_HOME": str(home)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert not home.exists()


@posix_only
def test_ensure_creates_directories_with_mode_0700(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMCHAT_HOME", str(tmp_path / "home"))
    old = os.umask(0o022)
    try:
        created = paths.ensure_sessions_dir()
    finally:
        os.umask(old)
    assert created == tmp_path / "home" / "sessions"
    assert mode_of(created) == 0o700
    assert mode_of(created.parent) == 0o700


@posix_only
def test_ensure_leaves_an_existing_directory_mode_alone(tmp_path: Path) -> None:
    existing = tmp_path / "shared"
    existing.mkdir()
    existing.chmod(0o755)
    paths.ensure_private_dir(existing)
    assert mode_of(existing) == 0o755


@pytest.mark.parametrize(
    "ensure",
    [
        paths.ensure_config_dir,
        paths.ensure_data_dir,
        paths.ensure_sessions_dir,
        paths.ensure_state_dir,
        paths.ensure_log_dir,
        paths.ensure_themes_dir,
    ],
)
def test_every_ensure_call_creates_its_directory(
    ensure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMCHAT_HOME", str(tmp_path / "home"))
    assert ensure().is_dir()


@posix_only
def test_atomic_write_creates_file_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "f.toml"
    paths.atomic_write(target, b"x = 1\n")
    assert target.read_bytes() == b"x = 1\n"
    assert mode_of(target) == 0o600


def test_atomic_write_replaces_existing_content(tmp_path: Path) -> None:
    target = tmp_path / "f.toml"
    target.write_bytes(b"old")
    paths.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"


def test_atomic_write_without_overwrite_leaves_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "f.toml"
    target.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        paths.atomic_write(target, b"theirs", overwrite=False)
    assert target.read_bytes() == b"mine"


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "f.toml"
    target.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        paths.atomic_write(target, b"theirs", overwrite=False)
    paths.atomic_write(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.toml"]
