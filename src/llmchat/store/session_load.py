"""Reading a session file back: header, parameters, title and messages, whatever the damage.

Each line is decoded by `session_format` (after upgrading it from the version the file
declares) and folded here into a session: later records win, and a streaming reply's
checkpoints with no final record become one reply marked interrupted.

Loading never raises for what is inside the file. Every line that cannot be used -- torn by
a crash, not JSON, not a record, a record of the wrong shape -- is skipped and reported in
`LoadedSession.warnings` with its line number, and everything else loads. Records of a
`type` this version does not know are skipped quietly, so newer files still open. Only a
file that cannot be read at all raises (`SessionUnreadable`).
"""

from __future__ import annotations

import codecs
import gc
import json
import os
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmchat.core.backend_record import BackendRecord
from llmchat.core.messages import Message, Role, Status, new_id
from llmchat.core.params import SamplingParams
from llmchat.core.records import (
    BackendChanged,
    BranchChosen,
    CostKnown,
    ParamsChanged,
    Record,
    ReplyCheckpoint,
    SessionHeader,
    SessionInfo,
    SystemChanged,
    TitleChanged,
)
from llmchat.store.errors import SessionUnreadable
from llmchat.store.session_file import parse_session_filename
from llmchat.store.session_format import (
    CURRENT_VERSION,
    BadRecord,
    detail,
    from_json,
    sound_line,
    upgrade,
    version_of,
)

UTF8_BOM = codecs.BOM_UTF8
KEPT_SYSTEM_PROMPTS = 64
"""The system prompts kept from a file, its latest ones: each can be long and a file may
hold thousands; a turn sent before the oldest kept is told as not known."""


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
    version: int = CURRENT_VERSION
    """The format the file's last records were written in (its header's, or a later
    `format` record's); a writer continuing an older file says it writes a newer one."""
    leaf: str | None = None
    """The branch the user last chose (the message the next turn follows), if any."""
    system_changes: tuple[SystemChanged, ...] = ()
    """The header's system prompt (at the session's start), then each later one, in the
    file's order; only the last KEPT_SYSTEM_PROMPTS."""

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
    # Editors on Windows (and PowerShell's redirection) put a byte order mark before the
    # first line; it is not part of the header, which must still be read as one.
    lines = data.removeprefix(UTF8_BOM).split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline, as a sound file does
    # Reading keeps several objects per line, so each run of the cyclic collector during
    # it would walk the growing session again (up to 0.2 s a run for 50 MB, a third of
    # the load). Nothing read can form a cycle, so the collector waits until the end (for
    # the whole process: a picker reading in a worker thread delays the main thread's
    # collections as long, which costs only memory, for a moment).
    collecting = gc.isenabled()
    gc.disable()
    try:
        for number, raw in enumerate(lines, start=1):
            reader.read_line(number, raw, is_tail=False)
        if tail:
            reader.read_line(len(lines) + 1, tail, is_tail=True)
    finally:
        if collecting:
            gc.enable()
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


class LineDecoder:
    """A line's JSON value, or (None, why it is not JSON), exactly as `json_value` says.

    msgspec reads a sound line about twice as fast as the json module, and reads what json
    reads, or refuses it (NaN, a lone surrogate's escape, an integer of 4,301 digits,
    anything malformed); what it refuses goes to `json_value`, so the values read and the
    reasons given for a bad line are json's."""

    def __init__(self) -> None:
        import msgspec  # here: only reading a file needs it

        self._fast = msgspec.json.Decoder().decode
        self._refused = msgspec.DecodeError

    def __call__(self, raw: bytes) -> tuple[Any, str | None]:
        try:
            return self._fast(raw), None
        except (self._refused, RecursionError):
            return json_value(raw)


def json_value(raw: bytes) -> tuple[Any, str | None]:
    """A line's JSON value as the json module reads it, or (None, why it is not JSON)."""
    try:
        return json.loads(raw.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except (ValueError, RecursionError) as exc:
        # Huge integers and absurdly deep nesting are refused by the decoder itself.
        return None, f"not valid JSON ({detail(str(exc) or type(exc).__name__)})"


@dataclass(slots=True)
class _Checkpoints:
    """A reply's checkpoints so far, and where in the history its first one came."""

    parent: str | None
    ts: str
    position: int
    parts: list[str] = field(default_factory=list)


class _Reader:
    """Folds the lines of one file, in order, into a session; later records win."""

    def __init__(self, fallback: SessionInfo, fallback_source: str) -> None:
        self._decode = LineDecoder()
        self._fallback = fallback
        self._fallback_source = fallback_source
        self._info: SessionInfo | None = None
        self._params = SamplingParams()
        self._title: str | None = None
        self._system: str | None = None
        self._systems: deque[SystemChanged] = deque(maxlen=KEPT_SYSTEM_PROMPTS)
        self._backend: BackendRecord | None = None
        self._leaf: str | None = None
        self._messages: list[Message] = []
        self._ids: set[str] = set()
        self._checkpoints: dict[str, _Checkpoints] = {}
        self._version = 1  # until a header says otherwise: files without one are old
        self._records = 0
        self.warnings: list[str] = []

    def _warn(self, number: int, text: str) -> None:
        self.warnings.append(f"line {number}: {text}")

    def read_line(self, number: int, raw: bytes, *, is_tail: bool) -> None:
        if self._version >= CURRENT_VERSION:
            sound = sound_line(raw)  # nearly every line of a long session: see there
            if sound is not None:
                self._fold(number, sound)
                return
        if not raw or raw.isspace():
            return  # a blank line carries nothing and harms nothing
        value, problem = self._decode(raw)
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
        if kind == "format":
            self._version = version_of(value)
            return
        if kind == "session":
            if self._info is not None:
                self._warn(number, "a second session header; ignored")
                return
            self._version = version_of(value)
            if self._version > CURRENT_VERSION:
                self._warn(
                    number,
                    f"written by a newer llmchat (format v{self._version}); "
                    "what it added is ignored",
                )

        def warn(text: str) -> None:
            self._warn(number, text)

        for current in upgrade(value, self._version):
            try:
                record = from_json(current, warn, fallback=self._fallback, params=self._params)
            except BadRecord as exc:
                warn(f"{exc}; skipped")
                continue
            if record is not None:  # None: a type from a newer version, skipped quietly
                self._fold(number, record)

    def _fold(self, number: int, record: Record) -> None:
        match record:
            # Messages and their prices first: they are nearly every line of a long file.
            case Message():
                if not self._add_message(number, record):
                    return
                # A message is written on the thread shown, after any branch choice: the
                # session reopens on it (a choice holds only until the next message).
                self._leaf = None
            case CostKnown():
                if not self._cost(number, record):
                    return
            case SessionHeader(info=info, params=params):
                self._info, self._params, self._title = info, params, info.title
                # A header after `system` records (a damaged or hand-made file) does not
                # say which prompt came first: it is not counted as the first.
                if self._system is None:
                    self._systems.appendleft(SystemChanged(info.system, info.created))
                return  # a header is not counted: a file of only a header holds nothing
            case ParamsChanged(params=params):
                self._params = params
            case TitleChanged(title=title):
                self._title = title
            case SystemChanged(system=system):
                self._system = system
                self._systems.append(record)
            case BackendChanged(backend=backend):
                self._backend = backend
            case ReplyCheckpoint():
                self._checkpoint(record)
            case BranchChosen(leaf=leaf):
                self._leaf = leaf
        self._records += 1

    def _add_message(self, number: int, message: Message) -> bool:
        if message.id in self._ids:
            # Only a failed rollback after a failed write can repeat a record; keep the first.
            self._warn(number, f"message {detail(message.id)!r} appears again; skipped")
            return False
        parent = message.parent
        if parent is not None and parent not in self._ids and parent not in self._checkpoints:
            # llmchat writes a parent before its children: a parent not seen yet (missing,
            # the message itself, a loop) is a damaged or hand-made file (a reply cut by a
            # crash is known by its checkpoints). Following on
            # from the message before keeps one readable thread and makes loops impossible.
            before = self._messages[-1].id if self._messages else None
            self._warn(
                number,
                f"message {detail(message.id)!r} names an unknown parent "
                f"{detail(parent)!r}; it follows the message before it",
            )
            message.parent = before
        # The final record of a checkpointed reply supersedes its checkpoints.
        self._checkpoints.pop(message.id, None)
        self._ids.add(message.id)
        self._messages.append(message)
        return True

    def _cost(self, number: int, record: CostKnown) -> bool:
        """A reply's price, written once it was known (after the reply itself)."""
        for message in reversed(self._messages):
            if message.id == record.id:
                message.cost_usd = record.cost_usd
                return True
        self._warn(number, f"cost for an unknown message {detail(record.id)!r}; skipped")
        return False

    def _checkpoint(self, record: ReplyCheckpoint) -> None:
        if record.id in self._ids:
            return  # the reply's final record came first: nothing to add to it
        saved = self._checkpoints.get(record.id)
        if saved is None:
            saved = _Checkpoints(record.parent, record.ts, len(self._messages))
            self._checkpoints[record.id] = saved
        saved.parts.append(record.text)

    def _interrupted(self) -> None:
        """Checkpoints without a final record: the reply as far as it was saved."""
        # Last first, so each insertion leaves the earlier positions where they were.
        for reply_id, saved in sorted(
            self._checkpoints.items(), key=lambda item: item[1].position, reverse=True
        ):
            message = Message(
                role=Role.ASSISTANT,
                content="".join(saved.parts),
                id=reply_id,
                parent=saved.parent,
                ts=saved.ts or self._fallback.created,
                status=Status.INTERRUPTED,
            )
            self._messages.insert(saved.position, message)
            self._ids.add(reply_id)
            if self._leaf is not None and self._leaf == saved.parent:
                self._leaf = reply_id  # the reply was streaming on the branch chosen

    def result(self, path: Path) -> LoadedSession:
        self._interrupted()
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
        if self._system is not None:
            info.system = self._system
        if self._backend is not None:
            info.use_backend(self._backend)
        return LoadedSession(
            path=path,
            info=info,
            params=self._params,
            messages=self._messages,
            warnings=self.warnings,
            has_header=has_header,
            version=self._version,
            # A choice of a message that did not load (a damaged file) is no choice.
            leaf=self._leaf if self._leaf in self._ids else None,
            system_changes=tuple(self._systems),
        )
