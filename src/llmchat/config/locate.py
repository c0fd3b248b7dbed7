"""Find the line a TOML key was written on, so errors can say ``config.toml:12``.

tomllib returns plain dicts with no positions, so this scans the text for table
headers and ``key =`` lines. It understands what config files actually contain
(tables, dotted and quoted keys, multi-line strings); anything it cannot place
(inline tables, arrays of tables) falls back to the nearest enclosing table, or to no
line at all. A missing line number is a smaller harm than a wrong one.
"""

from __future__ import annotations

import re
import tomllib

_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"\[\s*({_DOTTED_KEY})\s*\]")
_ASSIGNMENT = re.compile(rf"({_DOTTED_KEY})\s*=")
_PART = re.compile(_KEY_PART)


class KeyLocator:
    """Maps key paths (``("backends", "local", "model")``) to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_multiline: str | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if in_multiline is not None:
                # A `key = ` inside a multi-line string is text, not a key.
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            if not line or line.startswith("#"):
                continue
            if line.startswith("[["):
                table = ()  # arrays of tables: not part of llmchat's model
                continue
            if (header := _HEADER.match(line)) is not None:
                table = _split(header.group(1))
                self._remember(table, number)
                continue
            if (assignment := _ASSIGNMENT.match(line)) is not None:
                self._remember((*table, *_split(assignment.group(1))), number)
                rest = line[assignment.end() :]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_multiline = quote
                        break

    def _remember(self, parts: tuple[str, ...], number: int) -> None:
        # The first mention wins: it is where the key (or table) was introduced.
        for size in range(1, len(parts) + 1):
            self._lines.setdefault(parts[:size], number)

    def line_of(self, parts: tuple[str, ...]) -> int | None:
        """The line of ``parts``, else of its nearest enclosing table, else None."""
        for size in range(len(parts), 0, -1):
            if (line := self._lines.get(parts[:size])) is not None:
                return line
        return None


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(_unquote(match.group(0)) for match in _PART.finditer(dotted))


def _unquote(part: str) -> str:
    if part[0] not in "\"'":
        return part
    # Let tomllib read the quoted key, escapes and all, exactly as it read the file.
    try:
        return str(tomllib.loads(f"k = {part}")["k"])
    except tomllib.TOMLDecodeError:
        return part[1:-1]
