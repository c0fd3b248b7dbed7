"""The writer for one session file: its name, its creation, its lock and every append.

A session file is JSONL: one JSON object per line, each line pure ASCII (`ensure_ascii`),
so any text the user or a model produces -- control characters, NUL, ESC, `\\r`, lone
surrogates -- is escaped inside the line and can never split a record or upset a reader.
Each append is one `write` of one whole line followed by `fsync`, so a crash leaves at
worst one torn last line, which the reader reports and the next append steps past.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from llmchat.core.conversation import RecordSinkLost
from llmchat.core.records import Record, SessionInfo
from llmchat.paths import ensure_private_dir
from llmchat.store.errors import SessionLocked
from llmchat.store.session_format import CURRENT_VERSION, format_mark_to_json, to_json

SESSION_SUFFIX = ".jsonl"
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# Ids become part of a file name: anything that could climb out of the directory, or not
# fit in a name, is refused rather than silently rewritten into a different id.
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_FILE_NAME = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)-(?P<id>[A-Za-z0-9_-]{1,200})\.jsonl")


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One record as exactly one line of ASCII, newline included."""
    try:
        text = json.dumps(record, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        # NaN and Infinity are not JSON (a tok/s of 0/0, say); other readers would reject
        # the whole line, so they are stored as null, which every field here accepts.
        text = json.dumps(_finite(record), ensure_ascii=True, separators=(",", ":"))
    return text.encode("ascii") + b"\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def session_filename(info: SessionInfo) -> str:
    """`<created as YYYYMMDDTHHMMSSZ>-<id>.jsonl`: sorts by creation, names the id."""
    if not _SAFE_ID.fullmatch(info.id):
        raise ValueError(f"session id {info.id!r} cannot be used in a file name")
    return f"{_stamp(info.created)}-{info.id}{SESSION_SUFFIX}"


def parse_session_filename(name: str) -> tuple[datetime, str] | None:
    """The creation time and id a session file's name carries, or None for other names."""
    match = _FILE_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        created = datetime.strptime(match["stamp"], _STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return created, match["id"]


def _stamp(created: str) -> str:
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        when = datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime(_STAMP_FORMAT)


class SessionFile:
    """Appends records to one session file while holding its exclusive lock.

    Implements the core `RecordSink` protocol. Open one with `SessionFile.create` (a new
    session) or `SessionFile(path)` (continue an existing file). A second writer on the
    same file, in this process or another, gets `SessionLocked`. Close it (or use it as a
    context manager) to release the lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self.path = Path(path)
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        if create:
            ensure_private_dir(self.path.parent)
            # O_EXCL: a new session must never append to somebody else's file.
            flags |= os.O_CREAT | os.O_EXCL
        fd = os.open(self.path, flags, 0o600)
        try:
            if create:
                # The umask can only narrow the mode; set it exactly, whatever the umask.
                os.fchmod(fd, 0o600)
                _sync_directory(self.path.parent)
            _lock(fd, self.path)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        self._older_format = False
        self._size = os.fstat(fd).st_size
        """How long the file was after our last write: shorter now means cut short."""

    def continues(self, version: int) -> None:
        """The file so far is in format `version`. If that is older than this llmchat's,
        the first append says (with a `format` record) that what follows is newer."""
        self._older_format = version < CURRENT_VERSION

    @classmethod
    def create(cls, sessions_dir: str | os.PathLike[str], info: SessionInfo) -> Self:
        """A new, empty session file for `info` in `sessions_dir` (created 0700 if missing)."""
        return cls(Path(sessions_dir) / session_filename(info), create=True)

    @property
    def closed(self) -> bool:
        return self._fd is None

    def append(self, record: Record) -> None:
        """Write one record as one line (see `session_format`) and fsync it.

        On any failure (disk full, short write, I/O error) the file is cut back to its
        size before this call, so no half record is left behind, and the OSError is
        raised for the caller to keep the record and retry.
        """
        fd = self._fd
        if fd is None:
            raise OSError(errno.EBADF, f"the session file {self.path.name} is closed")
        self._check_in_place(fd)
        line = encode_record(to_json(record))
        if self._older_format:
            line = encode_record(format_mark_to_json()) + line
        size = os.fstat(fd).st_size
        # Checked on every append, not only at open: a crash, or a failed truncate after a
        # failed write, may have left a line without its newline.
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        try:
            # One write of the whole line (no userspace buffer, so nothing to flush).
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(
                    errno.EIO,
                    f"only {written} of {len(line)} bytes could be written (is the disk full?)",
                )
            self._sync(fd)
            self._older_format = False
            self._size = size + len(line)
        except OSError:
            # If even this fails, the tail check above keeps the next record on its own line.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise

    def _check_in_place(self, fd: int) -> None:
        """Raise RecordSinkLost if the path no longer leads to our file, or our file lost
        what we wrote: a deleted or moved file takes appends without a word, and they are
        gone when llmchat exits. One stat per record, next to an fsync."""
        ours = os.fstat(fd)
        try:
            there = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            there = None
        except OSError:
            return  # cannot look (a folder made unreadable): the append will tell
        if there is None or not stat.S_ISREG(there.st_mode):
            why = "was deleted or moved away"
        elif (there.st_dev, there.st_ino) != (ours.st_dev, ours.st_ino):
            why = "was replaced by another file"
        elif ours.st_size < self._size:
            why = "was cut short"
        else:
            return
        raise RecordSinkLost(
            f"the session file {self.path} {why} while llmchat had it open", self.restore
        )

    def restore(self, records: Iterable[Record]) -> None:
        """Write `records` as a new file at this file's path, and go on with that one.

        Atomic: a temp file in the same folder, fsynced and locked, then renamed over the
        path, so a reader never sees half of it and no second writer can take it."""
        ensure_private_dir(self.path.parent)
        data = b"".join(encode_record(to_json(record)) for record in records)
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            self._sync(fd)
            _lock(fd, self.path)
            os.replace(temp, self.path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _sync_directory(self.path.parent)
        old, self._fd = self._fd, fd
        if old is not None:
            os.close(old)
        self._size, self._older_format = len(data), False

    def _sync(self, fd: int) -> None:
        """Make the appended line durable. A seam for tests that need fsync to fail."""
        os.fsync(fd)

    def close(self) -> None:
        """Release the lock and the file. Closing twice is harmless."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<SessionFile {str(self.path)!r} {state}>"


def write_session_copy(path: str | os.PathLike[str], records: Iterable[Record]) -> Path:
    """A new session file at `path` holding `records` (a conversation's `snapshot()`), for
    saving elsewhere what its own file would not take. Never overwrites a file (O_EXCL);
    on any failure nothing is left at `path`. Returns the path written."""
    path = Path(path)
    data = b"".join(encode_record(to_json(record)) for record in records)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    _sync_directory(path.parent)
    return path


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise SessionLocked(
            f"another llmchat has the session {path.name} open for writing; "
            "close it there first, or wait for it to exit"
        ) from exc


def _sync_directory(directory: Path) -> None:
    """Make a new file's name durable too, not only its contents.

    Best effort: some filesystems refuse to fsync a directory, and that must not stop a
    session from being created (each record is still fsynced).
    """
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
