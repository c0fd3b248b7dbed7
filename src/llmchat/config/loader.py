"""Reading the config file: TOML syntax, then the settings model, with located errors.

Loading only ever reads. A broken file is reported (file, line, column, key path) and
left byte-for-byte as it was: the user's edits are theirs to fix, never ours to drop.
Every problem is collected before raising, so one run shows all of them.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from llmchat import paths
from llmchat.config.errors import ConfigError, ConfigIssue
from llmchat.config.locate import KeyLocator
from llmchat.config.model import Config
from llmchat.config.validate import ConfigReader

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A config as loaded, with where it came from and what looked suspicious."""

    config: Config
    """The validated settings; ``Config()`` when there is no file."""
    path: Path
    """The file that was (or would have been) read."""
    exists: bool
    """False when there is no config file: the app runs on defaults and environment."""
    warnings: tuple[ConfigIssue, ...] = field(default=())
    """Unknown keys, a key in a readable file, …: worth showing, not worth stopping for."""

    def warning_lines(self) -> list[str]:
        """Each warning as one line, located like an error."""
        return [issue.format(self.path) for issue in self.warnings]


def load_config(path: Path | None = None, *, required: bool | None = None) -> LoadedConfig:
    """Read and validate the config file (default: ``paths.config_file()``).

    A missing file is not an error, unless it is `required`: by default, when
    ``LLMCHAT_CONFIG`` named it (a misspelt name must not silently mean "no config").
    Raises ``ConfigError`` for missing required files, unreadable files, TOML syntax
    errors and invalid settings; the file is never modified.
    """
    if path is None:
        located = paths.app_paths()
        path = located.config_file
        required = located.config_file_named if required is None else required
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read()
    except FileNotFoundError:
        if required:
            issue = ConfigIssue(
                f"no such file, but {paths.ENV_CONFIG} names it; create it with "
                f"`llmchat config init`, or correct or unset {paths.ENV_CONFIG}"
            )
            raise ConfigError(path, [issue]) from None
        return LoadedConfig(Config(), path, exists=False)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(path, [ConfigIssue(f"cannot read the config file: {reason}")]) from exc
    config, warnings = parse_config(_decode(data, path), path)
    if config.has_api_key and os.name == "posix" and mode & 0o077:
        warnings += (_readable_key_warning(path, mode),)
    return LoadedConfig(config, path, exists=True, warnings=warnings)


def parse_config(text: str, path: Path | None = None) -> tuple[Config, tuple[ConfigIssue, ...]]:
    """Validate TOML text into a ``Config``; return it with its warnings.

    ``path`` is used for messages and to resolve a relative ``model_file``.
    """
    text = text.removeprefix("\ufeff")  # Windows editors add a BOM; tomllib refuses it
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [_syntax_issue(exc, text)]) from None
    reader = ConfigReader(KeyLocator(text), base_dir=path.parent if path else None)
    config = reader.config(raw)
    if reader.errors:
        raise ConfigError(path, reader.errors)
    return config, tuple(reader.warnings)


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        issue = ConfigIssue(
            "the file is not valid UTF-8; save it as UTF-8", line=line, column=column
        )
        raise ConfigError(path, [issue]) from None


def _syntax_issue(exc: tomllib.TOMLDecodeError, text: str) -> ConfigIssue:
    """Turn tomllib's message into a located issue.

    Python 3.11–3.13 only put the position in the message text; 3.14 adds attributes.
    The offending line itself is never quoted: it may be an unterminated ``api_key``.
    """
    message = str(exc.args[0]) if exc.args else str(exc)
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None)
    if (match := _POSITION.search(message)) is not None:
        message = message[: match.start()]
        line, column = int(match.group(1)), int(match.group(2))
    elif (match := _AT_END.search(message)) is not None:
        # "End of document" would point past the last line; the culprit is the last
        # line with content (an unterminated string or array, a dangling `=`).
        message = message[: match.start()] + " at the end of the file"
        line, column = _end_of_content(text)
    if message == "Illegal character '\\n'":
        # tomllib's words for a string whose closing quote is missing on its line.
        message = "unterminated string (a closing quote is missing)"
    return ConfigIssue(f"TOML syntax error: {message}", line=line, column=column)


def _end_of_content(text: str) -> tuple[int, int]:
    lines = text.splitlines() or [""]
    for number in range(len(lines), 0, -1):
        content = lines[number - 1].rstrip()
        if content:
            return number, len(content) + 1
    return 1, 1


def _readable_key_warning(path: Path, mode: int) -> ConfigIssue:
    who = " and ".join(name for bit, name in ((0o070, "group"), (0o007, "others")) if mode & bit)
    return ConfigIssue(
        f"the file holds an API key but is readable by {who} "
        f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
    )
