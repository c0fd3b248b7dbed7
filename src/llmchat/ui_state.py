"""Small remembered UI state (the theme last picked; more later), kept between runs.

It lives in the state dir as TOML. It is convenience, not data: a corrupt or
unreadable file is ignored with a warning and the app starts on defaults, and every
save replaces the whole file atomically so a crash never leaves half a file behind.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from llmchat import paths


@dataclass(frozen=True, slots=True)
class UiState:
    """What the UI remembers between runs. Every field is optional."""

    theme: str | None = None
    """Name of the theme last picked; None: the config's theme or the default."""


@dataclass(frozen=True, slots=True)
class LoadedUiState:
    """The state read from disk, with any reason it had to be (partly) ignored."""

    state: UiState
    """The remembered state; ``UiState()`` when there is none or it was unreadable."""
    warnings: tuple[str, ...] = field(default=())
    """One line each, naming the file; never fatal."""


def load_ui_state(path: Path | None = None) -> LoadedUiState:
    """Read the UI state (default: ``paths.ui_state_file()``); never raises for bad files."""
    path = paths.ui_state_file() if path is None else path
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return LoadedUiState(UiState())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return LoadedUiState(UiState(), (f"{path}: UI state ignored ({reason})",))
    warnings: list[str] = []
    theme = data.get("theme")
    if theme is not None and not (isinstance(theme, str) and theme.strip()):
        warnings.append(f"{path}: theme ignored (expected a theme name)")
        theme = None
    # Unknown keys are skipped silently: a newer llmchat may have written them.
    return LoadedUiState(UiState(theme=theme), tuple(warnings))


def save_ui_state(state: UiState, path: Path | None = None) -> Path:
    """Write ``state`` atomically (mode 0600); return the path written.

    Raises ``OSError`` if the state dir cannot be written; callers should report it
    and carry on, since losing UI state costs the user nothing important.
    """
    if path is None:
        paths.ensure_state_dir()
        path = paths.ui_state_file()
    else:
        paths.ensure_private_dir(path.parent)
    values = {"theme": state.theme} if state.theme is not None else {}
    paths.atomic_write(path, tomli_w.dumps(values).encode("utf-8"))
    return path
