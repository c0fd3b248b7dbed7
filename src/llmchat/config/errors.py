"""What can be wrong with a config, said precisely: file, line, column, key path.

No message built here ever includes a configured value that could be a secret; values
are described by their TOML type, and URLs are shown without credentials or query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmchat.core.safe_text import visible

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_path(parts: Sequence[str]) -> str:
    """``("backends", "my.box", "model")`` → ``backends."my.box".model``, as TOML spells it."""
    return ".".join(p if _BARE_KEY.fullmatch(p) else _quote(p) for p in parts)


def _quote(part: str) -> str:
    escaped = part.replace("\\", "\\\\").replace('"', '\\"')
    # A key may hold any character (`"\u001b]0;x\u0007" = 1` is valid TOML): those that
    # would act on the terminal are spelt as TOML escapes, which is also how to find them.
    return '"' + "".join(_toml_escape(c) if _unsafe(c) else c for c in escaped) + '"'


def _unsafe(char: str) -> bool:
    return char in "\n\t\u2028\u2029" or visible(char) != char


def _toml_escape(char: str) -> str:
    return f"\\u{ord(char):04X}"  # every character `visible` changes is in the BMP


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One thing wrong (an error) or suspicious (a warning) in a config file."""

    message: str
    """What is wrong and, where it helps, what to do; never a secret value."""
    key: str | None = None
    """Dotted TOML key path (``backends.local.kind``); None for syntax errors."""
    line: int | None = None
    """1-based line in the file, when known."""
    column: int | None = None
    """1-based column, when known (syntax errors)."""

    def format(self, path: Path | None = None) -> str:
        """One line, compiler style: ``config.toml:3:7: backends.x.kind: message``."""
        where = str(path) if path is not None else "<config>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        subject = f"{self.key}: " if self.key else ""
        return f"{where}: {subject}{self.message}"


class ConfigError(Exception):
    """The config cannot be used. Carries every problem found, the first one foremost.

    The file is left exactly as it was: fixing it is the user's call.
    """

    def __init__(self, path: Path | None, issues: Sequence[ConfigIssue]) -> None:
        if not issues:
            raise ValueError("ConfigError needs at least one issue")
        self.path = path
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        super().__init__(self.__str__())

    @property
    def message(self) -> str:
        return self.issues[0].message

    @property
    def key(self) -> str | None:
        return self.issues[0].key

    @property
    def line(self) -> int | None:
        return self.issues[0].line

    @property
    def column(self) -> int | None:
        return self.issues[0].column

    def __str__(self) -> str:
        return "\n".join(issue.format(self.path) for issue in self.issues)

    def __repr__(self) -> str:
        return f"ConfigError({self.path!r}, {self.issues!r})"


class ResolutionError(Exception):
    """The requested backend cannot be set up (unknown name, bad override URL, …).

    Raised for a request the user made explicitly (``--backend``, ``LLMCHAT_BACKEND``),
    where guessing would hide a typo.
    """
