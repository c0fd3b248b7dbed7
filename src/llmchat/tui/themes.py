"""Themes from TOML files: the ones shipped in `themes/` plus the user's own folder.

Every broken file is reported at once (with its path and what is wrong) instead of
stopping at the first, and a broken theme never stops the app from starting.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from textual.theme import Theme

from llmchat.core.safe_text import one_line

COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
)
DEFAULT_DARK = "llmchat-dark"
DEFAULT_LIGHT = "llmchat-light"


@dataclass(slots=True)
class LoadedThemes:
    themes: list[Theme] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def shipped_themes_dir() -> Path:
    """Themes inside the wheel, or the repository's `themes/` in an editable install."""
    packaged = resources.files("llmchat").joinpath("themes")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "themes"


def theme_from_toml(path: Path) -> Theme:
    """Parse one theme file; raises ValueError with a message naming what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from exc
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise ValueError("'name' must be a non-empty string")
    if not isinstance(data.get("primary"), str):
        raise ValueError("'primary' colour is required")
    colours: dict[str, str] = {}
    for key in COLOUR_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"'{key}' must be a colour string")
        colours[key] = value
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ValueError("[variables] must map names to strings")
    theme = Theme(name=name.strip(), primary=colours.pop("primary"))
    for key, value in colours.items():
        setattr(theme, key, value)
    theme.dark = bool(data.get("dark", True))
    theme.variables = dict(variables)
    try:
        theme.to_color_system()  # validates every colour string
    except Exception as exc:  # Textual raises ColorParseError and friends
        raise ValueError(f"bad colour: {exc}") from exc
    return theme


def load_themes(*folders: Path) -> LoadedThemes:
    """Load every `*.toml` theme in the folders; later folders override earlier names."""
    loaded = LoadedThemes()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                loaded.themes.append(theme_from_toml(path))
            except ValueError as exc:
                loaded.problems.append(f"theme {path}: {one_line(str(exc))}")
    return loaded
