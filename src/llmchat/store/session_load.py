"""Reading a session file back: header, parameters, title and messages, whatever the damage.

Loading never raises for what is inside the file. Every line that cannot be used -- torn by
a crash, not JSON, not a record, a record of the wrong shape -- is skipped and reported in
`LoadedSession.warnings` with its line number, and everything else loads. Records of a
`type` this version does not know are skipped quietly, so newer files still open. Only a
file that cannot be read at all raises (`SessionUnreadable`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmchat.core.backend_record import BackendRecord
from llmchat.core.conversation import SessionInfo
from llmchat.core.messages import Message, new_id
from llmchat.core.params import SamplingParams
from llmchat.store.errors import SessionUnreadable
from llmchat.store.session_file import parse_session_filename

FORMAT_VERSION = 1
_DETAIL_LIMIT = 120
"""Warnings quote what was wrong, but a 1 MB bad value must not become a 1 MB warning."""


@dataclass(frozen=True, slots=True)
class LoadedSession:
    """Everything a session file says, plus what had to be skipped to say it."""

    path: Path
    info: SessionInfo
    """The header (or what the file name tells, without one); `title` is the latest title."""
    params: SamplingParams
    """The header's parameters as changed by every later `params` record."""
    messages: list[Message]
    warnings: list[str]
    """One line per skipped or doubtful line, naming its line number."""
    has_header: bool

    @property
    def title(self) -> str:
        return self.info.title


def load_session(path: str | os.PathLike[str]) -> LoadedSession:
    """Read a session file. Raises `SessionUnreadable` only if the file cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise SessionUnreadable(
            f"cannot read the session file {path}: {exc.strerror or exc}"
        ) from exc
    fallback, source = _info_from_name(path, mtime)
    return parse_session(data, path, fallback=fallback, fallback_source=source)


def parse_session(
    data: bytes, path: Path, *, fallback: SessionInfo, fallback_source: str = "made up"
) -> LoadedSession:
    """Parse a session file's bytes; `fallback` (from `fallback_source`) replaces a lost header."""
    reader = _Reader(fallback, fallback_source)
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline, as a sound file does
    for number, raw in enumerate(lines, start=1):
        reader.read_line(number, raw, is_tail=False)
    if tail:
        reader.read_line(len(lines) + 1, tail, is_tail=True)
    return reader.result(path)


def _info_from_name(path: Path, mtime: float) -> tuple[SessionInfo, str]:
    parsed = parse_session_filename(path.name)
    if parsed is not None:
        created, session_id = parsed
        return SessionInfo(id=session_id, created=_iso(created)), "taken from the file name"
    created_at = _iso(datetime.fromtimestamp(mtime, UTC))
    return SessionInfo(id=new_id(), created=created_at), "made up (a new id, the file's time)"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _detail(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


class _Reader:
    """Folds the lines of one file, in order, into a session; later records win."""

    def __init__(self, fallback: SessionInfo, fallback_source: str) -> None:
        self._fallback = fallback
        self._fallback_source = fallback_source
        self._info: SessionInfo | None = None
        self._params = SamplingParams()
        self._title: str | None = None
        self._messages: list[Message] = []
        self._ids: set[str] = set()
        self._records = 0
        self.warnings: list[str] = []
        self._handlers: dict[str, Callable[[int, dict[str, Any]], None]] = {
            "session": self._header,
            "message": self._message,
            "params": self._params_record,
            "title": self._title_record,
            "cost": self._cost_record,
            "backend": self._backend_record,
        }
        self._backend: BackendRecord | None = None

    def _warn(self, number: int, text: str) -> None:
        self.warnings.append(f"line {number}: {text}")

    def read_line(self, number: int, raw: bytes, *, is_tail: bool) -> None:
        if not raw.strip():
            return  # a blank line carries nothing and harms nothing
        value: Any = None
        problem = None
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            problem = "not UTF-8 text"
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg} at column {exc.colno})"
        except (ValueError, RecursionError) as exc:
            # Huge integers and absurdly deep nesting are refused by the decoder itself.
            problem = f"not valid JSON ({_detail(str(exc) or type(exc).__name__)})"
        if problem is not None:
            if is_tail:
                self._warn(
                    number,
                    f"the last record is incomplete ({len(raw)} bytes, probably cut off "
                    "by a crash while it was being written); skipped",
                )
            else:
                self._warn(number, f"{problem}; skipped")
            return
        if not isinstance(value, dict):
            self._warn(number, "not a record (a JSON object); skipped")
            return
        kind = value.get("type")
        if not isinstance(kind, str):
            self._warn(number, "record has no type; skipped")
            return
        handler = self._handlers.get(kind)
        if handler is not None:  # unknown types come from newer versions: skip quietly
            handler(number, value)

    def _header(self, number: int, record: dict[str, Any]) -> None:
        if self._info is not None:
            self._warn(number, "a second session header; ignored")
            return
        wrong: list[str] = []

        def text(key: str, default: str) -> str:
            value = record.get(key, default)
            if isinstance(value, str):
                return value
            wrong.append(key)
            return default

        def optional_text(key: str) -> str | None:
            value = record.get(key)
            if value is None or isinstance(value, str):
                return value
            wrong.append(key)
            return None

        fallback = self._fallback
        self._info = SessionInfo(
            id=text("id", fallback.id) or fallback.id,
            created=text("created", fallback.created) or fallback.created,
            title=text("title", ""),
            backend=optional_text("backend"),
            model=optional_text("model"),
            system=text("system", ""),
            forked_from=optional_text("forked_from"),
            kind=optional_text("kind"),
            base_url=optional_text("base_url"),
            model_file=optional_text("model_file"),
        )
        params = record.get("params")
        if params is not None and not isinstance(params, dict):
            wrong.append("params")
        self._params = SamplingParams.from_dict(params)
        self._title = self._info.title
        if wrong:
            fields = ", ".join(wrong)
            self._warn(number, f"session header has the wrong type for {fields}; defaults used")
        version = record.get("v")
        if isinstance(version, int) and version > FORMAT_VERSION:
            self._warn(
                number,
                f"written by a newer llmchat (format v{version}); what it added is ignored",
            )

    def _message(self, number: int, record: dict[str, Any]) -> None:
        try:
            message = Message.from_record(record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._warn(number, f"{_detail(str(exc))}; skipped")
            return
        if message.id in self._ids:
            # Only a failed rollback after a failed write can repeat a record; keep the first.
            self._warn(number, f"message {_detail(message.id)!r} appears again; skipped")
            return
        self._ids.add(message.id)
        self._messages.append(message)
        self._records += 1

    def _params_record(self, number: int, record: dict[str, Any]) -> None:
        params = record.get("params")
        if not isinstance(params, dict):
            self._warn(number, "params record without parameters; skipped")
            return
        self._params = SamplingParams.from_dict(params)
        self._records += 1

    def _cost_record(self, number: int, record: dict[str, Any]) -> None:
        """A reply's price, written once it was known (after the reply itself)."""
        target, cost = record.get("id"), record.get("cost_usd")
        if not isinstance(cost, int | float) or isinstance(cost, bool):
            self._warn(number, "cost record without a number; skipped")
            return
        for message in reversed(self._messages):
            if message.id == target:
                message.cost_usd = float(cost)
                self._records += 1
                return
        self._warn(number, f"cost for an unknown message {_detail(str(target))!r}; skipped")

    def _backend_record(self, number: int, record: dict[str, Any]) -> None:
        """The session went on with another backend (written when it moved)."""
        values = [record.get(key) for key in BackendRecord.FIELDS]
        if not all(value is None or isinstance(value, str) for value in values):
            self._warn(number, "backend record with a value that is not text; skipped")
            return
        self._backend = BackendRecord(*values)
        self._records += 1

    def _title_record(self, number: int, record: dict[str, Any]) -> None:
        title = record.get("title")
        if not isinstance(title, str):
            self._warn(number, "title record without a text title; skipped")
            return
        self._title = title
        self._records += 1

    def result(self, path: Path) -> LoadedSession:
        info = self._info
        has_header = info is not None
        if info is None:
            info = self._fallback
            if self._records or self.warnings:
                self.warnings.insert(
                    0, f"no session header; id and start time {self._fallback_source}"
                )
        if self._title is not None:
            info.title = self._title
        if self._backend is not None:
            info.use_backend(self._backend)
        return LoadedSession(
            path=path,
            info=info,
            params=self._params,
            messages=self._messages,
            warnings=self.warnings,
            has_header=has_header,
        )
