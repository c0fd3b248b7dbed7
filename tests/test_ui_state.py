"""ui_state: remembered UI choices survive restarts; a bad file never stops the app."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from llmchat.ui_state import LoadedUiState, UiState, load_ui_state, save_ui_state


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMCHAT_HOME", str(tmp_path / "home"))


def test_state_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ui.toml"
    save_ui_state(UiState(theme="nord"), path)
    assert load_ui_state(path) == LoadedUiState(UiState(theme="nord"))


def test_default_location_is_the_state_dir(tmp_path: Path) -> None:
    written = save_ui_state(UiState(theme="gruvbox"))
    assert written == tmp_path / "home" / "state" / "ui.toml"
    assert load_ui_state().state.theme == "gruvbox"


def test_missing_file_gives_defaults_without_warnings(tmp_path: Path) -> None:
    assert load_ui_state(tmp_path / "absent.toml") == LoadedUiState(UiState())


def test_unset_theme_round_trips_as_none(tmp_path: Path) -> None:
    path = tmp_path / "ui.toml"
    save_ui_state(UiState(), path)
    assert load_ui_state(path).state == UiState()


def test_theme_name_with_quotes_and_unicode_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ui.toml"
    save_ui_state(UiState(theme='my "théme"\\x'), path)
    assert load_ui_state(path).state.theme == 'my "théme"\\x'


@pytest.mark.parametrize(
    "content",
    [b'theme = "unterminated\n', b"\xff\xfe\x00garbage", b"theme = \n", b"[[[\n"],
    ids=["unterminated-string", "binary", "missing-value", "bad-header"],
)
def test_corrupt_file_is_ignored_with_a_warning(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ui.toml"
    path.write_bytes(content)
    loaded = load_ui_state(path)
    assert loaded.state == UiState()
    assert len(loaded.warnings) == 1
    assert str(path) in loaded.warnings[0]


@pytest.mark.parametrize("content", ["theme = 5\n", 'theme = ""\n', "theme = [1]\n"])
def test_theme_of_the_wrong_shape_is_ignored_with_a_warning(tmp_path: Path, content: str) -> None:
    path = tmp_path / "ui.toml"
    path.write_text(content)
    loaded = load_ui_state(path)
    assert loaded.state.theme is None
    assert "theme ignored" in loaded.warnings[0]


def test_unknown_keys_from_a_newer_version_are_ignored_silently(tmp_path: Path) -> None:
    path = tmp_path / "ui.toml"
    path.write_text('theme = "nord"\nsidebar_width = 30\n')
    assert load_ui_state(path) == LoadedUiState(UiState(theme="nord"))


def test_saving_replaces_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "ui.toml"
    path.write_bytes(b"\x00\x01 not toml")
    save_ui_state(UiState(theme="nord"), path)
    assert load_ui_state(path).state.theme == "nord"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_file_is_private_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ui.toml"
    save_ui_state(UiState(theme="nord"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["ui.toml"]


def test_loading_never_raises_for_an_unreadable_path(tmp_path: Path) -> None:
    directory = tmp_path / "ui.toml"
    directory.mkdir()
    loaded = load_ui_state(directory)
    assert loaded.state == UiState()
    assert loaded.warnings
